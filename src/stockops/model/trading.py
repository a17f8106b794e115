"""A long/flat trading rule on the forecast's sign, with transaction costs, next to buy-and-hold.

Pure functions over daily series (no dates, no I/O), so every figure can be checked by hand:

* position ``p_t = 1`` when the 1-day forecast made at the close of day ``t`` is up, else ``0`` (flat,
  zero return); a no-edge model (forecast exactly 0) is always flat;
* net return of day ``t+1``: ``p_t * r_{t+1} - cost * |p_t - p_{t-1}|`` (``r`` simple returns, ``cost``
  a fraction per unit of position traded, charged when the position changes; ``p_{-1} = 0``);
* annualised return (geometric, ``periods`` days a year), annualised volatility, Sharpe ratio (zero
  risk-free rate; None for a flat series), maximum drawdown of the equity curve (a fraction, <= 0) and
  turnover (mean absolute position change per day, times ``periods``: round trips a year x 2).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict

TRADING_DAYS = 252
DEFAULT_COST = 0.0005  # 5 basis points per unit traded


class TradingMetrics(BaseModel):
    model_config = ConfigDict(frozen=True)

    annual_return: float
    annual_volatility: float
    sharpe: float | None
    max_drawdown: float
    turnover: float
    days: int


def long_flat_positions(forecast: np.ndarray) -> np.ndarray:
    """1 where the forecast return is strictly positive, else 0."""
    return (np.asarray(forecast, np.float64) > 0.0).astype(np.float64)


def strategy_returns(positions: np.ndarray, realised: np.ndarray, cost: float = DEFAULT_COST) -> np.ndarray:
    """Daily net returns of holding ``positions[t]`` over ``realised[t]`` (the next day's return)."""
    p, r = np.asarray(positions, np.float64), np.asarray(realised, np.float64)
    if p.shape != r.shape or p.ndim != 1:
        raise ValueError(f"positions and realised must be equal 1-D arrays, got {p.shape}, {r.shape}")
    trades = np.abs(np.diff(p, prepend=0.0))
    return p * r - cost * trades


def max_drawdown(returns: np.ndarray) -> float:
    """Largest fall of the equity curve ``prod(1 + r)`` from its running peak (a fraction <= 0)."""
    equity = np.cumprod(1.0 + np.asarray(returns, np.float64))
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    return float(np.min(equity / peak - 1.0, initial=0.0))


def performance(
    returns: np.ndarray, positions: np.ndarray | None = None, periods: int = TRADING_DAYS
) -> TradingMetrics:
    """Annualised figures of a daily return series (``positions`` for turnover; None = always long)."""
    r = np.asarray(returns, np.float64)
    if r.ndim != 1 or r.size == 0:
        raise ValueError(f"returns must be a non-empty 1-D array, got shape {r.shape}")
    growth = float(np.prod(1.0 + r))
    annual_return = growth ** (periods / r.size) - 1.0 if growth > 0 else -1.0
    vol = float(np.std(r, ddof=1)) * math.sqrt(periods) if r.size > 1 else 0.0
    sharpe = float(np.mean(r)) * periods / vol if vol > 0 else None
    p = np.ones_like(r) if positions is None else np.asarray(positions, np.float64)
    turnover = float(np.mean(np.abs(np.diff(p, prepend=0.0)))) * periods
    return TradingMetrics(
        annual_return=annual_return,
        annual_volatility=vol,
        sharpe=sharpe,
        max_drawdown=max_drawdown(r),
        turnover=turnover,
        days=int(r.size),
    )
