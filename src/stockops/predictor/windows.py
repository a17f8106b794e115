"""Where the latest feature window comes from when a request sends only ``{"days": N}``.

`WindowProvider` is the one seam: today `HistoryWindowProvider` reads prices from the configured data
source (``Settings.data_source``) through the pipeline's `latest_window` (the one feature builder,
`stockops.data.features`, behind it); the Feast online store implements the same protocol, and
switching is the one line in `provider_for`.

Daily data changes once a day, so the window is kept in memory for ``refresh_seconds`` instead of
re-reading prices per request: a cache miss then costs the network, not a CSV parse.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import numpy as np

from stockops.predictor.risk import TRADING_DAYS_PER_YEAR, annualized_volatility


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


class HistoryWindowProvider:
    """Latest window from an `OhlcvSource` + `compute_features`, memoised per ticker for a while."""

    def __init__(
        self,
        source_spec: str,
        *,
        refresh_seconds: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from stockops.data.sources import source_from_string

        source_from_string(source_spec)  # fail at load time on a malformed spec, not per request
        self.source_spec = source_spec
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._memo: dict[tuple[str, tuple[str, ...], int], tuple[float, FeatureWindow]] = {}

    def latest_window(self, ticker: str, columns: tuple[str, ...], context_days: int) -> FeatureWindow:
        key = (ticker, columns, context_days)
        with self._lock:
            hit = self._memo.get(key)
            now = self._clock()
            if hit is not None and now - hit[0] < self.refresh_seconds:
                return hit[1]
            window = self._read(ticker, columns, context_days)
            self._memo[key] = (now, window)
            return window

    def _read(self, ticker: str, columns: tuple[str, ...], context_days: int) -> FeatureWindow:
        from stockops.data.errors import DataError
        from stockops.data.features import MODEL_FEATURES
        from stockops.pipeline import latest_window

        if tuple(columns) != tuple(MODEL_FEATURES):
            raise WindowUnavailableError(
                f"the model consumes feature columns {list(columns)}, this stockops computes "
                f"{list(MODEL_FEATURES)}; serve a model trained with the current feature set"
            )
        try:
            latest = latest_window(ticker, self.source_spec, context_days)
        except (DataError, ValueError) as exc:
            raise WindowUnavailableError(
                f"no latest window for {ticker} from {self.source_spec}: {exc}"
            ) from exc
        return FeatureWindow(
            window=np.asarray(latest.window, dtype=np.float64),
            as_of=latest.as_of,
            last_close=float(latest.last_close),
            source=latest.data_source,
            synthetic=bool(latest.synthetic),
        )


def provider_for(source_spec: str, *, refresh_seconds: float) -> WindowProvider:
    """The window provider the server uses (switch to the Feast online store here)."""
    return HistoryWindowProvider(source_spec, refresh_seconds=refresh_seconds)
