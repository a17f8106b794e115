"""Chronological train / validation / test split over window anchors, with purging gaps.

Windows overlap: anchor ``t`` targets days ``t+1 .. t+horizon``. If the last train anchor and the first
validation anchor were neighbours, their targets would share ``horizon - 1`` days and validation would
score the model on days it was trained to predict. Dropping ``horizon`` anchors between parts makes the
last train target day ``a + horizon`` fall strictly before the first validation anchor ``a + horizon + 1``,
so no target day of one part is a target (or even the anchor) of the next. Inputs of a later part may
still *see* earlier target days: that is not leakage, those days are history at forecast time.

Order is always train < val < test in time; the test part is the most recent data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Split:
    """Index ranges over the windows (positions in ``Windows``, not rows of the series)."""

    train: range
    val: range
    test: range

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def chronological_split(
    n: int,
    horizon: int,
    val_fraction: float,
    test_fraction: float,
    *,
    min_train: int = 1,
    n_test: int | None = None,
) -> Split:
    """Split ``n`` consecutive windows into train/val/test with ``horizon`` windows dropped between parts.

    Validation and test sizes are ``round(n * fraction)`` (at least 1); train gets the rest after the two
    gaps and must keep at least ``min_train`` windows. ``n_test`` fixes the test size instead (a
    walk-forward fold's test block is set by the fold plan, not by a fraction of the fold's history).
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"{name} must be in (0, 1), got {fraction}")
    n_val = max(1, round(n * val_fraction))
    if n_test is None:
        n_test = max(1, round(n * test_fraction))
    elif n_test < 1:
        raise ValueError(f"n_test must be >= 1, got {n_test}")
    n_train = n - n_val - n_test - 2 * horizon
    if n_train < min_train:
        needed = min_train + n_val + n_test + 2 * horizon
        raise ValueError(
            f"too few windows to split: {n} windows, need at least {needed} "
            f"(train >= {min_train}, val {n_val}, test {n_test}, and two gaps of horizon={horizon}); "
            f"use more history, a shorter context/horizon or smaller val/test fractions"
        )
    train = range(0, n_train)
    val = range(n_train + horizon, n_train + horizon + n_val)
    test = range(val.stop + horizon, val.stop + horizon + n_test)
    assert test.stop == n
    return Split(train=train, val=val, test=test)


# Share of the validation windows (the earlier ones) that early stopping uses; the rest calibrate.
EARLY_STOPPING_SHARE = 0.5
MIN_CALIBRATION_WINDOWS = 2


def split_validation(val: range, horizon: int, share: float = EARLY_STOPPING_SHARE) -> tuple[range, range]:
    """``(early_stopping, calibration)``: the validation part cut in time, ``horizon`` windows dropped
    between the two.

    Early stopping picks the epoch whose forecasts fit the validation days best, so on those days the
    forecast-vs-actual slope of pure noise leans positive; fitting the shrinkage lambdas (and the interval
    offsets) on the same days kept noise slopes too often. The later part has never been looked at when
    it is used, so its slope test has its nominal size. The gap keeps target days apart, as between parts.
    """
    if not 0.0 < share < 1.0:
        raise ValueError(f"share must be in (0, 1), got {share}")
    n_early = max(1, round(len(val) * share))
    calibration = range(val.start + n_early + horizon, val.stop)
    if len(calibration) < MIN_CALIBRATION_WINDOWS:
        raise ValueError(
            f"too few validation windows to split for early stopping and calibration: {len(val)} "
            f"windows, need at least {n_early + horizon + MIN_CALIBRATION_WINDOWS} (early stopping "
            f"{n_early}, a gap of horizon={horizon}, calibration >= {MIN_CALIBRATION_WINDOWS}); use more "
            f"history or a larger val_fraction"
        )
    return range(val.start, val.start + n_early), calibration
