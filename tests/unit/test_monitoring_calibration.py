"""Thresholds calibrated on the reference's own windows: autocorrelated regimes stop looking drifted,
real shifts still do."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from stockops.monitoring.calibration import NOMINAL_ALPHA, calibrate_ks


def ar1(n: int, seed: int, phi: float = 0.97) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty(n)
    out[0] = 0.0
    for i in range(1, n):
        out[i] = phi * out[i - 1] + rng.normal()
    return out


def test_in_regime_windows_are_rarely_flagged_once_calibrated_while_a_shift_still_is() -> None:
    reference = pd.DataFrame({"x": ar1(3000, seed=1)})
    calibration = calibrate_ks(reference, ["x"], window=60)
    assert calibration.calibrated and calibration.windows == len(range(0, 3000 - 60 + 1, 30))
    threshold = calibration.thresholds["x"]
    assert 0 < threshold < NOMINAL_ALPHA  # only ever stricter

    fresh = ar1(6000, seed=2)  # the same process, never seen: every window is "no drift"
    windows = [fresh[s : s + 60] for s in range(0, 6000 - 60, 60)]
    p_values = [ks_2samp(w, reference["x"]).pvalue for w in windows]
    nominal = np.mean([p < NOMINAL_ALPHA for p in p_values])
    calibrated = np.mean([p < threshold for p in p_values])
    assert nominal > 0.4  # the independence assumption fails on autocorrelated rows
    assert calibrated < 0.15 and calibrated < nominal / 3

    scale = reference["x"].std()
    shifted = [w + 4 * scale for w in windows[:20]]
    assert all(ks_2samp(w, reference["x"]).pvalue < threshold for w in shifted)


def test_too_short_a_reference_keeps_the_nominal_threshold() -> None:
    reference = pd.DataFrame({"x": ar1(300, seed=3)})
    calibration = calibrate_ks(reference, ["x"], window=60)
    assert not calibration.calibrated and calibration.thresholds == {"x": NOMINAL_ALPHA}
