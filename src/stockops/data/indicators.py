"""Technical indicators as pure, vectorised, causal functions of a price series.

Each value at row t uses rows <= t only (no centred windows, no backward fills), so a feature row
never leaks the future into a training window. The conventions are the textbook ones, stated here so
the unit tests can check them by hand: Wilder's RSI, MACD from recursive (adjust=False) EMAs, and
sample (ddof=1) rolling standard deviations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# A rolling std below this is "no variation" (float noise), not a real spread to divide by.
_FLAT_STD = 1e-12


def log_returns(close: pd.Series) -> pd.Series:
    """ln(C_t / C_{t-1}); NaN on the first row."""
    return np.log(close / close.shift(1))


def wilder_rsi(close: pd.Series, period: int = 14) -> pd.Series:
    """Wilder's RSI in [0, 100].

    The first average gain/loss (row `period`) is the simple mean of the first `period` changes;
    after that avg_t = (avg_{t-1} * (period - 1) + x_t) / period, which is an EMA with alpha = 1/period
    seeded by that mean. RSI = 100 - 100 / (1 + avg_gain / avg_loss); 100 when avg_loss is 0 and
    50 when both averages are 0 (a flat market has no strength either way).
    """
    change = close.diff()
    gains = change.clip(lower=0.0)
    losses = (-change).clip(lower=0.0)
    average_gain = _wilder_average(gains, period)
    average_loss = _wilder_average(losses, period)
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = 100.0 - 100.0 / (1.0 + average_gain / average_loss)
    rsi = rsi.mask((average_loss == 0) & (average_gain > 0), 100.0)
    rsi = rsi.mask((average_loss == 0) & (average_gain == 0), 50.0)
    return rsi


def _wilder_average(values: pd.Series, period: int) -> pd.Series:
    seeded = pd.Series(np.nan, index=values.index, dtype="float64")
    if len(values) <= period:
        return seeded
    # values[0] is the NaN change of the first row; the first `period` changes are rows 1..period.
    seeded.iloc[period] = values.iloc[1 : period + 1].mean()
    seeded.iloc[period + 1 :] = values.iloc[period + 1 :]
    smoothed = seeded.iloc[period:].ewm(alpha=1.0 / period, adjust=False).mean()
    return smoothed.reindex(values.index)


def ema(values: pd.Series, span: int, *, min_periods: int | None = None) -> pd.Series:
    """Recursive EMA, alpha = 2 / (span + 1), seeded with the first value; NaN before `min_periods`."""
    return values.ewm(
        span=span, adjust=False, min_periods=span if min_periods is None else min_periods
    ).mean()


def macd(
    close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(macd, signal, histogram): EMA_fast - EMA_slow, its EMA over `signal` rows, and their difference."""
    line = ema(close, fast, min_periods=slow) - ema(close, slow)
    signal_line = ema(line, signal)
    return line, signal_line, line - signal_line


def rolling_volatility(returns: pd.Series, window: int = 20) -> pd.Series:
    """Sample standard deviation (ddof=1) of the last `window` returns, including today's."""
    return returns.rolling(window, min_periods=window).std()


def rolling_zscore(values: pd.Series, window: int = 20) -> pd.Series:
    """(x_t - mean) / std over the last `window` values including x_t (ddof=1).

    0 where the window has no spread (e.g. ^GSPC's decades of zero volume) or contains missing
    values, so a degenerate input gives a neutral feature instead of inf/NaN.
    """
    mean = values.rolling(window, min_periods=window).mean()
    std = values.rolling(window, min_periods=window).std()
    z = (values - mean) / std.where(std > _FLAT_STD)
    warm = pd.Series(np.arange(len(values)) >= window - 1, index=values.index)
    return z.where(~(warm & z.isna()), 0.0)
