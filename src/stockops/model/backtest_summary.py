"""What a walk-forward backtest reports, and the pure maths that pools its folds.

Per fold (:class:`FoldResult`): the dates it learned from and was tested on, skill against both random
walks with 95 % block-bootstrap intervals, coverage of the 10-90 % interval, directional accuracy beside
the fold's own always-up rate, and the shrinkage lambdas validation chose. Every figure is the fold's
held-out test block, scored by :func:`stockops.model.evaluation.evaluate`.

Across folds (:class:`AggregateSkill`): median and mean fold skill and the share of folds with skill
>= 0 (how often the model at least matched the random walk), plus the pooled skill of all out-of-sample
windows with its block-bootstrap interval, pooled coverage and direction.

Trading (:class:`TradingBacktest`): the folds' test anchors are one contiguous run of sessions, so
their 1-day forecasts are traded as one series with the long/flat rule of :mod:`stockops.model.trading`
(long when the forecast is up, else flat; costs on every position change), beside buy-and-hold of the
same days (which pays one entry cost). A no-edge model (lambda 0) is flat throughout: no return, no
Sharpe. Nothing in-sample enters any figure.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from stockops.model.bootstrap import DEFAULT_LEVEL, DEFAULT_REPS, block_length, skill_interval
from stockops.model.evaluation import SplitPredictions, directional_hits
from stockops.model.intervals import coverage
from stockops.model.trading import TradingMetrics, long_flat_positions, performance, strategy_returns


class FoldResult(BaseModel):
    """One fold's held-out test block (anchors = forecast origins)."""

    model_config = ConfigDict(frozen=True)

    fold: int = Field(description="1-based, in time order.")
    data_start: date = Field(description="First feature row the fold's experiment used.")
    train_end: date = Field(description="Last target day of the fold's train part.")
    val_end: date = Field(description="Last target day of its validation part (before the gap).")
    test_start: date = Field(description="First test anchor.")
    test_end: date = Field(description="Last test anchor.")
    last_target: date = Field(description="Last day a test window forecasts.")
    train_windows: int
    n_windows: int = Field(description="Test windows.")
    skill: float | None
    skill_ci_low: float | None = None
    skill_ci_high: float | None = None
    skill_vs_drift: float | None = None
    skill_vs_drift_ci_low: float | None = None
    skill_vs_drift_ci_high: float | None = None
    interval_coverage: float | None = Field(default=None, description="Share inside 10-90 % (0.80).")
    directional_accuracy: float | None = None
    directional_count: int = 0
    up_rate: float | None = Field(default=None, description="The fold's always-up accuracy (base rate).")
    lambdas: list[float] | None = Field(default=None, description="Shrinkage lambda per step.")
    no_edge: bool = False
    best_epoch: int = 0
    epochs_run: int = 0
    parent_cutoff: date | None = Field(default=None, description="Last day the fold's parent saw.")

    def scalars(self) -> dict[str, float]:
        """The fold's figures as flat scalars (known ones only), for MLflow's ``step = fold``."""
        row: dict[str, Any] = {name: getattr(self, name) for name in FOLD_SCALARS}
        row["lambda_h1"] = self.lambdas[0] if self.lambdas else None
        return {k: float(v) for k, v in row.items() if v is not None}


FOLD_SCALARS = (
    "skill",
    "skill_ci_low",
    "skill_ci_high",
    "skill_vs_drift",
    "interval_coverage",
    "directional_accuracy",
    "up_rate",
    "n_windows",
    "train_windows",
)


class AggregateSkill(BaseModel):
    model_config = ConfigDict(frozen=True)

    median_skill: float | None = Field(description="Median of the folds' skill vs the random walk.")
    mean_skill: float | None
    min_skill: float | None
    max_skill: float | None
    positive_fraction: float | None = Field(description="Share of folds with skill >= 0.")
    median_skill_vs_drift: float | None
    pooled_skill: float | None = Field(description="Skill of all out-of-sample windows together.")
    pooled_skill_ci_low: float | None
    pooled_skill_ci_high: float | None
    interval_coverage: float | None = Field(description="Pooled share inside the 10-90 % interval.")
    directional_accuracy: float | None
    directional_count: int
    up_rate: float | None
    n_windows: int


class TradingBacktest(BaseModel):
    """Long/flat on the sign of the 1-day forecast over the out-of-sample days, beside buy-and-hold."""

    model_config = ConfigDict(frozen=True)

    rule: Literal["long-flat on the 1-day forecast sign"] = "long-flat on the 1-day forecast sign"
    cost: float = Field(description="Fraction of a unit position paid per unit traded.")
    start: date = Field(description="First day a position is taken (at its close).")
    end: date = Field(description="Last day a position is taken.")
    exposure: float = Field(description="Share of days the rule is long.")
    strategy: TradingMetrics
    buy_hold: TradingMetrics


class WalkForwardSummary(BaseModel):
    """``model_dump(mode="json")`` is the ``backtest.json`` artifact."""

    model_config = ConfigDict(frozen=True)

    ticker: str
    kind: Literal["scratch", "child"]
    parent: str | None = Field(default=None, description="Parent ticker, retrained per fold (children).")
    synthetic: bool
    folds: int
    tail_fraction: float
    fold_windows: int = Field(description="Test windows per fold.")
    context_days: int
    horizon_days: int
    seed: int
    per_fold: list[FoldResult]
    aggregate: AggregateSkill
    trading: TradingBacktest
    evaluated_on: str = (
        "walk-forward test blocks (expanding window; each fold trained only on days before its block)"
    )

    def compact(self) -> dict[str, Any]:
        """The few figures the CR status shows (snake_case, rounded, unknown ones left out), small
        enough for the trainer's termination message."""
        a, t = self.aggregate, self.trading
        values: dict[str, Any] = {
            "folds": self.folds,
            "fold_windows": self.fold_windows,
            "test_start": self.per_fold[0].test_start.isoformat(),
            "test_end": self.per_fold[-1].test_end.isoformat(),
            "median_skill": a.median_skill,
            "mean_skill": a.mean_skill,
            "positive_fraction": a.positive_fraction,
            "pooled_skill": a.pooled_skill,
            "pooled_skill_ci_low": a.pooled_skill_ci_low,
            "pooled_skill_ci_high": a.pooled_skill_ci_high,
            "interval_coverage": a.interval_coverage,
            "directional_accuracy": a.directional_accuracy,
            "up_rate": a.up_rate,
            "sharpe": t.strategy.sharpe,
            "buy_hold_sharpe": t.buy_hold.sharpe,
            "annual_return": t.strategy.annual_return,
            "buy_hold_annual_return": t.buy_hold.annual_return,
            "max_drawdown": t.strategy.max_drawdown,
            "buy_hold_max_drawdown": t.buy_hold.max_drawdown,
            "turnover": t.strategy.turnover,
            "exposure": t.exposure,
            "cost": t.cost,
        }
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items() if v is not None}

    def fold_metrics(self) -> list[dict[str, float]]:
        """Per fold, the scalar figures MLflow logs with ``step = fold``."""
        return [f.scalars() for f in self.per_fold]

    def summary_metrics(self) -> dict[str, float]:
        """The aggregate and trading figures as flat scalars (``strategy_sharpe``, ``buy_hold_...``)."""
        flat: dict[str, Any] = {
            k: v for k, v in self.aggregate.model_dump().items() if isinstance(v, int | float)
        }
        for side, metrics in (("strategy", self.trading.strategy), ("buy_hold", self.trading.buy_hold)):
            for k, v in metrics.model_dump().items():
                if isinstance(v, int | float):
                    flat[f"{side}_{k}"] = v
        flat["exposure"], flat["folds"] = self.trading.exposure, self.folds
        return {k: float(v) for k, v in flat.items() if v is not None and not isinstance(v, bool)}


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _finite_or_none(value: float) -> float | None:
    return value if np.isfinite(value) else None


def aggregate_skill(
    folds: Sequence[FoldResult], forecasts: Sequence[SplitPredictions], *, seed: int, reps: int = DEFAULT_REPS
) -> AggregateSkill:
    """Fold statistics and the pooled out-of-sample figures (price units, as every skill here)."""
    if len(folds) != len(forecasts) or not folds:
        raise ValueError(f"need one forecast set per fold, got {len(folds)} folds, {len(forecasts)} sets")
    skills = [f.skill for f in folds if f.skill is not None]
    drift_skills = [f.skill_vs_drift for f in folds if f.skill_vs_drift is not None]
    last_close = np.concatenate([p.last_close for p in forecasts])
    predicted = np.concatenate([p.predicted for p in forecasts])
    actual = np.concatenate([p.actual for p in forecasts])
    base = last_close[:, None]
    model_sq = ((predicted - actual) ** 2).sum(axis=1)
    naive_sq = ((base - actual) ** 2).sum(axis=1)
    n, horizon = predicted.shape
    pooled = None if naive_sq.sum() == 0 else float(1.0 - np.sqrt(model_sq.sum() / naive_sq.sum()))
    low, high = skill_interval(
        model_sq, naive_sq, block=block_length(n, horizon), reps=reps, seed=seed, level=DEFAULT_LEVEL
    )
    cover = None
    if all(p.low is not None and p.high is not None for p in forecasts):
        lows = np.concatenate([p.low for p in forecasts if p.low is not None])
        highs = np.concatenate([p.high for p in forecasts if p.high is not None])
        cover = coverage(actual, lows, highs)
    hit, counted = directional_hits(np.log(predicted / base), np.log(actual / base))
    moved = actual != base
    return AggregateSkill(
        median_skill=_median(skills),
        mean_skill=_mean(skills),
        min_skill=min(skills, default=None),
        max_skill=max(skills, default=None),
        positive_fraction=sum(s >= 0.0 for s in skills) / len(skills) if skills else None,
        median_skill_vs_drift=_median(drift_skills),
        pooled_skill=pooled,
        pooled_skill_ci_low=_finite_or_none(low),
        pooled_skill_ci_high=_finite_or_none(high),
        interval_coverage=cover,
        directional_accuracy=float(hit.sum() / counted.sum()) if counted.any() else None,
        directional_count=int(counted.sum()),
        up_rate=float(((actual > base) & moved).sum() / moved.sum()) if moved.any() else None,
        n_windows=int(n),
    )


def trading_backtest(forecasts: Sequence[SplitPredictions], *, cost: float) -> TradingBacktest:
    """Trade the folds' 1-day forecasts in time order (anchors must increase across folds)."""
    anchors = np.concatenate([p.anchor_dates.to_numpy() for p in forecasts])
    if anchors.size == 0 or np.any(np.diff(anchors) <= np.timedelta64(0)):
        raise ValueError("out-of-sample anchors must be non-empty and strictly increasing across folds")
    last_close = np.concatenate([p.last_close for p in forecasts])
    forecast = np.concatenate([p.predicted[:, 0] for p in forecasts]) / last_close - 1.0
    realised = np.concatenate([p.actual[:, 0] for p in forecasts]) / last_close - 1.0
    positions = long_flat_positions(forecast)
    always = np.ones_like(positions)
    return TradingBacktest(
        cost=cost,
        start=_as_date(anchors[0]),
        end=_as_date(anchors[-1]),
        exposure=float(positions.mean()),
        strategy=performance(strategy_returns(positions, realised, cost), positions),
        buy_hold=performance(strategy_returns(always, realised, cost), always),
    )


def _as_date(value: np.datetime64) -> date:
    return value.astype("datetime64[D]").item()
