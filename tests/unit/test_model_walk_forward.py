"""run_walk_forward: the experiment once per expanding fold (tiny network, short synthetic history)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from stockops.model.config import ModelConfig, TrainingConfig, TransferConfig
from stockops.model.experiment import ExperimentDataError, run_experiment
from stockops.model.folds import rows_for_windows
from stockops.model.walk_forward import (
    ParentTraining,
    WalkForwardConfig,
    WalkForwardDataError,
    WalkForwardSummary,
    plan_walk_forward,
    run_walk_forward,
)

COLUMNS = ("ret", "ret5", "noise")
MODEL = ModelConfig(hidden_size=8, num_layers=1, dropout=0.0, context_days=15, horizon_days=3)
TRAIN = TrainingConfig(epochs=1, batch_size=64, num_threads=1)
CONFIG = WalkForwardConfig(folds=2)


def _frame(seed: int, days: int = 400, first_day: str = "2018-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ret = rng.normal(0.0003, 0.01, days)
    return pd.DataFrame(
        {
            "close": 100.0 * np.exp(np.cumsum(ret)),
            "ret": ret,
            "ret5": pd.Series(ret).rolling(5, min_periods=1).mean().to_numpy(),
            "noise": rng.normal(size=days),
        },
        index=pd.bdate_range(first_day, periods=days, name="date"),
    )


def _run(frame: pd.DataFrame, **kwargs: object) -> WalkForwardSummary:
    args: dict = {
        "ticker": "SYN",
        "feature_columns": COLUMNS,
        "model_cfg": MODEL,
        "train_cfg": TRAIN,
        "config": CONFIG,
        "synthetic": True,
        "feature_version": "test-v1",
        **kwargs,
    }
    return run_walk_forward(frame, **args)


@pytest.fixture(scope="module")
def scratch() -> WalkForwardSummary:
    return _run(_frame(0))


def test_folds_are_tested_on_adjacent_blocks_after_what_they_learned(scratch: WalkForwardSummary) -> None:
    frame = _frame(0)
    plan = plan_walk_forward(frame, MODEL, TRAIN, CONFIG)
    first, second = scratch.per_fold
    for fold, result in zip(plan, scratch.per_fold, strict=True):
        assert result.test_start == frame.index[fold.test.start + MODEL.context_days - 1].date()
        assert result.n_windows == len(fold.test) == scratch.fold_windows
        assert result.train_end < result.val_end < result.test_start <= result.test_end < result.last_target
    assert first.data_start == second.data_start  # expanding, not sliding
    assert second.train_windows > first.train_windows and second.train_end > first.train_end
    next_session = frame.index[frame.index.get_loc(pd.Timestamp(first.test_end)) + 1].date()
    assert second.test_start == next_session  # one contiguous out-of-sample run
    assert second.last_target == frame.index[-1].date()
    assert scratch.trading.strategy.days == scratch.aggregate.n_windows == 2 * scratch.fold_windows
    assert (scratch.trading.start, scratch.trading.end) == (first.test_start, second.test_end)


def test_a_fold_is_exactly_the_experiment_on_its_history(scratch: WalkForwardSummary) -> None:
    frame = _frame(0)
    fold = plan_walk_forward(frame, MODEL, TRAIN, CONFIG)[1]
    direct = run_experiment(
        frame.iloc[: rows_for_windows(fold.windows, MODEL.context_days, MODEL.horizon_days)],
        ticker="SYN",
        feature_columns=COLUMNS,
        model_cfg=MODEL,
        train_cfg=TRAIN.model_copy(update={"refit": False}),
        synthetic=True,
        feature_version="test-v1",
        test_windows=len(fold.test),
    )
    second = scratch.per_fold[1]
    assert second.skill == direct.report.skill and second.skill_ci_low == direct.report.skill_ci_low
    assert second.interval_coverage == direct.report.interval_coverage
    assert second.up_rate == direct.report.up_rate


def test_summary_pools_the_folds(scratch: WalkForwardSummary) -> None:
    skills = [f.skill for f in scratch.per_fold]
    assert scratch.aggregate.median_skill == pytest.approx(float(np.median(skills)))
    assert scratch.aggregate.positive_fraction == sum(s >= 0 for s in skills) / 2
    assert scratch.kind == "scratch" and scratch.parent is None and scratch.synthetic
    compact = scratch.compact()
    assert compact["folds"] == 2 and compact["test_start"] == scratch.per_fold[0].test_start.isoformat()


def test_a_child_transfers_from_a_parent_trained_before_each_fold() -> None:
    parent = ParentTraining(
        ticker="^GSPC",
        features=_frame(1, 600, "2017-01-02"),
        model_cfg=MODEL,
        train_cfg=TRAIN,
        transfer=TransferConfig(strategy="freeze", epochs=1),
        synthetic=False,
    )
    summary = _run(_frame(2, 400, "2018-06-01"), parent=parent, synthetic=False)
    assert summary.kind == "child" and summary.parent == "^GSPC"
    for fold in summary.per_fold:
        assert fold.parent_cutoff is not None and fold.parent_cutoff < fold.test_start
    assert summary.per_fold[1].parent_cutoff > summary.per_fold[0].parent_cutoff  # a newer parent


def test_too_short_a_history_is_refused_before_training() -> None:
    frame = _frame(0, 150)
    with pytest.raises(WalkForwardDataError, match=r"need at least \d+ rows") as info:
        _run(frame, config=WalkForwardConfig(folds=5))
    assert f"{frame.index[0].date()}..{frame.index[-1].date()}" in str(info.value)


def test_a_parent_too_short_for_a_fold_is_named() -> None:
    late = _frame(1, 200, str((pd.Timestamp("2018-01-01") + timedelta(days=200)).date()))
    parent = ParentTraining(
        ticker="^GSPC", features=late, model_cfg=MODEL, train_cfg=TRAIN,
        transfer=TransferConfig(strategy="freeze"), synthetic=False,
    )  # fmt: skip
    with pytest.raises(ExperimentDataError, match=r"fold 1 \(parent \^GSPC\)"):
        _run(_frame(0), parent=parent)


def test_fold_counts_outside_two_to_ten_are_invalid() -> None:
    for folds in (1, 11):
        with pytest.raises(ValueError, match="folds"):
            WalkForwardConfig(folds=folds)
