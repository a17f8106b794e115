"""Synthetic daily OHLCV for demos and offline runs, always flagged as synthetic.

Why regime switching: a plain random walk has constant volatility and no trends, so every model
(and the random-walk baseline) looks the same on it. Alternating bull / bear / sideways regimes with
their own drift and volatility give the indicators (RSI, MACD, volatility) something to react to,
while staying honest: returns are still unpredictable day to day, so a model should not beat the
random walk by much here, and the pipeline flags every result built on it.

Determinism: the series depends only on (seed, ticker). It is generated from a fixed origin date
and every random stream is drawn sequentially from its own generator, so a date's prices never change
when a caller asks for a longer or shorter range.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from stockops.data.errors import DataUnavailableError
from stockops.data.history import OHLCV_COLUMNS, PriceHistory
from stockops.data.validation import normalize_ticker, validate_ohlcv

SYNTHETIC_ORIGIN = date(1990, 1, 2)
SYNTHETIC_DEFAULT_END = date(2025, 12, 31)


@dataclass(frozen=True)
class Regime:
    """A market state: daily log-return drift and volatility, and how long it lasts on average."""

    name: str
    drift: float
    volatility: float
    mean_days: float


REGIMES: tuple[Regime, ...] = (
    Regime("bull", drift=0.0007, volatility=0.009, mean_days=400.0),
    Regime("bear", drift=-0.0010, volatility=0.022, mean_days=90.0),
    Regime("sideways", drift=0.0, volatility=0.011, mean_days=180.0),
)


def _ticker_key(ticker: str) -> int:
    """A stable (not salted like hash()) 64-bit key per ticker."""
    return int.from_bytes(hashlib.sha256(ticker.encode()).digest()[:8], "little")


def _regime_path(rng: np.random.Generator, n: int) -> np.ndarray:
    """Regime index per day: geometric durations, then a jump to one of the other regimes."""
    path = np.empty(n, dtype=np.int64)
    position, regime = 0, int(rng.integers(len(REGIMES)))
    while position < n:
        length = int(rng.geometric(1.0 / REGIMES[regime].mean_days))
        path[position : position + length] = regime
        position += length
        regime = (regime + 1 + int(rng.integers(len(REGIMES) - 1))) % len(REGIMES)
    return path


def generate_ohlcv(ticker: str, *, seed: int, end: date = SYNTHETIC_DEFAULT_END) -> pd.DataFrame:
    """Business-day OHLCV from SYNTHETIC_ORIGIN to `end` (at least SYNTHETIC_DEFAULT_END), canonical layout.

    Consistency holds by construction: high >= max(open, close), low <= min(open, close), volume > 0.
    """
    # Monday-Friday calendar (pd.bdate_range is the same set of days, but builds it in a slow Python loop).
    days = pd.date_range(SYNTHETIC_ORIGIN, max(end, SYNTHETIC_DEFAULT_END), freq="D", name="date")
    index = days[days.dayofweek < 5]
    n = len(index)
    streams = np.random.SeedSequence([seed, _ticker_key(ticker)]).spawn(4)
    level_rng, regime_rng, price_rng, volume_rng = (np.random.default_rng(s) for s in streams)

    start_price = float(np.exp(level_rng.uniform(np.log(10.0), np.log(500.0))))
    base_volume = float(np.exp(level_rng.uniform(np.log(1e6), np.log(1e8))))

    regimes = _regime_path(regime_rng, n)
    drift = np.array([r.drift for r in REGIMES])[regimes]
    sigma = np.array([r.volatility for r in REGIMES])[regimes]
    # Row-major (n, 4) draws keep each day's noise the same whatever n is.
    noise = price_rng.standard_normal((n, 4))
    log_returns = drift + sigma * noise[:, 0]
    close = start_price * np.exp(np.cumsum(log_returns))
    previous_close = np.r_[start_price, close[:-1]]
    open_ = previous_close * np.exp(0.3 * sigma * noise[:, 1])
    high = np.maximum(open_, close) * np.exp(0.5 * sigma * np.abs(noise[:, 2]))
    low = np.minimum(open_, close) * np.exp(-0.5 * sigma * np.abs(noise[:, 3]))

    # Volume: persistent log-level noise plus more trading on big moves, as in real markets.
    volume_noise = volume_rng.standard_normal(n)
    persistent = pd.Series(volume_noise).ewm(alpha=0.2, adjust=False).mean().to_numpy()
    log_volume = np.log(base_volume) + 0.8 * persistent + 0.25 * np.abs(log_returns) / sigma
    volume = np.round(np.exp(log_volume))

    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        index=index,
        columns=list(OHLCV_COLUMNS),
    )


class SyntheticSource:
    """Seeded synthetic prices; `fetch` never touches the network and never fails for a valid ticker."""

    synthetic = True

    def __init__(self, seed: int = 42) -> None:
        self.seed = seed
        self.name = "synthetic"

    def __repr__(self) -> str:
        return f"SyntheticSource(seed={self.seed})"

    def fetch(self, ticker: str, start: date | None = None, end: date | None = None) -> PriceHistory:
        symbol = normalize_ticker(ticker)
        if start is not None and end is not None and start > end:
            raise ValueError(f"start {start} is after end {end}")
        raw = generate_ohlcv(symbol, seed=self.seed, end=end or SYNTHETIC_DEFAULT_END)
        frame = validate_ohlcv(raw, ticker=symbol, source=self.name)
        frame = frame.loc[
            pd.Timestamp(start or SYNTHETIC_ORIGIN) : pd.Timestamp(end or SYNTHETIC_DEFAULT_END)
        ]
        if frame.empty:
            raise DataUnavailableError(
                symbol,
                self.name,
                f"no synthetic rows between {start} and {end}; synthetic data starts {SYNTHETIC_ORIGIN}",
            )
        return PriceHistory(ticker=symbol, frame=frame, source=self.name, synthetic=True)
