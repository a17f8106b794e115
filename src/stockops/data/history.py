"""`PriceHistory`: validated daily OHLCV for one ticker, plus where it came from.

The provenance travels with the prices (`source`, `synthetic`) so that nothing downstream (MLflow
tags, the CR status, a forecast response) can present synthetic demo data as the real market.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

OHLCV_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, eq=False)
class PriceHistory:
    """Daily prices for `ticker`.

    `frame` has a tz-naive, ascending, unique DatetimeIndex named "date" and float64 columns
    open, high, low, close, volume (split/dividend-adjusted prices, as `validate_ohlcv` produces).
    `source` is human-readable provenance ("csv:/data/AAPL.csv", "yfinance", "synthetic",
    "synthetic (fallback: ...)"); `synthetic` is True whenever the prices are not real market data.
    """

    ticker: str
    frame: pd.DataFrame
    source: str
    synthetic: bool

    def __post_init__(self) -> None:
        # Cheap structural checks only: the content was validated by whoever built the history.
        if not isinstance(self.frame.index, pd.DatetimeIndex) or self.frame.index.name != "date":
            raise ValueError(f"PriceHistory({self.ticker}): frame index must be a DatetimeIndex named 'date'")
        if tuple(self.frame.columns) != OHLCV_COLUMNS:
            raise ValueError(
                f"PriceHistory({self.ticker}): frame columns must be {list(OHLCV_COLUMNS)}, "
                f"got {list(self.frame.columns)}"
            )

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def first_date(self) -> date:
        return self.frame.index[0].date()

    @property
    def last_date(self) -> date:
        return self.frame.index[-1].date()

    @property
    def last_close(self) -> float:
        return float(self.frame["close"].iloc[-1])
