"""Walk-forward backtest: the whole experiment once per expanding-window fold, then pooled.

Each fold (:mod:`stockops.model.folds`) runs :func:`stockops.model.experiment.run_experiment` on the
history up to the end of its test block, with the same model and training config and the same seed as
a normal training, and the test part fixed to the block. So each fold fits its own train-only scalers,
stops early on its own validation, fits its lambdas and intervals on its own calibration part and is
scored on days it never saw: the folds are what a user would have got by training at that time. The
serving refit is skipped (it does not change held-out figures, only the served weights).

A child's folds each transfer from a parent trained on the parent's history up to the fold's first
test anchor (same config as the registered parent). The registered parent cannot seed them: it has
seen the early folds' test days, and :func:`stockops.model.transfer.check_parent_overlap` would refuse
it (rightly: a child scored on days its parent learned from is scored partly in-sample).

Pure of MLflow and files, like the experiment; the caller logs :class:`WalkForwardSummary`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from stockops.model.backtest_summary import (
    FoldResult,
    WalkForwardSummary,
    aggregate_skill,
    trading_backtest,
)
from stockops.model.config import ModelConfig, TrainingConfig, TransferConfig
from stockops.model.experiment import MIN_TRAIN_WINDOWS, ExperimentDataError, ExperimentResult, run_experiment
from stockops.model.folds import Fold, WalkForwardDataError, fold_plan, rows_for_windows
from stockops.model.trading import DEFAULT_COST

__all__ = [
    "ParentTraining",
    "WalkForwardConfig",
    "WalkForwardDataError",
    "WalkForwardSummary",
    "plan_walk_forward",
    "run_walk_forward",
]


class WalkForwardConfig(BaseModel):
    """How many folds, how much of the history their test blocks cover, what a trade costs.

    Half the history as the tail keeps the first fold's training set large enough to learn from while
    the folds together cover several market regimes; more folds means shorter blocks, not less training.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    folds: int = Field(default=5, ge=2, le=10, description="Expanding-window folds.")
    tail_fraction: float = Field(
        default=0.5, gt=0.0, le=0.8, description="Share of the windows the folds' test blocks cover."
    )
    cost: float = Field(
        default=DEFAULT_COST,
        ge=0.0,
        le=0.05,
        description="Transaction cost per unit of position traded (0.0005 = 5 basis points).",
    )


@dataclass(frozen=True)
class ParentTraining:
    """How a child's folds get their parents: the parent's own history and config, and the transfer."""

    ticker: str
    features: pd.DataFrame  # index date; close + the same feature columns as the child
    model_cfg: ModelConfig
    train_cfg: TrainingConfig
    transfer: TransferConfig
    synthetic: bool


def plan_walk_forward(
    features: pd.DataFrame, model_cfg: ModelConfig, train_cfg: TrainingConfig, config: WalkForwardConfig
) -> list[Fold]:
    """The folds for ``features``; raises :class:`WalkForwardDataError` (naming the rows needed and
    the dates the history covers) before anything trains."""
    try:
        return fold_plan(
            len(features),
            context=model_cfg.context_days,
            horizon=model_cfg.horizon_days,
            folds=config.folds,
            val_fraction=train_cfg.val_fraction,
            tail_fraction=config.tail_fraction,
            min_train=MIN_TRAIN_WINDOWS,
        )
    except WalkForwardDataError as exc:
        if len(features):
            span = f"{features.index[0].date()}..{features.index[-1].date()}"
            raise WalkForwardDataError(f"{exc} (the history covers {span})") from None
        raise


def _fold_result(fold: Fold, result: ExperimentResult, data_start: pd.Timestamp) -> FoldResult:
    report, split, bundle = result.report, result.split, result.bundle
    return FoldResult(
        fold=fold.number,
        data_start=data_start.date(),
        train_end=split.train.last_target,
        val_end=split.val.last_target,
        test_start=split.test.first_anchor,
        test_end=split.test.last_anchor,
        last_target=split.test.last_target,
        train_windows=split.train.size,
        n_windows=report.n_windows,
        skill=report.skill,
        skill_ci_low=report.skill_ci_low,
        skill_ci_high=report.skill_ci_high,
        skill_vs_drift=report.skill_vs_drift,
        skill_vs_drift_ci_low=report.skill_vs_drift_ci_low,
        skill_vs_drift_ci_high=report.skill_vs_drift_ci_high,
        interval_coverage=report.interval_coverage,
        directional_accuracy=report.directional_accuracy,
        directional_count=report.directional_count,
        up_rate=report.up_rate,
        lambdas=list(bundle.shrinkage) if bundle.shrinkage is not None else None,
        no_edge=bundle.no_edge,
        best_epoch=result.fit.best_epoch,
        epochs_run=result.fit.epochs_run,
        parent_cutoff=result.parent_cutoff,
    )


def run_walk_forward(
    features: pd.DataFrame,
    *,
    ticker: str,
    feature_columns: Sequence[str],
    model_cfg: ModelConfig,
    train_cfg: TrainingConfig,
    config: WalkForwardConfig,
    synthetic: bool,
    feature_version: str | None = None,
    parent: ParentTraining | None = None,
    device: str | None = None,
    on_fold: Callable[[FoldResult], None] | None = None,
) -> WalkForwardSummary:
    """Run every fold of ``features`` (index date, ``close`` + ``feature_columns``) and pool them.

    ``model_cfg`` is the effective config (a child's must have its parent's shape); ``synthetic`` the
    provenance flag (a child of a synthetic parent is synthetic too, as in training). ``on_fold`` is called
    after each fold (progress, per-fold logging). Raises :class:`WalkForwardDataError` when the history
    is too short for ``config.folds`` and :class:`ExperimentDataError` when a fold cannot be trained.
    """
    plan = plan_walk_forward(features, model_cfg, train_cfg, config)
    context, horizon = model_cfg.context_days, model_cfg.horizon_days
    fold_cfg = train_cfg.model_copy(update={"refit": False})
    results: list[FoldResult] = []
    forecasts = []
    for fold in plan:
        frame = features.iloc[: rows_for_windows(fold.windows, context, horizon)]
        first_anchor = features.index[fold.test.start + context - 1]
        parent_bundle = None
        if parent is not None:
            with _fold_errors(fold, f"parent {parent.ticker}"):
                parent_bundle = run_experiment(
                    parent.features.loc[:first_anchor],
                    ticker=parent.ticker,
                    feature_columns=feature_columns,
                    model_cfg=parent.model_cfg,
                    train_cfg=parent.train_cfg.model_copy(update={"refit": False}),
                    synthetic=parent.synthetic,
                    feature_version=feature_version,
                    device=device,
                ).bundle
        with _fold_errors(fold, ticker):
            result = run_experiment(
                frame,
                ticker=ticker,
                feature_columns=feature_columns,
                model_cfg=model_cfg,
                train_cfg=fold_cfg,
                parent=parent_bundle,
                transfer=parent.transfer if parent is not None else None,
                synthetic=synthetic,
                feature_version=feature_version,
                device=device,
                test_windows=len(fold.test),
            )
        if result.split.test.first_anchor != first_anchor.date() or result.split.test.size != len(fold.test):
            raise AssertionError(f"fold {fold.number}: the experiment's test part is not the fold's block")
        fold_result = _fold_result(fold, result, frame.index[0])
        results.append(fold_result)
        forecasts.append(result.test_predictions)
        if on_fold is not None:
            on_fold(fold_result)
    return WalkForwardSummary(
        ticker=ticker,
        kind="child" if parent is not None else "scratch",
        parent=parent.ticker if parent is not None else None,
        synthetic=synthetic,
        folds=config.folds,
        tail_fraction=config.tail_fraction,
        fold_windows=len(plan[0].test),
        context_days=context,
        horizon_days=horizon,
        seed=train_cfg.seed,
        per_fold=results,
        aggregate=aggregate_skill(results, forecasts, seed=train_cfg.seed),
        trading=trading_backtest(forecasts, cost=config.cost),
    )


@contextmanager
def _fold_errors(fold: Fold, label: str) -> Iterator[None]:
    """Name the fold (and whose experiment: the child's or its parent's) in a data error."""
    try:
        yield
    except ExperimentDataError as exc:
        raise ExperimentDataError(f"walk-forward fold {fold.number} ({label}): {exc}") from exc
