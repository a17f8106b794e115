"""The one feature builder: daily OHLCV -> indicator columns and the scale-free model inputs.

Why scale-free model inputs: the parent model learns on ^GSPC (prices 17 to 6000+) and is transferred
to stocks at 0.1 to 1000. Raw levels (close, SMA, MACD in points) would tie the network to the price
range it was trained on, the failure the architecture notes measured for price-level models. Every
column in MODEL_FEATURES is therefore a return, a ratio or a bounded oscillator, comparable across
tickers and decades. The raw indicators are kept beside them for plots, docs and debugging.

Every value at row t uses rows <= t only. EMA-based features (RSI, MACD) also depend, fading
geometrically, on where the history starts; after EMA_SETTLE_ROWS rows that influence is below 1e-6,
so callers computing features for serving should include at least that many rows of history before
the window they feed the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stockops.data.indicators import log_returns, macd, rolling_volatility, rolling_zscore, wilder_rsi

FEATURE_SET_VERSION = "ohlcv-scale-free-v1"

# History rows after which the start of the series no longer matters for EMA features (see module doc).
EMA_SETTLE_ROWS = 250


@dataclass(frozen=True)
class FeatureDescription:
    """One output column of `compute_features`, for docs and the stored feature spec."""

    name: str
    meaning: str
    model_input: bool


FEATURE_DESCRIPTIONS: tuple[FeatureDescription, ...] = (
    FeatureDescription("close", "adjusted close price (not a model input: not scale-free)", False),
    FeatureDescription("log_return", "ln(close_t / close_t-1), the daily log return", True),
    FeatureDescription("rsi14", "Wilder's 14-day RSI in [0, 100]", False),
    FeatureDescription("rsi_norm", "rsi14 / 100 - 0.5, RSI centred on 0 in [-0.5, 0.5]", True),
    FeatureDescription("macd", "EMA12 - EMA26 of close, in price units", False),
    FeatureDescription("macd_signal", "EMA9 of macd, in price units", False),
    FeatureDescription("macd_hist", "macd - macd_signal, in price units", False),
    FeatureDescription("macd_norm", "macd / close: trend strength as a fraction of price", True),
    FeatureDescription("macd_signal_norm", "macd_signal / close", True),
    FeatureDescription("macd_hist_norm", "macd_hist / close: momentum change as a fraction of price", True),
    FeatureDescription("sma_10", "10-day simple moving average of close", False),
    FeatureDescription("sma_20", "20-day simple moving average of close", False),
    FeatureDescription("sma_50", "50-day simple moving average of close", False),
    FeatureDescription("close_to_sma_10", "close / sma_10 - 1: distance from the 10-day average", True),
    FeatureDescription("close_to_sma_20", "close / sma_20 - 1: distance from the 20-day average", True),
    FeatureDescription("close_to_sma_50", "close / sma_50 - 1: distance from the 50-day average", True),
    FeatureDescription("volatility_20", "sample std of the last 20 daily log returns", True),
    FeatureDescription(
        "volume_z", "z-score of ln(1 + volume) over the last 20 days; 0 where volume is flat or missing", True
    ),
    FeatureDescription(
        "log_range_hl", "ln(high / low): the day's trading range (0 for close-only data)", True
    ),
    FeatureDescription("log_body_co", "ln(close / open): the day's move from the open", True),
)

MODEL_FEATURES: tuple[str, ...] = (
    "log_return",
    "rsi_norm",
    "macd_norm",
    "macd_signal_norm",
    "macd_hist_norm",
    "close_to_sma_10",
    "close_to_sma_20",
    "close_to_sma_50",
    "volatility_20",
    "volume_z",
    "log_range_hl",
    "log_body_co",
)

FEATURE_COLUMNS: tuple[str, ...] = tuple(description.name for description in FEATURE_DESCRIPTIONS)

_REQUIRED = ("open", "high", "low", "close", "volume")


def compute_features(ohlcv: pd.DataFrame) -> pd.DataFrame:
    """Indicator and model-input columns for validated daily OHLCV (see `validate_ohlcv`).

    Returns a frame indexed by date with FEATURE_COLUMNS (close, raw indicators, MODEL_FEATURES), with
    the warm-up rows (any model feature undefined, the first 49 for sma_50) dropped.
    """
    missing = [name for name in _REQUIRED if name not in ohlcv.columns]
    if missing:
        raise ValueError(f"compute_features: input lacks column(s) {missing}; pass validated OHLCV")
    if not isinstance(ohlcv.index, pd.DatetimeIndex) or not ohlcv.index.is_monotonic_increasing:
        raise ValueError("compute_features: input needs an ascending DatetimeIndex; pass validated OHLCV")
    prices = ohlcv[["open", "high", "low", "close"]].astype("float64")
    if (prices <= 0).to_numpy().any():
        raise ValueError("compute_features: prices must be > 0; pass validated OHLCV")

    close, open_, high, low = prices["close"], prices["open"], prices["high"], prices["low"]
    volume = ohlcv["volume"].astype("float64")
    returns = log_returns(close)
    rsi = wilder_rsi(close, 14)
    macd_line, macd_signal, macd_hist = macd(close)
    sma = {window: close.rolling(window, min_periods=window).mean() for window in (10, 20, 50)}

    columns = {
        "close": close,
        "log_return": returns,
        "rsi14": rsi,
        "rsi_norm": rsi / 100.0 - 0.5,
        "macd": macd_line,
        "macd_signal": macd_signal,
        "macd_hist": macd_hist,
        "macd_norm": macd_line / close,
        "macd_signal_norm": macd_signal / close,
        "macd_hist_norm": macd_hist / close,
        "sma_10": sma[10],
        "sma_20": sma[20],
        "sma_50": sma[50],
        "close_to_sma_10": close / sma[10] - 1.0,
        "close_to_sma_20": close / sma[20] - 1.0,
        "close_to_sma_50": close / sma[50] - 1.0,
        "volatility_20": rolling_volatility(returns, 20),
        "volume_z": rolling_zscore(np.log1p(volume.clip(lower=0.0)), 20),
        "log_range_hl": np.log(high / low),
        "log_body_co": np.log(close / open_),
    }
    features = pd.DataFrame(columns, index=ohlcv.index, columns=list(FEATURE_COLUMNS))
    features.index.name = "date"
    return features.dropna(subset=list(MODEL_FEATURES))
