"""Answers to ``/predict-*`` kept for a while, so a repeated forecast is a dictionary lookup.

Keyed by (ticker, days). An entry lives ``ttl`` seconds; the local backend also drops a ticker's entries
when one of its trainings finishes (a new version may be in production). In a cluster each replica keeps
its own; the predictor behind it has the shared Redis cache. Bounded: past ``max_entries`` the oldest
entries go first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class ForecastCache:
    def __init__(
        self, ttl_seconds: float, *, max_entries: int = 4096, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, int], tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ticker: str, days: int) -> Any | None:
        if self.ttl <= 0:
            return None
        with self._lock:
            found = self._entries.get((ticker, days))
            if found is None:
                return None
            expires, value = found
            if self._clock() >= expires:
                del self._entries[(ticker, days)]
                return None
            return value

    def put(self, ticker: str, days: int, value: Any) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._entries[(ticker, days)] = (self._clock() + self.ttl, value)
            self._entries.move_to_end((ticker, days))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def invalidate(self, ticker: str) -> int:
        with self._lock:
            keys = [k for k in self._entries if k[0] == ticker]
            for key in keys:
                del self._entries[key]
        return len(keys)

    def clear(self) -> int:
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
        return count
