"""A new version against the current production version, on the same test days.

The production version may have trained (or, refitted for serving, even early-stopped and calibrated)
on some of the new version's test days; scoring it there would be in-sample and flatter it. Only test
windows whose anchor lies after everything the production version has seen are compared; with fewer
than ``min_windows`` of them the comparison is skipped and the gate says so.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from stockops.model.bootstrap import block_length, skill_difference_interval
from stockops.registry.promotion import VersionComparison

MIN_COMMON_WINDOWS = 20


def compare_versions(
    *,
    production_version: str,
    new_log_ret: np.ndarray,
    production_log_ret: np.ndarray,
    true_log_ret: np.ndarray,
    last_close: np.ndarray,
    anchor_dates: pd.DatetimeIndex,
    production_seen_until: date | None,
    seed: int = 0,
    min_windows: int = MIN_COMMON_WINDOWS,
) -> VersionComparison:
    """Paired bootstrap of skill(new) - skill(production) vs the random walk, in price units."""
    keep = np.ones(len(anchor_dates), dtype=bool)
    if production_seen_until is not None:
        keep = np.asarray(anchor_dates >= pd.Timestamp(production_seen_until))
    n = int(keep.sum())
    if n < min_windows:
        seen = production_seen_until.isoformat() if production_seen_until else "?"
        return VersionComparison(
            production_version,
            None,
            None,
            None,
            n,
            note=f"it has seen data up to {seen}, leaving {n} unseen test windows (< {min_windows})",
        )
    base = np.asarray(last_close, np.float64)[keep, None]
    true = base * np.exp(np.asarray(true_log_ret)[keep])
    new_sq = ((base * np.exp(np.asarray(new_log_ret)[keep]) - true) ** 2).sum(axis=1)
    old_sq = ((base * np.exp(np.asarray(production_log_ret)[keep]) - true) ** 2).sum(axis=1)
    naive_sq = ((base - true) ** 2).sum(axis=1)
    if float(naive_sq.sum()) == 0.0:
        return VersionComparison(production_version, None, None, None, n, note="the naive error is 0")
    horizon = true.shape[1]
    point, low, high = skill_difference_interval(
        new_sq, old_sq, naive_sq, block=block_length(n, horizon), seed=seed
    )
    return VersionComparison(production_version, point, low, high, n)
