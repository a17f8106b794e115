"""The prediction cache: Redis, with a small in-process tier in front; never allowed to fail a request.

Keys name everything an answer depends on, so a new model version or a new data date misses naturally::

    stockops:forecast:v1:<model name>:<model version>:<ticker>:<as-of date>:<days>[:w<digest>]

The ``w<digest>`` suffix (SHA-256 of the window's float64 bytes and the last close) is there only when
the caller sent an explicit window. Entries expire after the configured TTL (default 30 min) so a data
correction on the same date is picked up eventually.

Redis is shared by every replica and survives restarts. In front of it each process keeps the most
recent answers in memory for a short while (`LocalPredictionCache`, default 60 s, 1024 entries): a hot
question then costs no network round trip at all, which on a busy two-core node is about a third of a
cache hit's server time. The local tier only ever holds what Redis was also given, under the same keys,
so it cannot serve anything a Redis hit would not.

When Redis is unreachable the request is served uncached: the failure is counted in metrics, logged once
per outage (not once per request), and Redis is not tried again for ``retry_after_seconds`` so a dead
cache costs one timeout per window rather than one per request. A recovery is logged too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import struct
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from typing import Any, Protocol

import numpy as np

from stockops.predictor import metrics
from stockops.predictor.settings import redact_url

log = logging.getLogger(__name__)

KEY_PREFIX = "stockops:forecast:v1"


def window_digest(window: np.ndarray, last_close: float) -> str:
    """A stable digest of an explicit window (float64, C order) and its last close."""
    h = hashlib.sha256(np.ascontiguousarray(window, dtype="<f8").tobytes())
    h.update(struct.pack("<d", float(last_close)))
    return h.hexdigest()[:32]


def cache_key(
    *, model_name: str, model_version: str, ticker: str, as_of: date, days: int, digest: str | None = None
) -> str:
    """The Redis key for one answer (pure; see the module docstring for the layout)."""
    key = f"{KEY_PREFIX}:{model_name}:{model_version}:{ticker}:{as_of.isoformat()}:{days}"
    return f"{key}:w{digest}" if digest else key


class PredictionCache(Protocol):
    """What the model needs from a cache; `None`-safe callers skip it entirely when not configured."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, value: dict[str, Any]) -> None: ...


class LocalPredictionCache:
    """In-process LRU with a TTL (monotonic clock); not thread-safe (used from the event loop only)."""

    def __init__(
        self,
        *,
        max_entries: int = 1024,
        ttl_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or ttl_seconds <= 0:
            raise ValueError(
                f"max_entries must be >= 1 and ttl_seconds > 0, got {max_entries}, {ttl_seconds}"
            )
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> dict[str, Any] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry[0]:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: str, value: dict[str, Any]) -> None:
        self._entries[key] = (self._clock() + self.ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class RedisPredictionCache:
    """Best-effort Redis cache: every method swallows Redis failures after counting and logging them."""

    def __init__(
        self,
        url: str,
        ttl_seconds: int,
        *,
        socket_timeout: float = 0.25,
        retry_after_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import redis

        self._redis_errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout, health_check_interval=0
        )
        self.url = url
        self.ttl_seconds = int(ttl_seconds)
        self.retry_after_seconds = retry_after_seconds
        self._clock = clock
        self._down_since: float | None = None
        self._retry_at = 0.0

    def _available(self) -> bool:
        if self._down_since is None:
            return True
        return self._clock() >= self._retry_at

    def _failed(self, operation: str, exc: BaseException) -> None:
        metrics.CACHE_ERRORS.labels(operation=operation).inc()
        now = self._clock()
        if self._down_since is None:
            self._down_since = now
            log.warning(
                "prediction cache unavailable (Redis %s: %s: %s); serving uncached, retrying every %.0fs",
                redact_url(self.url),
                type(exc).__name__,
                exc,
                self.retry_after_seconds,
            )
        self._retry_at = now + self.retry_after_seconds

    def _succeeded(self) -> None:
        if self._down_since is not None:
            log.warning(
                "prediction cache back (Redis %s) after %.1fs",
                redact_url(self.url),
                self._clock() - self._down_since,
            )
            self._down_since = None

    def get(self, key: str) -> dict[str, Any] | None:
        if not self._available():
            metrics.CACHE_BYPASSED.inc()
            return None
        try:
            raw = self._client.get(key)
        except self._redis_errors as exc:
            self._failed("get", exc)
            return None
        self._succeeded()
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            log.warning("ignoring an unreadable cache entry %s", key)
            return None
        return value if isinstance(value, dict) else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        if not self._available():
            return
        try:
            self._client.set(key, json.dumps(value, separators=(",", ":")), ex=self.ttl_seconds)
        except self._redis_errors as exc:
            self._failed("set", exc)
            return
        self._succeeded()

    def close(self) -> None:
        with contextlib.suppress(*self._redis_errors):
            self._client.close()
