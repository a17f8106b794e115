"""The realised error of what the predictor served, end to end (I/O at this edge).

Served forecasts come from the Redis forecast log (`forecast_log`), the closes that followed from the
feature store (the rows the predictor's windows are cut from, so both sides see the same prices), and
`realised.realised_error` scores the newest matured ones of the served version against the random walk.

No forecast log configured (no Redis URL) is ``InsufficientData`` with a message saying so, not an
error: a predictor without Redis records nothing, and the check cannot know what it served. A forecast
log that is configured but unreachable raises `ForecastLogUnavailableError`, so the check Job fails (and is
retried) instead of reporting "no data" for a Redis outage.
"""

from __future__ import annotations

from datetime import date

from stockops.config import Settings
from stockops.monitoring.realised import (
    DEFAULT_WINDOW,
    LiveVerdict,
    RealisedError,
    closes_by_date,
    realised_error,
)

# Every stored close: a forecast's horizon needs the closes after its as-of date, whatever its age.
ALL_SESSIONS = 1_000_000


class ForecastLogUnavailableError(RuntimeError):
    """The configured forecast log (Redis) could not be read."""


def live_error(
    ticker: str,
    settings: Settings,
    *,
    model_name: str,
    model_version: str,
    window: int = DEFAULT_WINDOW,
    today: date | None = None,
) -> RealisedError:
    """Live error of ``model_version``'s newest ``window`` matured served forecasts."""
    from stockops.feature_access import open_feature_store
    from stockops.featurestore.errors import FeatureStoreEmpty
    from stockops.featurestore.offline import stored_closes
    from stockops.monitoring.forecast_log import RedisForecastLog
    from stockops.predictor.settings import redact_url

    if not settings.redis_url:
        return RealisedError(
            verdict=LiveVerdict.INSUFFICIENT_DATA,
            n_forecasts=0,
            n_points=0,
            message="no forecast log configured (STOCKOPS_REDIS_URL unset): nothing served was recorded",
        )
    log = RedisForecastLog(settings.redis_url, socket_timeout=5.0)
    try:
        forecasts = log.forecasts(model_name, model_version=model_version)
    except Exception as exc:  # redis.RedisError, OSError: the log is configured, so this is an outage
        raise ForecastLogUnavailableError(
            f"forecast log at {redact_url(settings.redis_url)} unreadable: {type(exc).__name__}: {exc}"
        ) from exc
    if not forecasts:
        return RealisedError(
            verdict=LiveVerdict.INSUFFICIENT_DATA,
            n_forecasts=0,
            n_points=0,
            message=f"no served forecasts of {model_name} v{model_version} recorded yet",
        )
    store = open_feature_store(settings)
    try:
        closes = stored_closes(ticker, ALL_SESSIONS, layout=store.layout, until=today or date.today())
    except FeatureStoreEmpty as exc:
        return RealisedError(
            verdict=LiveVerdict.INSUFFICIENT_DATA, n_forecasts=0, n_points=0, message=f"no closes: {exc}"
        )
    actual = closes_by_date([d.date() for d in closes.index], closes.to_numpy())
    return realised_error(forecasts, actual, model_version=model_version, window=window)
