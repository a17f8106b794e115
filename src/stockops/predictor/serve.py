"""Process edges of the predictor: the container entrypoint's runner and `stockops serve TICKER`.

KServe parses ``sys.argv`` when it is first imported (module-level argparse in ``kserve.model_server``),
so our own flags would be read as KServe's; `isolated_argv` hides them while KServe is imported.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from stockops.config import Settings
from stockops.predictor.settings import PredictorSettings
from stockops.quiet import quiet_third_party


@contextmanager
def isolated_argv() -> Iterator[None]:
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


def run(predictor: PredictorSettings, settings: Settings) -> None:
    """Start the model server for ``predictor.model_name``; blocks until the process is told to stop.

    A model that fails to load leaves the server up and not ready (retrying), as a pod should be.
    """
    quiet_third_party(verbose=settings.verbose)
    with isolated_argv():
        from stockops.predictor.loading import load_forecaster
        from stockops.predictor.model import StockForecastModel
        from stockops.predictor.server import run_model_server

    if not predictor.model_name:
        raise SystemExit("no model to serve: set STOCKOPS_MODEL_NAME or pass --model-name")
    model = StockForecastModel(predictor.model_name, lambda: load_forecaster(predictor, settings))
    run_model_server(model, predictor)


def serve(ticker: str, port: int, settings: Settings, *, host: str = "127.0.0.1") -> None:
    """Serve the production version of ``ticker`` from the configured (default: local) registry.

    For the quick start: fails fast with the load error instead of waiting not-ready, and works without
    Redis (the cache is skipped, with a note). Raises `PredictorLoadError` when nothing can be served.
    """
    from stockops.registry.naming import PRODUCTION_ALIAS, registered_model_name

    quiet_third_party(verbose=settings.verbose)
    with isolated_argv():
        from stockops.predictor.loading import PredictorLoadError, load_forecaster
        from stockops.predictor.model import StockForecastModel
        from stockops.predictor.server import configure_server_logging, run_model_server

    predictor = PredictorSettings(
        model_name=registered_model_name(ticker),
        model_alias=PRODUCTION_ALIAS,
        model_version=None,
        http_port=port,
        bind_address=host,
    )
    configure_server_logging(predictor.access_log)
    if not settings.redis_url:
        print("note: STOCKOPS_REDIS_URL is not set, so predictions are not cached", file=sys.stderr)
    model = StockForecastModel(predictor.model_name or "", lambda: load_forecaster(predictor, settings))
    if not model.load():
        raise PredictorLoadError(model.load_error or f"could not load {predictor.target}")
    name = predictor.model_name
    version = model.forecaster.model_version if model.forecaster else "?"
    body = '{"instances": [{"days": 5}]}'
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(
        f"serving {ticker} ({name} version {version}) on http://{shown}:{port}"
        f"{' (all interfaces)' if shown != host else ''}\n"
        f"  curl -s -X POST http://{shown}:{port}/v1/models/{name}:predict -d '{body}'",
        file=sys.stderr,
    )
    run_model_server(model, predictor)
