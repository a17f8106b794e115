"""The record of served forecasts, for realised-error monitoring: one Redis stream entry per answer.

Why a Redis stream and not the feature store's offline parquet: the predictor already talks to Redis
(its cache), several replicas append at once (XADD is atomic; a parquet file needs a single writer, and
the predictor's root filesystem is read-only), entries come back in time order with XRANGE, and
``MAXLEN ~`` caps the stream without a compaction job. It survives restarts of the predictor always,
and of Redis when Redis persists (AOF or RDB, as the chart's Redis should for this to count as a
record; the test Redis does not).

Stream ``stockops:forecasts:v1:<model name>``; each entry holds ``model_version``, ``as_of``, ``days``
and ``answer`` (the served JSON, `stockops.predictor.responses`). Only answers computed from the
stored latest window are recorded: a caller's own window (a what-if) is not a forecast of the market
as of its date, and a cache hit is an answer already recorded when it was computed. Each predictor
process records a (days, as-of date) once, so an uncached busy predictor does not flood the stream;
duplicates across replicas and restarts are dropped when read (`realised.latest_per_day`).

Recording never fails a request: Redis errors are logged once per outage and recording is skipped for
``retry_after_seconds``. Reading (the monitor's side) raises, so a check can say Redis was down.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from stockops.monitoring.realised import RecordedForecast

log = logging.getLogger(__name__)

STREAM_PREFIX = "stockops:forecasts:v1"
DEFAULT_MAXLEN = 50_000  # per model: decades of daily as-of dates times a few horizons


class ForecastLog(Protocol):
    """What the predictor needs: append one answer, True when it was recorded."""

    def record(self, answer: Mapping[str, Any]) -> bool: ...


def stream_key(model_name: str) -> str:
    return f"{STREAM_PREFIX}:{model_name}"


def _redact(url: str) -> str:
    from stockops.predictor.settings import redact_url

    return redact_url(url)


class RedisForecastLog:
    def __init__(
        self,
        url: str,
        *,
        maxlen: int = DEFAULT_MAXLEN,
        socket_timeout: float = 0.25,
        retry_after_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import redis

        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout, health_check_interval=0
        )
        self.url = url
        self.maxlen = maxlen
        self.retry_after_seconds = retry_after_seconds
        self._clock = clock
        self._down_since: float | None = None
        self._retry_at = 0.0

    def record(self, answer: Mapping[str, Any]) -> bool:
        """Append one served answer; False when it was skipped (Redis down), never raises for Redis."""
        if self._down_since is not None and self._clock() < self._retry_at:
            return False
        body = {k: v for k, v in answer.items() if k != "cached"}
        fields = {
            "model_version": str(answer["model_version"]),
            "as_of": str(answer["as_of"]),
            "days": str(answer["days"]),
            "answer": json.dumps(body, sort_keys=True),
        }
        try:
            self._client.xadd(
                stream_key(str(answer["model_name"])), fields, maxlen=self.maxlen, approximate=True
            )
        except self._errors as exc:
            now = self._clock()
            if self._down_since is None:
                self._down_since = now
                log.warning(
                    "forecast log unavailable (Redis %s: %s: %s); answers are not recorded, retrying every "
                    "%.0fs",
                    _redact(self.url),
                    type(exc).__name__,
                    exc,
                    self.retry_after_seconds,
                )
            self._retry_at = now + self.retry_after_seconds
            return False
        if self._down_since is not None:
            log.warning("forecast log back (Redis %s)", _redact(self.url))
            self._down_since = None
        return True

    def forecasts(self, model_name: str, *, model_version: str | None = None) -> list[RecordedForecast]:
        """Every recorded answer of ``model_name`` (of one version when given), oldest first; raises on
        Redis errors."""
        entries = self._client.xrange(stream_key(model_name))
        out = []
        for _id, fields in entries:
            version = fields[b"model_version"].decode()
            if model_version is None or version == model_version:
                out.append(RecordedForecast.from_answer(json.loads(fields[b"answer"])))
        return out
