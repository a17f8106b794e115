"""Where the latest feature window comes from when a request sends only ``{"days": N}``.

`WindowProvider` is the one seam (a request path never knows where windows come from):

- `FeatureStoreWindowProvider`: the Feast online store (SQLite locally, Redis in a cluster) through
  `stockops.feature_access.forecast_window`, the same feature path training reads, so serving and
  training cannot skew. A ticker not yet in the store is ingested from ``Settings.data_source`` first.
- `RefreshingWindowProvider`: daily data changes once a day, so a window is reused for
  ``refresh_seconds``; a stale one is refreshed in a background thread while requests keep getting the
  previous window, so a refresh (a Feast lookup, perhaps an ingestion) never stalls the request path.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import numpy as np

from stockops.config import Settings
from stockops.predictor.risk import TRADING_DAYS_PER_YEAR, annualized_volatility

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class FeatureWindow:
    """The last ``context_days`` rows of raw model features (spec column order) up to ``as_of``."""

    window: np.ndarray  # (context_days, n_features) float64
    as_of: date
    last_close: float
    source: str
    synthetic: bool


class WindowProvider(Protocol):
    """Anything that can hand out the latest feature window of a ticker for a model's feature spec."""

    def latest_window(self, ticker: str, columns: tuple[str, ...], context_days: int) -> FeatureWindow: ...


class WindowUnavailableError(RuntimeError):
    """No usable latest window (no data, too little history, missing columns); the message says which."""


def realized_volatility_of_window(window: np.ndarray, columns: tuple[str, ...]) -> float | None:
    """Annualised realized volatility from a raw feature window.

    Uses the ``log_return`` column (last 20 rows) when the model consumes it, else the last
    ``volatility_20`` value (a daily std) annualised; None when the window carries neither.
    """
    if "log_return" in columns:
        return annualized_volatility(window[:, columns.index("log_return")])
    if "volatility_20" in columns:
        daily = float(window[-1, columns.index("volatility_20")])
        return daily * math.sqrt(TRADING_DAYS_PER_YEAR) if math.isfinite(daily) else None
    return None


class FeatureStoreWindowProvider:
    """Latest window from the Feast online store (`stockops.feature_access.forecast_window`).

    A ticker the store has never seen is ingested from ``Settings.data_source`` first (the one feature
    path, so serving sees exactly what training saw). With ``ingest=True`` every read ingests fresh
    prices first, for a predictor that nothing else keeps current.
    """

    def __init__(self, settings: Settings, *, ingest: bool = False) -> None:
        from stockops.data.sources import source_from_string

        source_from_string(settings.data_source)  # fail at load time on a malformed spec, not per request
        self.settings = settings
        self.ingest = ingest

    def latest_window(self, ticker: str, columns: tuple[str, ...], context_days: int) -> FeatureWindow:
        from stockops.data.errors import DataError
        from stockops.feature_access import forecast_window

        source_spec = self.settings.data_source if self.ingest else None
        try:
            found = forecast_window(ticker, columns, context_days, self.settings, source_spec=source_spec)
        except (DataError, ValueError) as exc:
            raise WindowUnavailableError(f"no feature window for {ticker}: {exc}") from exc
        if found.note:
            log.warning("%s: %s", ticker, found.note)
        return FeatureWindow(
            window=np.asarray(found.window, dtype=np.float64),
            as_of=found.as_of,
            last_close=float(found.last_close),
            source=found.data_source,
            synthetic=bool(found.synthetic),
        )


class RefreshingWindowProvider:
    """Memoises ``inner`` per (ticker, columns, context); refreshes stale entries in the background."""

    RETRY_SECONDS = 60.0

    def __init__(
        self, inner: WindowProvider, refresh_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.inner = inner
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._memo: dict[tuple[str, tuple[str, ...], int], tuple[float, FeatureWindow]] = {}
        self._refreshing: set[tuple[str, tuple[str, ...], int]] = set()

    def latest_window(self, ticker: str, columns: tuple[str, ...], context_days: int) -> FeatureWindow:
        key = (ticker, columns, context_days)
        with self._lock:
            hit = self._memo.get(key)
            if hit is not None and self._clock() - hit[0] < self.refresh_seconds:
                return hit[1]
            if hit is not None:
                if key not in self._refreshing:
                    self._refreshing.add(key)
                    threading.Thread(target=self._refresh, args=(key,), daemon=True).start()
                return hit[1]
        window = self.inner.latest_window(ticker, columns, context_days)  # first read: in line
        with self._lock:
            self._memo[key] = (self._clock(), window)
        return window

    def _refresh(self, key: tuple[str, tuple[str, ...], int]) -> None:
        try:
            window = self.inner.latest_window(*key)
            stamp = self._clock()
        except Exception as exc:  # keep serving the previous window; try again in a minute
            log.warning(
                "refreshing the feature window of %s failed (%s); keeping the previous one", key[0], exc
            )
            window = None
            stamp = self._clock() - self.refresh_seconds + min(self.RETRY_SECONDS, self.refresh_seconds)
        with self._lock:
            previous = self._memo.get(key)
            if window is None and previous is not None:
                window = previous[1]
            if window is not None:
                self._memo[key] = (stamp, window)
            self._refreshing.discard(key)


def provider_for(settings: Settings, *, refresh_seconds: float, ingest: bool = False) -> WindowProvider:
    """The window provider the server uses, memoised for ``refresh_seconds`` (0: read every time)."""
    inner = FeatureStoreWindowProvider(settings, ingest=ingest)
    return RefreshingWindowProvider(inner, refresh_seconds) if refresh_seconds > 0 else inner
