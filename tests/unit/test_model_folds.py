"""Walk-forward folds: chronological, expanding, adjacent test blocks, a purging gap, and a clear refusal
when the history is too short."""

from __future__ import annotations

from itertools import pairwise

import pytest

from stockops.model.folds import (
    MIN_FOLD_WINDOWS,
    WalkForwardDataError,
    fold_plan,
    rows_for_windows,
    windows_for_rows,
)
from stockops.model.splits import chronological_split

CONTEXT, HORIZON = 60, 5


def _plan(rows: int, folds: int = 5, **kwargs: float) -> list:
    args = {"val_fraction": 0.15, "tail_fraction": 0.5, **kwargs}
    return fold_plan(rows, context=CONTEXT, horizon=HORIZON, folds=folds, min_train=64, **args)


def _target_rows(windows: range) -> set[int]:
    # window j is anchored at feature row j + context - 1 and forecasts the next `horizon` rows
    return {j + CONTEXT - 1 + k for j in windows for k in range(1, HORIZON + 1)}


@pytest.mark.parametrize(("rows", "folds"), [(1200, 5), (5000, 10), (700, 2), (2000, 3)])
def test_folds_expand_in_time_and_tile_the_tail(rows: int, folds: int) -> None:
    plan = _plan(rows, folds)
    n = windows_for_rows(rows, CONTEXT, HORIZON)

    assert [f.number for f in plan] == list(range(1, folds + 1))
    assert plan[-1].test.stop == n  # the last block ends with the history
    sizes = {len(f.test) for f in plan}
    assert len(sizes) == 1 and sizes.pop() == int(n * 0.5 / folds)
    for before, after in pairwise(plan):
        assert before.test.stop == after.test.start  # adjacent blocks: one contiguous run of anchors
        assert after.fit.stop > before.fit.stop and after.fit.start == before.fit.start == 0  # expanding


@pytest.mark.parametrize(("rows", "folds"), [(1200, 5), (700, 2), (5000, 10)])
def test_each_fold_learns_only_from_days_before_its_test_block(rows: int, folds: int) -> None:
    for fold in _plan(rows, folds):
        assert fold.gap == range(fold.test.start - HORIZON, fold.test.start)
        assert fold.fit.stop + HORIZON == fold.test.start
        first_test_anchor = fold.test.start + CONTEXT - 1
        assert max(_target_rows(fold.fit)) < first_test_anchor  # no target day is shared or even reached
        assert not _target_rows(fold.fit) & _target_rows(fold.test)


def test_the_experiments_own_split_reproduces_each_fold() -> None:
    for fold in _plan(1500, 4):
        split = chronological_split(fold.windows, HORIZON, 0.15, 0.15, min_train=64, n_test=len(fold.test))
        assert split.test == fold.test
        assert split.val.stop == fold.fit.stop and split.train.start == 0


def test_too_short_a_history_is_refused_naming_the_rows_needed() -> None:
    expected = r"too short for 5 walk-forward folds: 300 feature rows"
    with pytest.raises(WalkForwardDataError, match=expected) as info:
        _plan(300, 5, tail_fraction=0.7)
    message = str(info.value)
    needed = int(message.split("need at least ")[1].split(" rows")[0])
    assert needed > 300 and "fewer folds" in message
    assert _plan(needed, 5, tail_fraction=0.7)  # exactly enough works
    with pytest.raises(WalkForwardDataError):
        _plan(needed - 1, 5, tail_fraction=0.7)


def test_short_test_blocks_are_refused() -> None:
    n = 10 * MIN_FOLD_WINDOWS  # half of it split in 10 blocks of MIN_FOLD_WINDOWS / 2
    with pytest.raises(WalkForwardDataError, match=f">= {MIN_FOLD_WINDOWS} test windows"):
        _plan(rows_for_windows(n, CONTEXT, HORIZON), 10)


def test_impossible_fractions_say_so_instead_of_a_row_count() -> None:
    with pytest.raises(WalkForwardDataError, match="no history is long enough"):
        _plan(3000, 2, val_fraction=0.45, tail_fraction=0.9)
    with pytest.raises(WalkForwardDataError, match="at least 2 folds"):
        _plan(3000, 1)


def test_rows_and_windows_convert_both_ways() -> None:
    assert windows_for_rows(rows_for_windows(123, CONTEXT, HORIZON), CONTEXT, HORIZON) == 123
    assert windows_for_rows(10, CONTEXT, HORIZON) == 0
