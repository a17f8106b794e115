"""Walk-forward fold boundaries: an expanding window over the history, tested on its tail.

One test split says how a model did on one stretch of market; a model that beat the random walk on the
last three years may have lost on the three before. Walk-forward repeats the whole experiment ``k``
times: the tail of the history (``tail_fraction`` of the windows) is cut into ``k`` equal, adjacent test
blocks; fold ``i`` trains, validates and calibrates on every window before its block (the window
*expands* fold by fold) and is scored on the block only. Between the two, ``horizon`` windows are
dropped, as between the parts of :func:`stockops.model.splits.chronological_split`, so the last target
day the fold learned from lies strictly before its first test anchor.

Each fold's frame ends with its test block, so :func:`stockops.model.experiment.run_experiment` with
``test_windows = len(block)`` reproduces exactly this plan (its own split puts the test part last, after
a purging gap). The blocks are adjacent, so the folds' test anchors form one contiguous run of trading
days: the out-of-sample forecasts can be traded as one series.

Positions are window indices (as in :mod:`stockops.model.splits`); window ``j`` is anchored at feature
row ``j + context - 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stockops.model.splits import chronological_split, split_validation

# A fold needs a few weeks of test windows to say anything (and its first, smallest, fold the
# experiment's minimum of training windows); both are checked before anything trains.
MIN_FOLD_WINDOWS = 20
# The shortest history that works is looked for up to this many windows (about 400 years of sessions).
_SEARCH_LIMIT = 100_000


class WalkForwardDataError(ValueError):
    """The history is too short (or the fractions too large) for the requested folds."""


@dataclass(frozen=True)
class Fold:
    """One fold: ``fit`` is what the experiment splits into train/val (with its gaps), then ``horizon``
    dropped windows, then ``test``. Ranges are window positions over the whole history."""

    number: int  # 1-based, in time order
    fit: range
    test: range

    @property
    def gap(self) -> range:
        return range(self.fit.stop, self.test.start)

    @property
    def windows(self) -> int:
        """Windows in the fold's frame (its history up to the end of its test block)."""
        return self.test.stop


def windows_for_rows(rows: int, context: int, horizon: int) -> int:
    """Windows :func:`stockops.model.windows.make_windows` makes from ``rows`` feature rows."""
    return max(0, rows - context - horizon + 1)


def rows_for_windows(windows: int, context: int, horizon: int) -> int:
    """Feature rows a frame needs for ``windows`` windows (its last row is the last target day)."""
    return windows + context + horizon - 1


def _plan(
    n: int, horizon: int, folds: int, val_fraction: float, tail_fraction: float, min_train: int
) -> tuple[list[Fold] | None, str]:
    """The folds over ``n`` windows, or ``(None, why)``."""
    block = math.floor(n * tail_fraction / folds)
    if block < MIN_FOLD_WINDOWS:
        return None, f"each fold needs >= {MIN_FOLD_WINDOWS} test windows, {folds} folds get {block}"
    plan: list[Fold] = []
    for number in range(1, folds + 1):
        test = range(n - (folds - number + 1) * block, n - (folds - number) * block)
        try:
            split = chronological_split(
                test.stop,
                horizon,
                val_fraction,
                block / test.stop,  # unused with n_test; the fold's share, for the fraction check
                min_train=min_train,
                n_test=block,
            )
            split_validation(split.val, horizon)
        except ValueError as exc:
            return None, f"fold {number}: {exc}"
        plan.append(Fold(number=number, fit=range(0, test.start - horizon), test=test))
    return plan, ""


def fold_plan(
    rows: int,
    *,
    context: int,
    horizon: int,
    folds: int,
    val_fraction: float,
    tail_fraction: float,
    min_train: int,
) -> list[Fold]:
    """``folds`` expanding-window folds over a frame of ``rows`` feature rows (see the module text).

    Raises :class:`WalkForwardDataError` naming how many rows the plan needs when the history is too
    short: the first fold must keep ``min_train`` training windows (the experiment's
    ``MIN_TRAIN_WINDOWS``) and a calibrable validation part, and every fold at least
    :data:`MIN_FOLD_WINDOWS` test windows.
    """
    if folds < 2:
        raise WalkForwardDataError(f"walk-forward needs at least 2 folds, got {folds}")
    if not 0.0 < tail_fraction < 1.0:
        raise WalkForwardDataError(f"tail_fraction must be in (0, 1), got {tail_fraction}")
    n = windows_for_rows(rows, context, horizon)
    plan, why = _plan(n, horizon, folds, val_fraction, tail_fraction, min_train)
    if plan is not None:
        return plan
    feasible = _plan(_SEARCH_LIMIT, horizon, folds, val_fraction, tail_fraction, min_train)[0] is not None
    needed = next(
        (
            m
            for m in range(n + 1, _SEARCH_LIMIT + 1)
            if feasible and _plan(m, horizon, folds, val_fraction, tail_fraction, min_train)[0] is not None
        ),
        None,
    )
    if needed is None:
        raise WalkForwardDataError(
            f"no history is long enough for {folds} walk-forward folds with tail_fraction={tail_fraction} "
            f"and val_fraction={val_fraction}: the first fold keeps too little to train on; use a "
            f"smaller tail_fraction or val_fraction"
        )
    raise WalkForwardDataError(
        f"history too short for {folds} walk-forward folds: {rows} feature rows ({n} windows of context "
        f"{context} + horizon {horizon}), need at least {rows_for_windows(needed, context, horizon)} rows "
        f"({needed} windows; {why}); use more history (an earlier start) or fewer folds"
    )
