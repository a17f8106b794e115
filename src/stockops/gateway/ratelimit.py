"""Per-key rate limits: a sliding window log, in Redis when configured, else in this process.

Sliding window log: every admitted request's time is kept for ``window`` seconds; a request is admitted
while fewer than ``limit`` times are kept. Unlike fixed windows, a burst at a window edge cannot pass
twice the limit. Refused requests are not logged, so a client that keeps retrying is admitted again as
soon as its oldest admitted request leaves the window; ``retry_after`` says when that is (whole seconds,
at least 1, for the ``Retry-After`` header).

Redis: one sorted set per key (``stockops:gateway:rl:<key id>``, score = time in ms), updated by one Lua
script, so remove-expired, count, add and expire happen atomically for every replica, timed by the Redis
server's clock (replicas need not agree on the time). What happens when Redis is unreachable is the
``on_error`` policy (see `stockops.gateway.settings`): ``memory`` answers from this process's window and
logs a warning once per outage (retrying Redis every few seconds); ``closed`` raises
`RateLimiterUnavailableError` (503).
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

log = logging.getLogger(__name__)

REDIS_PREFIX = "stockops:gateway:rl:"

# KEYS[1] the key's set; ARGV: window ms, limit, a unique member suffix. Returns {admitted, retry ms}.
_SLIDING_WINDOW_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, now .. '-' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local retry = window
if oldest[2] then retry = tonumber(oldest[2]) + window - now end
return {0, retry}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # whole seconds until a request would be admitted (0 when allowed)


class RateLimiterUnavailableError(RuntimeError):
    """Redis is configured, unreachable, and the policy is to fail closed."""


class RateLimiter(Protocol):
    @property
    def backend(self) -> str: ...

    async def hit(self, key_id: str) -> Decision: ...


def _retry_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds))


class MemorySlidingWindow:
    """The sliding window log in this process; ``clock`` (seconds, monotonic) is injectable for tests."""

    backend = "memory"

    def __init__(
        self, limit: int, window_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("a rate limit needs limit >= 1 and a positive window")
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._log: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key_id: str) -> Decision:
        now = self._clock()
        with self._lock:
            times = self._log.setdefault(key_id, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) < self.limit:
                times.append(now)
                return Decision(True)
            if len(self._log) > 10_000:  # forget idle keys so the log cannot grow without bound
                self._forget_idle(now)
            return Decision(False, _retry_seconds(times[0] + self.window - now))

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, t in self._log.items() if not t or t[-1] <= now - self.window]:
            del self._log[key]

    async def hit(self, key_id: str) -> Decision:
        return self.check(key_id)


class RedisSlidingWindow:
    """The same window in Redis (one Lua script per request), with ``on_error`` for outages."""

    def __init__(
        self,
        url: str,
        limit: int,
        window_seconds: float,
        *,
        on_error: Literal["memory", "closed"] = "memory",
        socket_timeout: float = 0.25,
        retry_after_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        self.url = url
        self.limit = limit
        self.window_ms = int(window_seconds * 1000)
        self.on_error = on_error
        self.fallback = MemorySlidingWindow(limit, window_seconds, clock=clock)
        self._errors: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
        self._client: Any = aioredis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout, health_check_interval=0
        )
        self._script = self._client.register_script(_SLIDING_WINDOW_LUA)
        self._retry_after = retry_after_seconds
        self._clock = clock
        self._down_until: float | None = None
        self.down = False

    @property
    def backend(self) -> str:
        if not self.down:
            return "redis"
        return "memory (redis unavailable)" if self.on_error == "memory" else "unavailable (redis down)"

    async def hit(self, key_id: str) -> Decision:
        if self._down_until is not None and self._clock() < self._down_until:
            return self._outage(key_id, None)
        try:
            admitted, retry_ms = await self._script(
                keys=[REDIS_PREFIX + key_id], args=[self.window_ms, self.limit, secrets.token_hex(6)]
            )
        except self._errors as exc:
            return self._outage(key_id, exc)
        if self.down:
            log.warning("rate limiter: Redis %s is back", _redact(self.url))
            self.down, self._down_until = False, None
        if int(admitted) == 1:
            return Decision(True)
        return Decision(False, _retry_seconds(int(retry_ms) / 1000.0))

    def _outage(self, key_id: str, exc: BaseException | None) -> Decision:
        if exc is not None:
            if not self.down:
                log.warning(
                    "rate limiter: Redis %s unreachable (%s: %s); %s, retrying every %.0fs",
                    _redact(self.url),
                    type(exc).__name__,
                    exc,
                    "counting in this process" if self.on_error == "memory" else "refusing requests (503)",
                    self._retry_after,
                )
            self.down = True
            self._down_until = self._clock() + self._retry_after
        if self.on_error == "closed":
            raise RateLimiterUnavailableError("the rate limiter's Redis is unreachable; try again shortly")
        return self.fallback.check(key_id)

    async def close(self) -> None:
        await self._client.aclose()


def _redact(url: str) -> str:
    from stockops.predictor.settings import redact_url

    return redact_url(url)
