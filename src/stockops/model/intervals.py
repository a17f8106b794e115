"""Prediction intervals: empirical residual quantiles, their coverage, and an EWMA-volatility baseline.

How the served interval is made (and why not a quantile head): per horizon step ``k`` the 10 % and 90 %
bounds are the shrunk point forecast plus the 10 % and 90 % empirical quantiles of the residuals
``actual - lambda * raw`` on the calibration windows (the later half of validation, never used for early
stopping). That is split-conformal in spirit and honest for three reasons: the offsets are measured on
data the weights never fitted; they describe the forecast that is actually served (after shrinkage, so
the median path stays the shrunk path and a lambda-0 model gets exactly the empirical k-day return
quantiles around the last close); and they need no change to the network, its loss or the transfer, so a
quantile head cannot quietly trade point accuracy for interval shape. The price is a constant width per
step: it does not widen in a volatile spell. That is exactly what the EWMA baseline measures against.

The baseline (RiskMetrics): ``sigma_t^2 = 0.94 sigma_{t-1}^2 + 0.06 r_t^2`` over daily log returns,
seeded with the mean square of the TRAINING returns and run causally (at a forecast origin it has seen
returns up to that day only), Gaussian k-day quantiles ``z_q sigma_t sqrt(k)`` around the random walk.

Scores, on the test part: coverage of the 10-90 % interval (nominal 0.80) and of each one-sided bound,
and the mean pinball loss over the 10/50/90 % quantiles in price units (the 50 % quantile is the point
forecast for the model and the last close for the baseline). Lower pinball is better.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

INTERVAL_QUANTILES = (0.1, 0.9)
PINBALL_QUANTILES = (0.1, 0.5, 0.9)
EWMA_LAMBDA = 0.94


def residual_offsets(
    point_log_ret: np.ndarray, actual_log_ret: np.ndarray, quantiles: tuple[float, ...] = INTERVAL_QUANTILES
) -> np.ndarray:
    """``(len(quantiles), horizon)`` empirical quantiles of ``actual - point`` per step."""
    point, actual = np.asarray(point_log_ret, np.float64), np.asarray(actual_log_ret, np.float64)
    if point.ndim != 2 or point.shape != actual.shape or point.shape[0] < 2:
        raise ValueError(
            f"point and actual must both be (n >= 2, horizon), got {point.shape}, {actual.shape}"
        )
    return np.quantile(actual - point, quantiles, axis=0)


def coverage(actual: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Share of values inside ``[low, high]`` (bounds included)."""
    actual = np.asarray(actual, np.float64)
    return float(np.mean((actual >= low) & (actual <= high)))


def share_below(actual: np.ndarray, bound: np.ndarray) -> float:
    """Share of values at or below ``bound``: the one-sided coverage of a quantile forecast."""
    return float(np.mean(np.asarray(actual, np.float64) <= bound))


def pinball_loss(actual: np.ndarray, predicted_quantile: np.ndarray, q: float) -> float:
    """Mean pinball (quantile) loss ``max(q (y - f), (q - 1) (y - f))``."""
    diff = np.asarray(actual, np.float64) - np.asarray(predicted_quantile, np.float64)
    return float(np.mean(np.maximum(q * diff, (q - 1.0) * diff)))


def mean_pinball(actual: np.ndarray, quantile_forecasts: dict[float, np.ndarray]) -> float:
    """The pinball loss averaged over the given quantile levels."""
    return float(np.mean([pinball_loss(actual, f, q) for q, f in quantile_forecasts.items()]))


def ewma_volatility(
    daily_log_returns: np.ndarray, init_variance: float, lam: float = EWMA_LAMBDA
) -> np.ndarray:
    """Causal RiskMetrics volatility: element ``t`` has seen returns ``0..t`` only."""
    r = np.asarray(daily_log_returns, np.float64)
    if not 0.0 < lam < 1.0:
        raise ValueError(f"lam must be in (0, 1), got {lam}")
    out = np.empty_like(r)
    var = float(init_variance)
    for t, value in enumerate(r):
        var = lam * var + (1.0 - lam) * value * value
        out[t] = var
    return np.sqrt(out)


def gaussian_quantiles(sigma: np.ndarray, horizon: int, q: float) -> np.ndarray:
    """``(n, horizon)`` k-day log-return quantiles ``z_q sigma sqrt(k)`` of a driftless Gaussian walk."""
    z = NormalDist().inv_cdf(q)
    steps = np.sqrt(np.arange(1, horizon + 1, dtype=np.float64))
    return z * np.asarray(sigma, np.float64)[:, None] * steps[None, :]
