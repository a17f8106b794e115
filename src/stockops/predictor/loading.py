"""Assembling a `Forecaster` from settings: registry version, window provider, cache, and a warm-up.

Every stage that can fail raises `PredictorLoadError` with a message saying which stage, for which model,
and the cause, so the server logs one line a human can act on and stays not-ready; nothing is half-loaded
because the forecaster is only handed over after the warm-up forecast succeeded.
"""

from __future__ import annotations

from stockops.config import Settings
from stockops.predictor.cache import LocalPredictionCache, RedisPredictionCache
from stockops.predictor.forecaster import Forecaster
from stockops.predictor.requests import LatestQuery
from stockops.predictor.settings import PredictorSettings, redact_url
from stockops.predictor.windows import provider_for


class PredictorLoadError(RuntimeError):
    """The model cannot be served; the message names the stage and the cause."""


def _cause(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:500]}" if text else type(exc).__name__


def load_forecaster(predictor: PredictorSettings, settings: Settings) -> Forecaster:
    """Fetch the configured version from MLflow and prove it can answer a latest-window forecast."""
    if not predictor.model_name:
        raise PredictorLoadError("no model to serve: set STOCKOPS_MODEL_NAME or pass --model-name")
    import torch

    from stockops.data.features import FEATURE_SET_VERSION
    from stockops.registry import load_bundle

    torch.set_num_threads(predictor.torch_threads)
    tracking_uri = settings.tracking_uri
    try:
        bundle, version = load_bundle(
            predictor.model_name, predictor.model_version, predictor.model_alias, tracking_uri=tracking_uri
        )
    except Exception as exc:  # MLflow, network, bundle files: all mean "cannot serve this version"
        raise PredictorLoadError(
            f"could not load {predictor.target} from the registry at {redact_url(tracking_uri)}: "
            f"{_cause(exc)}"
        ) from exc
    if bundle.feature_spec.version != FEATURE_SET_VERSION:
        raise PredictorLoadError(
            f"{predictor.model_name} version {version} was trained on feature set "
            f"{bundle.feature_spec.version!r}, this predictor computes {FEATURE_SET_VERSION!r}; retrain it "
            "or run a predictor image that matches"
        )
    try:
        provider = provider_for(
            settings, refresh_seconds=predictor.window_refresh_seconds, ingest=predictor.window_ingest
        )
    except Exception as exc:
        raise PredictorLoadError(
            f"data source {settings.data_source!r} is not usable: {_cause(exc)}"
        ) from exc
    cache = (
        RedisPredictionCache(settings.redis_url, predictor.cache_ttl_seconds) if settings.redis_url else None
    )
    forecaster = Forecaster(
        bundle, model_name=predictor.model_name, model_version=version, provider=provider, cache=None
    )
    try:
        forecaster.answer([LatestQuery(days=1)])  # uncached: proves data, features and network end to end
    except Exception as exc:
        raise PredictorLoadError(
            f"{predictor.model_name} version {version} loaded but cannot forecast {bundle.ticker} from its "
            f"latest feature window (feature store, data source {settings.data_source!r}): {_cause(exc)}"
        ) from exc
    forecaster.cache = cache
    if settings.redis_url:  # served answers are recorded for realised-error monitoring
        from stockops.monitoring.forecast_log import RedisForecastLog

        forecaster.forecast_log = RedisForecastLog(settings.redis_url)
    local_seconds = min(predictor.local_cache_seconds, predictor.cache_ttl_seconds)
    if cache is not None and local_seconds > 0:
        forecaster.local_cache = LocalPredictionCache(ttl_seconds=local_seconds)
    return forecaster
