"""The numbers behind the test-split diagnostic charts (pure; :mod:`stockops.model.plots_evaluation`).

Why these and not a price-over-time chart: a 1-day-ahead price forecast of any near-random-walk model
lies on top of the actual prices at the scale of years, so that chart "looks perfect" for a model that
learned nothing. What can show failure:

* predicted vs realised **returns** (k-step cumulative log returns from the window's last close): a
  model without information gives a cloud with a flat least-squares line (slope ~0); a calibrated one a
  slope near 1. The slope is that of realised on predicted (a forecast whose moves are right but twice
  too large has slope 0.5);
* **rolling skill** ``1 - RMSE_model / RMSE_baseline`` over a window of consecutive forecast origins,
  against the random walk and against the walk with the training drift: it shows whether a positive
  test skill is spread over the test years or comes from one episode.

Skills here are in price units, computed exactly as :func:`stockops.model.evaluation.evaluate` does, so a
chart's numbers match the metrics beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stockops.model.baselines import random_walk_prices, random_walk_with_drift_prices
from stockops.model.evaluation import SplitPredictions

DEFAULT_ROLLING_WINDOW = 60  # sessions: about a quarter of trading
CONSTANT_SPREAD = 1e-12  # log-return spread below which a forecast counts as constant (no slope)


@dataclass(frozen=True)
class LineFit:
    """Least-squares line ``y = slope * x + intercept``."""

    slope: float
    intercept: float


@dataclass(frozen=True, eq=False)
class SplitReturns:
    """Cumulative log returns from each window's last close, ``(n, horizon)``."""

    predicted: np.ndarray
    realised: np.ndarray


def split_returns(predictions: SplitPredictions) -> SplitReturns:
    """The predicted and realised k-step log returns behind a split's prices."""
    base = np.asarray(predictions.last_close, np.float64)[:, None]
    return SplitReturns(
        predicted=np.log(np.asarray(predictions.predicted, np.float64) / base),
        realised=np.log(np.asarray(predictions.actual, np.float64) / base),
    )


def least_squares_line(x: np.ndarray, y: np.ndarray) -> LineFit | None:
    """The ordinary least-squares fit of ``y`` on ``x``; None when ``x`` is constant (no slope exists:
    the random walk's all-zero forecast) or there are fewer than two points."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d of one length, got {x.shape} and {y.shape}")
    if len(x) < 2:
        return None
    if float(np.ptp(x)) <= CONSTANT_SPREAD:
        return None
    dx = x - x.mean()
    slope = float(dx @ (y - y.mean())) / float(dx @ dx)
    return LineFit(slope=slope, intercept=float(y.mean() - slope * x.mean()))


def skill(predicted: np.ndarray, actual: np.ndarray, baseline: np.ndarray) -> float | None:
    """``1 - RMSE(predicted) / RMSE(baseline)`` against ``actual``; None when the baseline is exact."""
    actual = np.asarray(actual, np.float64)
    base_rmse = float(np.sqrt(np.mean((np.asarray(baseline, np.float64) - actual) ** 2)))
    if base_rmse == 0.0:
        return None
    return 1.0 - float(np.sqrt(np.mean((np.asarray(predicted, np.float64) - actual) ** 2))) / base_rmse


def rolling_window_size(n: int, requested: int = DEFAULT_ROLLING_WINDOW) -> int:
    """The window the chart uses: ``requested``, shrunk on a short test part so that at least half of
    it still gets a value (and never below 2 origins)."""
    if requested < 2:
        raise ValueError(f"the rolling window must be at least 2, got {requested}")
    return max(2, min(requested, n // 2))


def rolling_skill(predicted: np.ndarray, actual: np.ndarray, baseline: np.ndarray, window: int) -> np.ndarray:
    """Skill over each run of ``window`` consecutive origins, ``(n,)``: element ``i`` scores origins
    ``i - window + 1 .. i`` (NaN before the first full window and where the baseline is exact there)."""
    pred, act, base = (np.asarray(a, np.float64) for a in (predicted, actual, baseline))
    if pred.ndim != 1 or pred.shape != act.shape or base.shape != act.shape:
        raise ValueError(f"predicted, actual and baseline must be 1-d of one length, got {pred.shape}")
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    out = np.full(len(act), np.nan)
    if len(act) < window:
        return out

    def window_means(sq: np.ndarray) -> np.ndarray:
        csum = np.concatenate([[0.0], np.cumsum(sq)])
        return (csum[window:] - csum[:-window]) / window

    model_ms = window_means((pred - act) ** 2)
    base_ms = window_means((base - act) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = 1.0 - np.sqrt(np.maximum(model_ms, 0.0)) / np.sqrt(np.maximum(base_ms, 0.0))
    values[base_ms <= 0.0] = np.nan
    out[window - 1 :] = values
    return out


@dataclass(frozen=True, eq=False)
class RollingSkill:
    """Rolling skill of one horizon step against both walks, dated by the window's last origin."""

    step: int
    window: int
    vs_random_walk: np.ndarray  # (n,)
    vs_drift: np.ndarray  # (n,)
    whole_vs_random_walk: float | None  # over the whole test part (the metrics' per-step skill)
    whole_vs_drift: float | None


def rolling_skills(
    predictions: SplitPredictions, steps: tuple[int, ...], *, train_drift: float, window: int
) -> list[RollingSkill]:
    """:class:`RollingSkill` for each 1-based step in ``steps`` (price units, as the metrics)."""
    horizon = predictions.predicted.shape[1]
    naive = random_walk_prices(predictions.last_close, horizon)
    drift = random_walk_with_drift_prices(predictions.last_close, horizon, train_drift)
    out = []
    for step in steps:
        if not 1 <= step <= horizon:
            raise ValueError(f"step must be between 1 and {horizon}, got {step}")
        k = step - 1
        pred, act = predictions.predicted[:, k], predictions.actual[:, k]
        out.append(
            RollingSkill(
                step=step,
                window=window,
                vs_random_walk=rolling_skill(pred, act, naive[:, k], window),
                vs_drift=rolling_skill(pred, act, drift[:, k], window),
                whole_vs_random_walk=skill(pred, act, naive[:, k]),
                whole_vs_drift=skill(pred, act, drift[:, k]),
            )
        )
    return out
