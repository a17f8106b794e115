"""Volatility-regime risk label for a forecast: low / medium / high from recent realized volatility.

The label tells a caller how much to trust the width of the next few days, not where the price goes:
it is the annualised standard deviation of the last `RISK_WINDOW_DAYS` daily log returns. Thresholds
(annualised):

- ``low``     below 20 %   -- calm broad-index regime (the S&P 500's long-run average is about 15-19 %);
- ``medium``  20 % to 40 % -- typical single large-cap stock, or an index in a nervous market;
- ``high``    40 % and up  -- crisis regime for an index (2008, March 2020), or a high-beta name such
  as TSLA in an ordinary month.

Pure functions, so the thresholds are pinned by unit tests.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

RiskLabel = Literal["low", "medium", "high"]

TRADING_DAYS_PER_YEAR = 252
RISK_WINDOW_DAYS = 20
LOW_BELOW = 0.20
HIGH_FROM = 0.40


def annualized_volatility(log_returns: np.ndarray, window: int = RISK_WINDOW_DAYS) -> float | None:
    """Sample std of the last `window` finite daily log returns times sqrt(252); None if fewer than 2."""
    values = np.asarray(log_returns, dtype=np.float64).ravel()
    values = values[np.isfinite(values)][-window:]
    if values.size < 2:
        return None
    return float(np.std(values, ddof=1) * math.sqrt(TRADING_DAYS_PER_YEAR))


def risk_label(volatility: float | None) -> RiskLabel | None:
    """Map annualised volatility to a label; None (unknown) when volatility is unknown."""
    if volatility is None or not math.isfinite(volatility):
        return None
    if volatility < LOW_BELOW:
        return "low"
    if volatility < HIGH_FROM:
        return "medium"
    return "high"
