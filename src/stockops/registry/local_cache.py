"""Registry answers for one-shot CLI commands, cached until the embedded SQLite store changes.

``predict`` reads a :class:`ForecastBundle` (numpy weights, no torch) kept beside the cached answer, so
a warm ``stockops predict`` imports neither MLflow nor torch.

See `stockops.stamped_cache` for why this is safe: against the embedded store every registration or
alias move rewrites ``mlflow.db``, so a cached (bundle, version) or metrics JSON is reused only while
the file is unchanged. With ``MLFLOW_TRACKING_URI`` set the server is always asked.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stockops.config import Settings
from stockops.registry.naming import PRODUCTION_ALIAS
from stockops.stamped_cache import ANSWER, StampedCache, file_stamp

if TYPE_CHECKING:
    from stockops.model.bundle import ModelBundle
    from stockops.model.forecast_bundle import ForecastBundle

LOCAL_DB = "mlflow.db"


def registry_cache(settings: Settings) -> StampedCache:
    root = settings.cache_dir / "registry"
    if settings.mlflow_tracking_uri:  # a server: its changes are invisible from here
        return StampedCache(root=root, stamp=None)
    return StampedCache(root=root, stamp=file_stamp(settings.home_dir / LOCAL_DB))


def lookup_key(kind: str, model_name: str, version: str | None, alias: str | None) -> str:
    """``bundle/stockops-aapl/v3`` or ``metrics/stockops-aapl/alias-production`` (pure)."""
    which = f"v{version}" if version is not None else f"alias-{alias or PRODUCTION_ALIAS}"
    return f"{kind}/{model_name}/{which}"


def cached_forecast_bundle(
    settings: Settings, model_name: str, version: str | None = None, alias: str | None = None
) -> tuple[ForecastBundle, str]:
    """(forecast bundle, version): the torch-free serving subset; the full bundle is loaded (with torch
    and MLflow) only when the cache misses, or every time against a tracking server."""
    from stockops.model.forecast_bundle import ForecastBundle

    cache = registry_cache(settings)
    key = lookup_key("forecast", model_name, version, alias)

    def fill(tmp: Path) -> None:
        bundle, resolved = _load_bundle(settings, model_name, version, alias, dst=tmp / "download")
        ForecastBundle.from_model_bundle(bundle).save(tmp / "forecast")
        shutil.rmtree(tmp / "download", ignore_errors=True)
        (tmp / ANSWER).write_text(json.dumps({"version": resolved}))

    entry = cache.fetch(key, fill)
    if entry is None:
        bundle, resolved = _load_bundle(settings, model_name, version, alias, dst=None)
        return ForecastBundle.from_model_bundle(bundle), resolved
    answer = json.loads((entry / ANSWER).read_text())
    return ForecastBundle.load(entry / "forecast"), str(answer["version"])


def cached_metrics(
    settings: Settings, model_name: str, version: str | None = None, alias: str | None = None
) -> dict[str, Any]:
    """The metrics JSON logged with a registered version; MLflow only when the cache misses."""
    cache = registry_cache(settings)
    key = lookup_key("metrics", model_name, version, alias)

    def fill(tmp: Path) -> None:
        (tmp / ANSWER).write_text(json.dumps(_fetch_metrics(settings, model_name, version, alias)))

    entry = cache.fetch(key, fill)
    if entry is None:
        return _fetch_metrics(settings, model_name, version, alias)
    return dict(json.loads((entry / ANSWER).read_text()))


def _client(settings: Settings) -> Any:
    from stockops.registry.tracking import TrackingTarget, connect

    return connect(TrackingTarget.from_settings(settings))


def _load_bundle(
    settings: Settings, model_name: str, version: str | None, alias: str | None, *, dst: Path | None
) -> tuple[ModelBundle, str]:
    from stockops.registry.loading import load_bundle

    return load_bundle(model_name, version, alias, client=_client(settings), dst=dst)


def _fetch_metrics(
    settings: Settings, model_name: str, version: str | None, alias: str | None
) -> dict[str, Any]:
    from stockops.registry.loading import load_metrics

    return load_metrics(model_name, version, alias, client=_client(settings))
