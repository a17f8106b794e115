"""Per-feature drift thresholds calibrated on the reference's own windows (pure, scipy only).

Why: Evidently's per-column tests assume independent rows, and a window of 60 consecutive sessions of
autocorrelated indicators (volatility, MACD, moving-average gaps move in regimes) is far from that. At
the nominal K-S threshold (p < 0.05) 14 of 16 windows cut from *inside* the reference were called
drifted (^GSPC 2006-2026, `benchmarks/drift_check.py --calibration 16`): the check would retrain a
model every time it looked. So the null distribution of a feature's p-value for a window of this
length is estimated from the reference itself: every ``step`` sessions a window of ``window`` rows is
tested against the reference rows outside it (the same two-sample K-S test Evidently runs), and the
feature's threshold is the ``alpha`` quantile of those p-values. A current window then drifts on a
feature only when its p-value is lower than all but ``alpha`` of the training regime's own windows
reach, which is what the nominal test promised and did not deliver.

Calibration only ever makes a test stricter (a threshold is never above the nominal ``alpha``), needs
at least ``min_windows`` windows (else the nominal threshold stays and the summary says so), and
applies to p-value tests (K-S, the default); a distance method keeps Evidently's thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

NOMINAL_ALPHA = 0.05
MIN_WINDOWS = 10
CALIBRATED_METHODS = frozenset({"ks"})


@dataclass(frozen=True)
class Calibration:
    """Thresholds per feature (p-value below it: drifted) and how they were obtained."""

    thresholds: Mapping[str, float]
    windows: int  # reference windows the quantiles come from (0: not calibrated)
    alpha: float = NOMINAL_ALPHA

    @property
    def calibrated(self) -> bool:
        return self.windows > 0


def calibrate_ks(
    reference: pd.DataFrame,
    columns: Sequence[str],
    window: int,
    *,
    step: int | None = None,
    alpha: float = NOMINAL_ALPHA,
    min_windows: int = MIN_WINDOWS,
) -> Calibration:
    """The ``alpha`` quantile of each column's K-S p-value over reference windows of ``window`` rows."""
    from scipy.stats import ks_2samp

    step = step or max(1, window // 2)
    starts = list(range(0, len(reference) - window + 1, step))
    if len(starts) < min_windows:
        return Calibration({c: alpha for c in columns}, windows=0, alpha=alpha)
    thresholds: dict[str, float] = {}
    for column in columns:
        values = reference[column].to_numpy(dtype="float64")
        p_values = []
        for start in starts:
            inside = values[start : start + window]
            outside = np.concatenate([values[:start], values[start + window :]])
            inside, outside = inside[np.isfinite(inside)], outside[np.isfinite(outside)]
            if len(inside) < 2 or len(outside) < 2:
                continue
            p_values.append(float(ks_2samp(inside, outside).pvalue))
        if len(p_values) < min_windows:
            thresholds[column] = alpha
            continue
        quantile = float(np.quantile(p_values, alpha))
        # floor: a threshold of exactly 0 would make the feature untestable rather than strict
        thresholds[column] = max(min(alpha, quantile), 1e-300) if math.isfinite(quantile) else alpha
    return Calibration(thresholds, windows=len(starts), alpha=alpha)
