"""Test-split metrics in PRICE units, always beside the random-walk baseline.

Predictions and truths arrive as cumulative log returns from each window's last close and are turned
into prices (``C[t] * exp(r)``) before any metric is computed, so RMSE/MAE read in dollars (index points)
and compare directly with the naive forecast (last close carried forward):

* ``rmse``, ``mae``, ``mape`` (percent) over every window and step, and per step ahead;
* ``naive_rmse``/``naive_mae``/``naive_mape`` of the random walk on the same windows;
* ``skill = 1 - rmse / naive_rmse`` (> 0: better than the random walk; None if the naive error is 0);
* ``directional_accuracy``: share of (window, step) pairs where the predicted move from the last close
  has the sign of the actual move, scored only where both moves are non-zero (``directional_count`` says
  how many pairs were scored). A predicted zero move is the random walk's "no opinion", not a wrong
  call: counting it as a miss made a lambda-0 model read 0.000, as if it were always wrong. When the model
  predicts no move at all the accuracy is None ("no direction") and the count 0;
* a second baseline, the random walk **with drift**: ``close * exp(k * mu)`` with ``mu`` the mean daily
  log return of the TRAINING targets (``train_drift``), and ``skill_vs_drift`` against it. A model that
  only learned the training period's drift beats the zero-drift walk in a rising market but not this one;
* ``up_rate``: the always-up forecast's directional accuracy over the pairs with a real move (the base
  rate that ``directional_accuracy`` has to beat; stocks rise on slightly more than half of all days);
* ``skill_ci_low``/``skill_ci_high`` (and the same for ``skill_vs_drift``): a 95 % moving-block bootstrap
  interval (blocks of at least the horizon, fixed seed; :mod:`stockops.model.bootstrap`). A skill whose
  interval straddles 0 is not evidence of an edge;
* with prediction intervals (:mod:`stockops.model.intervals`): ``interval_coverage`` of the 10-90 %
  interval (nominal 0.80), ``interval_below_low``/``interval_below_high`` (nominal 0.10/0.90), the mean
  10/50/90 % ``pinball`` loss in price units, and the same for the EWMA-volatility Gaussian baseline
  (``ewma_coverage``, ``ewma_pinball``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from stockops.model.baselines import random_walk_prices, random_walk_with_drift_prices
from stockops.model.bootstrap import DEFAULT_LEVEL, DEFAULT_REPS, DEFAULT_SEED, block_length, skill_interval
from stockops.model.intervals import (
    INTERVAL_QUANTILES,
    coverage,
    gaussian_quantiles,
    mean_pinball,
    share_below,
)


@dataclass(frozen=True)
class SplitPredictions:
    """Prices of one split's windows, for charts and inspection (row i is the window anchored at
    ``anchor_dates[i]``; column k is k+1 trading days ahead, forecasting ``target_dates[i, k]``)."""

    anchor_dates: pd.DatetimeIndex  # (n,)
    target_dates: np.ndarray  # (n, horizon) datetime64[ns]
    last_close: np.ndarray  # (n,)
    predicted: np.ndarray  # (n, horizon) prices
    actual: np.ndarray  # (n, horizon) prices
    low: np.ndarray | None = None  # (n, horizon) 10 % bound prices
    high: np.ndarray | None = None  # (n, horizon) 90 % bound prices

    def to_frame(self) -> pd.DataFrame:
        """Long format: one row per (anchor, step) with predicted, actual and naive close."""
        n, horizon = self.predicted.shape
        return pd.DataFrame(
            {
                "anchor_date": np.repeat(self.anchor_dates.to_numpy(), horizon),
                "step": np.tile(np.arange(1, horizon + 1), n),
                "target_date": self.target_dates.reshape(-1),
                "last_close": np.repeat(self.last_close, horizon),
                "predicted_close": self.predicted.reshape(-1),
                "actual_close": self.actual.reshape(-1),
            }
        )


class HorizonMetrics(BaseModel):
    model_config = ConfigDict(frozen=True)

    step: int = Field(description="Trading days ahead (1-based).")
    rmse: float
    mae: float
    mape: float = Field(description="Percent.")
    naive_rmse: float
    naive_mae: float
    skill: float | None
    directional_accuracy: float | None
    directional_count: int = Field(default=0, description="Pairs with a non-zero predicted and actual move.")
    drift_rmse: float | None = None
    skill_vs_drift: float | None = None
    skill_ci_low: float | None = None
    skill_ci_high: float | None = None
    skill_vs_drift_ci_low: float | None = None
    skill_vs_drift_ci_high: float | None = None
    up_rate: float | None = Field(default=None, description="Always-up directional accuracy.")
    interval_coverage: float | None = Field(default=None, description="Share inside the 10-90 % interval.")
    interval_below_low: float | None = None
    interval_below_high: float | None = None
    pinball: float | None = Field(default=None, description="Mean 10/50/90 % pinball loss (price units).")
    ewma_coverage: float | None = None
    ewma_pinball: float | None = None


class EvaluationReport(BaseModel):
    """Test-split metrics; ``model_dump(mode="json")`` is the ``metrics.json`` artifact."""

    model_config = ConfigDict(frozen=True)

    rmse: float
    mae: float
    mape: float = Field(description="Percent.")
    naive_rmse: float
    naive_mae: float
    naive_mape: float = Field(description="Percent.")
    skill: float | None = Field(description="1 - rmse / naive_rmse; > 0 beats the random walk.")
    directional_accuracy: float | None
    directional_count: int = Field(
        description="(window, step) pairs with a non-zero predicted and actual move (0: no direction)."
    )
    drift_rmse: float | None = Field(default=None, description="RMSE of the random walk with train drift.")
    skill_vs_drift: float | None = Field(default=None, description="1 - rmse / drift_rmse.")
    skill_ci_low: float | None = Field(default=None, description="95 % block-bootstrap interval of skill.")
    skill_ci_high: float | None = None
    skill_vs_drift_ci_low: float | None = None
    skill_vs_drift_ci_high: float | None = None
    up_rate: float | None = Field(default=None, description="Always-up directional accuracy (base rate).")
    train_drift: float = Field(default=0.0, description="Mean daily log return of the training targets.")
    interval_quantiles: list[float] | None = Field(default=None, description="Quantiles of the interval.")
    interval_coverage: float | None = Field(
        default=None, description="Share of test (window, step) pairs inside the 10-90 % interval (0.80)."
    )
    interval_below_low: float | None = Field(default=None, description="Share at or below the 10 % bound.")
    interval_below_high: float | None = Field(default=None, description="Share at or below the 90 % bound.")
    pinball: float | None = Field(default=None, description="Mean 10/50/90 % pinball loss (price units).")
    ewma_coverage: float | None = Field(default=None, description="Coverage of the EWMA Gaussian interval.")
    ewma_pinball: float | None = Field(default=None, description="Pinball loss of the EWMA baseline.")
    bootstrap_block: int | None = Field(default=None, description="Block length (windows).")
    bootstrap_reps: int | None = None
    bootstrap_seed: int | None = None
    n_windows: int
    horizon_days: int
    test_start: date = Field(description="First forecast origin (anchor day) in the test split.")
    test_end: date = Field(description="Last forecast origin (anchor day) in the test split.")
    per_horizon: list[HorizonMetrics]

    def flat_metrics(self) -> dict[str, float]:
        """Scalar metrics for MLflow (``rmse``, ``skill``, ``rmse_h1``, ...); undefined ones left out."""
        flat: dict[str, Any] = {
            "rmse": self.rmse,
            "mae": self.mae,
            "mape": self.mape,
            "naive_rmse": self.naive_rmse,
            "naive_mae": self.naive_mae,
            "naive_mape": self.naive_mape,
            "skill": self.skill,
            "directional_accuracy": self.directional_accuracy,
            "n_windows": float(self.n_windows),
            **{name: getattr(self, name) for name in BASELINE_FIELDS},
        }
        for h in self.per_horizon:
            for name in (
                "rmse",
                "mae",
                "mape",
                "naive_rmse",
                "skill",
                "directional_accuracy",
                *BASELINE_FIELDS,
            ):
                flat[f"{name}_h{h.step}"] = getattr(h, name)
        return {k: float(v) for k, v in flat.items() if v is not None}


INTERVAL_FIELDS = (
    "interval_coverage",
    "interval_below_low",
    "interval_below_high",
    "pinball",
    "ewma_coverage",
    "ewma_pinball",
)
BASELINE_FIELDS = (
    "drift_rmse",
    "skill_vs_drift",
    "skill_ci_low",
    "skill_ci_high",
    "skill_vs_drift_ci_low",
    "skill_vs_drift_ci_high",
    "up_rate",
    *INTERVAL_FIELDS,
)


def _rmse(err: np.ndarray) -> float:
    return float(np.sqrt(np.mean(err**2)))


def _skill(rmse: float, naive_rmse: float) -> float | None:
    return None if naive_rmse == 0.0 else 1.0 - rmse / naive_rmse


def directional_hits(pred_log_ret: np.ndarray, true_log_ret: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(hit, counted)`` boolean arrays: a pair is counted when the predicted and the actual move are both
    non-zero, and a hit when they have the same sign."""
    counted = (true_log_ret != 0.0) & (pred_log_ret != 0.0)
    hit = counted & (np.sign(pred_log_ret) == np.sign(true_log_ret))
    return hit, counted


def _directional(hit: np.ndarray, counted: np.ndarray) -> float | None:
    total = int(counted.sum())
    return None if total == 0 else float(hit.sum()) / total


def _check_inputs(
    pred: np.ndarray, true: np.ndarray, last_close: np.ndarray, dates: Sequence[Any] | pd.DatetimeIndex
) -> pd.DatetimeIndex:
    if pred.ndim != 2 or pred.shape != true.shape:
        raise ValueError(
            f"pred_log_ret and true_log_ret must both be (n, horizon), got {pred.shape} and {true.shape}"
        )
    n = pred.shape[0]
    if n == 0:
        raise ValueError("nothing to evaluate: 0 windows")
    if last_close.shape != (n,):
        raise ValueError(f"last_close must have shape ({n},), got {last_close.shape}")
    if len(dates) != n:
        raise ValueError(f"dates must have {n} entries (one per window), got {len(dates)}")
    for name, arr in (("pred_log_ret", pred), ("true_log_ret", true), ("last_close", last_close)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains non-finite values")
    if np.any(last_close <= 0):
        raise ValueError("last_close must be positive")
    return pd.DatetimeIndex(dates)


def _intervals(
    sq: np.ndarray, naive_sq: np.ndarray, drift_sq: np.ndarray, block: int, reps: int, seed: int
) -> dict[str, float | None]:
    """Bootstrap intervals of skill vs both walks from per-window squared errors ``(n,)``."""

    def clean(v: float) -> float | None:
        return v if np.isfinite(v) else None

    lo, hi = skill_interval(sq, naive_sq, block=block, reps=reps, seed=seed, level=DEFAULT_LEVEL)
    dlo, dhi = skill_interval(sq, drift_sq, block=block, reps=reps, seed=seed, level=DEFAULT_LEVEL)
    return {
        "skill_ci_low": clean(lo),
        "skill_ci_high": clean(hi),
        "skill_vs_drift_ci_low": clean(dlo),
        "skill_vs_drift_ci_high": clean(dhi),
    }


def _up_rate(true: np.ndarray) -> float | None:
    """The always-up forecast's accuracy over the pairs with a real move (it calls every one)."""
    moved = true != 0.0
    total = int(moved.sum())
    return None if total == 0 else float(((true > 0) & moved).sum()) / total


def _interval_scores(
    true_price: np.ndarray,
    pred_price: np.ndarray,
    base: np.ndarray,
    interval: tuple[np.ndarray, np.ndarray] | None,
    ewma_sigma: np.ndarray | None,
) -> dict[str, float | None]:
    """Coverage and pinball of the model's interval and of the EWMA baseline (any shape of pairs)."""
    out: dict[str, float | None] = dict.fromkeys(INTERVAL_FIELDS)
    q_low, q_high = INTERVAL_QUANTILES
    if interval is not None:
        low, high = base * np.exp(interval[0]), base * np.exp(interval[1])
        out["interval_coverage"] = coverage(true_price, low, high)
        out["interval_below_low"] = share_below(true_price, low)
        out["interval_below_high"] = share_below(true_price, high)
        out["pinball"] = mean_pinball(true_price, {q_low: low, 0.5: pred_price, q_high: high})
    if ewma_sigma is not None:
        low, high = base * np.exp(ewma_sigma[0]), base * np.exp(ewma_sigma[1])
        out["ewma_coverage"] = coverage(true_price, low, high)
        out["ewma_pinball"] = mean_pinball(
            true_price, {q_low: low, 0.5: np.broadcast_to(base, true_price.shape), q_high: high}
        )
    return out


def evaluate(
    pred_log_ret: np.ndarray,
    true_log_ret: np.ndarray,
    last_close: np.ndarray,
    dates: Sequence[Any] | pd.DatetimeIndex,
    *,
    train_drift: float = 0.0,
    bootstrap_reps: int = DEFAULT_REPS,
    seed: int = DEFAULT_SEED,
    interval: tuple[np.ndarray, np.ndarray] | None = None,
    ewma_sigma: np.ndarray | None = None,
) -> EvaluationReport:
    """Compare predictions with truth (and both random walks) in price units; ``dates`` are the anchors.

    ``train_drift`` is the mean daily log return of the training part (the drift walk's slope).
    ``interval`` is the model's ``(low, high)`` 10 %/90 % log-return bounds ``(n, horizon)``; ``ewma_sigma``
    the EWMA daily volatility at each anchor ``(n,)`` for the Gaussian baseline interval."""
    pred = np.asarray(pred_log_ret, dtype=np.float64)
    true = np.asarray(true_log_ret, dtype=np.float64)
    last_close = np.asarray(last_close, dtype=np.float64)
    index = _check_inputs(pred, true, last_close, dates)
    n, horizon = pred.shape

    base = last_close[:, None]
    pred_price = base * np.exp(pred)
    true_price = base * np.exp(true)
    naive_price = random_walk_prices(last_close, horizon)
    drift_price = random_walk_with_drift_prices(last_close, horizon, train_drift)
    err = pred_price - true_price
    naive_err = naive_price - true_price
    drift_err = drift_price - true_price
    block = block_length(n, horizon)
    pct = 100.0 * np.abs(err) / true_price
    naive_pct = 100.0 * np.abs(naive_err) / true_price
    hit, counted = directional_hits(pred, true)
    if interval is not None:
        interval = (np.asarray(interval[0], np.float64), np.asarray(interval[1], np.float64))
        if interval[0].shape != pred.shape or interval[1].shape != pred.shape:
            raise ValueError(f"interval bounds must have shape {pred.shape}")
    ewma = None
    if ewma_sigma is not None:
        sigma = np.asarray(ewma_sigma, np.float64)
        if sigma.shape != (n,):
            raise ValueError(f"ewma_sigma must have shape ({n},), got {sigma.shape}")
        ewma = (
            gaussian_quantiles(sigma, horizon, INTERVAL_QUANTILES[0]),
            gaussian_quantiles(sigma, horizon, INTERVAL_QUANTILES[1]),
        )

    def step_intervals(k: int) -> dict[str, float | None]:
        return _interval_scores(
            true_price[:, k],
            pred_price[:, k],
            base[:, 0],
            None if interval is None else (interval[0][:, k], interval[1][:, k]),
            None if ewma is None else (ewma[0][:, k], ewma[1][:, k]),
        )

    per_horizon = []
    for k in range(horizon):
        rmse_k, naive_k, drift_k = _rmse(err[:, k]), _rmse(naive_err[:, k]), _rmse(drift_err[:, k])
        per_horizon.append(
            HorizonMetrics(
                step=k + 1,
                rmse=rmse_k,
                mae=float(np.mean(np.abs(err[:, k]))),
                mape=float(np.mean(pct[:, k])),
                naive_rmse=naive_k,
                naive_mae=float(np.mean(np.abs(naive_err[:, k]))),
                skill=_skill(rmse_k, naive_k),
                directional_accuracy=_directional(hit[:, k], counted[:, k]),
                directional_count=int(counted[:, k].sum()),
                drift_rmse=drift_k,
                skill_vs_drift=_skill(rmse_k, drift_k),
                up_rate=_up_rate(true[:, k]),
                **step_intervals(k),
                **_intervals(
                    err[:, k] ** 2, naive_err[:, k] ** 2, drift_err[:, k] ** 2, block, bootstrap_reps, seed
                ),
            )
        )
    rmse, naive_rmse, drift_rmse = _rmse(err), _rmse(naive_err), _rmse(drift_err)
    return EvaluationReport(
        rmse=rmse,
        mae=float(np.mean(np.abs(err))),
        mape=float(np.mean(pct)),
        naive_rmse=naive_rmse,
        naive_mae=float(np.mean(np.abs(naive_err))),
        naive_mape=float(np.mean(naive_pct)),
        skill=_skill(rmse, naive_rmse),
        directional_accuracy=_directional(hit, counted),
        directional_count=int(counted.sum()),
        drift_rmse=drift_rmse,
        skill_vs_drift=_skill(rmse, drift_rmse),
        up_rate=_up_rate(true),
        train_drift=float(train_drift),
        interval_quantiles=list(INTERVAL_QUANTILES) if interval is not None else None,
        **_interval_scores(true_price, pred_price, base, interval, ewma),
        bootstrap_block=block,
        bootstrap_reps=bootstrap_reps,
        bootstrap_seed=seed,
        **_intervals(
            (err**2).sum(axis=1),
            (naive_err**2).sum(axis=1),
            (drift_err**2).sum(axis=1),
            block,
            bootstrap_reps,
            seed,
        ),
        n_windows=n,
        horizon_days=horizon,
        test_start=index[0].date(),
        test_end=index[-1].date(),
        per_horizon=per_horizon,
    )
