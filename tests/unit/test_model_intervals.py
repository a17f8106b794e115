"""Prediction intervals: coverage and pinball computed right, residual offsets, the EWMA baseline."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from stockops.model.evaluation import evaluate
from stockops.model.intervals import (
    coverage,
    ewma_volatility,
    gaussian_quantiles,
    pinball_loss,
    residual_offsets,
    share_below,
)


def test_coverage_of_known_gaussian_quantiles_is_nominal() -> None:
    rng = np.random.default_rng(0)
    draws = rng.normal(size=200_000)
    low, high = NormalDist().inv_cdf(0.1), NormalDist().inv_cdf(0.9)

    assert coverage(draws, np.full_like(draws, low), np.full_like(draws, high)) == pytest.approx(
        0.8, abs=0.005
    )
    assert share_below(draws, np.full_like(draws, low)) == pytest.approx(0.1, abs=0.003)
    # too narrow an interval is caught: +-0.5 sd covers 38 %, not 80 %
    assert coverage(draws, np.full_like(draws, -0.5), np.full_like(draws, 0.5)) == pytest.approx(
        0.383, abs=0.005
    )


def test_coverage_and_pinball_on_a_hand_computed_series() -> None:
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    assert coverage(actual, np.full(4, 1.5), np.full(4, 3.0)) == 0.5  # 2 and 3 (bound included)
    # q = 0.9, forecast 3: errors y - f = -2, -1, 0, 1 -> 0.2, 0.1, 0, 0.9
    assert pinball_loss(actual, np.full(4, 3.0), 0.9) == pytest.approx(1.2 / 4)


def test_residual_offsets_are_quantiles_of_actual_minus_point() -> None:
    point = np.zeros((5, 1))
    actual = np.arange(1.0, 6.0)[:, None]
    np.testing.assert_allclose(residual_offsets(point, actual, (0.0, 0.5, 1.0))[:, 0], [1.0, 3.0, 5.0])


def test_ewma_volatility_is_causal_and_follows_the_recursion() -> None:
    r = np.array([0.01, -0.02, 0.0])
    sigma = ewma_volatility(r, init_variance=1e-4)
    v1 = 0.94 * 1e-4 + 0.06 * 1e-4
    v2 = 0.94 * v1 + 0.06 * 4e-4
    np.testing.assert_allclose(sigma, np.sqrt([v1, v2, 0.94 * v2]))
    np.testing.assert_allclose(ewma_volatility(r[:2], 1e-4), sigma[:2])  # the future does not matter
    np.testing.assert_allclose(
        gaussian_quantiles(np.array([0.01]), 4, 0.9)[0, 3], 1.2816 * 0.01 * 2, rtol=1e-4
    )


def test_evaluate_scores_model_and_ewma_intervals_on_a_gaussian_walk() -> None:
    rng = np.random.default_rng(1)
    n, sigma = 4000, 0.01
    true = rng.normal(scale=sigma, size=(n, 1))
    z = NormalDist().inv_cdf(0.9)
    wide = (np.full((n, 1), -2 * z * sigma), np.full((n, 1), 2 * z * sigma))
    report = evaluate(
        np.zeros((n, 1)),
        true,
        np.full(n, 100.0),
        pd.bdate_range("2010-01-01", periods=n),
        bootstrap_reps=10,
        interval=wide,
        ewma_sigma=np.full(n, sigma),
    )
    assert report.ewma_coverage == pytest.approx(0.8, abs=0.02)  # the right distribution: nominal
    assert report.interval_coverage == pytest.approx(0.9892, abs=0.01)  # twice as wide: over-covers
    assert report.interval_below_low == pytest.approx(1 - 0.9946, abs=0.005)
    assert report.pinball > report.ewma_pinball  # and pays for it in pinball loss
    assert math.isclose(report.per_horizon[0].ewma_coverage or 0, report.ewma_coverage or 1)
