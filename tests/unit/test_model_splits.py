"""Chronological split: ordered parts, `horizon` windows dropped between them, no shared target day."""

from __future__ import annotations

import pytest

from stockops.model.splits import chronological_split


def _target_days(part: range, context: int, horizon: int) -> set[int]:
    # window i is anchored at series row context - 1 + i and targets the next `horizon` rows
    return {context - 1 + i + k for i in part for k in range(1, horizon + 1)}


@pytest.mark.parametrize(("n", "horizon"), [(100, 1), (500, 5), (1000, 20), (37, 3)])
def test_no_target_day_is_shared_between_parts(n: int, horizon: int) -> None:
    context = 10
    split = chronological_split(n, horizon, 0.15, 0.15)

    train, val, test = (_target_days(p, context, horizon) for p in (split.train, split.val, split.test))
    assert not train & val and not val & test and not train & test
    # stronger: every train target day is before the first validation anchor day (and so on)
    assert max(train) < context - 1 + split.val.start
    assert max(val) < context - 1 + split.test.start


def test_parts_are_chronological_with_gaps_of_horizon() -> None:
    split = chronological_split(1000, 5, 0.15, 0.10)

    assert split.train == range(0, 740)
    assert split.val.start - split.train.stop == 5
    assert split.test.start - split.val.stop == 5
    assert split.sizes() == {"train": 740, "val": 150, "test": 100}
    assert split.test.stop == 1000


def test_too_few_windows_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"too few windows to split: 20 windows, need at least 25"):
        chronological_split(20, 10, 0.1, 0.1)


def test_fractions_are_validated() -> None:
    with pytest.raises(ValueError, match="val_fraction"):
        chronological_split(100, 1, 0.0, 0.1)


def test_validation_is_cut_in_time_with_a_gap_between_early_stopping_and_calibration() -> None:
    from stockops.model.splits import split_validation

    early, calibration = split_validation(range(100, 160), 5)

    assert early == range(100, 130) and calibration == range(135, 160)
    with pytest.raises(ValueError, match="too few validation windows"):
        split_validation(range(0, 8), 5)
