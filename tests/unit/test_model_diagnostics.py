"""The maths behind the test-split charts, on values whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockops.model.diagnostics import (
    least_squares_line,
    rolling_skill,
    rolling_skills,
    rolling_window_size,
    skill,
    split_returns,
)
from stockops.model.evaluation import SplitPredictions, evaluate


def _split(
    n: int = 200, horizon: int = 3, info: float = 0.5, seed: int = 0
) -> tuple[SplitPredictions, np.ndarray]:
    """Predictions whose k-step log returns are ``info * truth + noise`` (returned with the truth)."""
    rng = np.random.default_rng(seed)
    true = np.cumsum(rng.normal(0.0, 0.01, (n, horizon)), axis=1)
    pred = info * true + rng.normal(0.0, 0.002, (n, horizon))
    last = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    anchors = pd.bdate_range("2023-01-02", periods=n)
    targets = np.stack([anchors.shift(k + 1).to_numpy() for k in range(horizon)], axis=1)
    split = SplitPredictions(
        anchors, targets, last, last[:, None] * np.exp(pred), last[:, None] * np.exp(true)
    )
    return split, pred


def test_fitted_slope_and_intercept_of_a_known_line() -> None:
    x = np.linspace(-1.0, 1.0, 21)
    fit = least_squares_line(x, 2.0 * x + 1.0)
    assert fit is not None
    assert fit.slope == pytest.approx(2.0) and fit.intercept == pytest.approx(1.0)


def test_slope_of_an_unrelated_cloud_is_near_zero() -> None:
    rng = np.random.default_rng(3)
    fit = least_squares_line(rng.normal(size=5000), rng.normal(size=5000))
    assert fit is not None and abs(fit.slope) < 0.05


def test_a_constant_forecast_has_no_slope() -> None:
    assert least_squares_line(np.zeros(10), np.arange(10.0)) is None
    assert least_squares_line(np.array([1.0]), np.array([2.0])) is None
    with pytest.raises(ValueError, match="one length"):
        least_squares_line(np.zeros(3), np.zeros(4))


def test_rolling_skill_of_a_perfect_forecast_is_one_and_of_the_baseline_is_zero() -> None:
    rng = np.random.default_rng(1)
    actual = 100.0 + np.cumsum(rng.normal(size=50))
    naive = np.concatenate([[100.0], actual[:-1]])
    perfect = rolling_skill(actual, actual, naive, window=10)
    assert np.all(np.isnan(perfect[:9])) and np.allclose(perfect[9:], 1.0)
    assert np.allclose(rolling_skill(naive, actual, naive, window=10)[9:], 0.0)


def test_rolling_skill_scores_exactly_the_window_ending_at_each_origin() -> None:
    actual = np.zeros(6)
    baseline = np.ones(6)  # error 1 everywhere
    predicted = np.array([0.0, 0.0, 0.0, 2.0, 2.0, 2.0])  # error 0, then 2
    values = rolling_skill(predicted, actual, baseline, window=2)
    # windows: [0,1] rmse 0; [1,2] 0; [2,3] sqrt(2); [3,4] 2; [4,5] 2
    np.testing.assert_allclose(values[1:], [1.0, 1.0, 1.0 - np.sqrt(2.0), -1.0, -1.0])
    assert np.isnan(values[0])
    exact = rolling_skill(predicted, actual, actual, window=2)  # the baseline is exact: undefined
    assert np.all(np.isnan(exact))
    assert np.all(np.isnan(rolling_skill(predicted, actual, baseline, window=10)))  # too short


def test_window_shrinks_on_a_short_test_part() -> None:
    assert rolling_window_size(1000, 60) == 60
    assert rolling_window_size(80, 60) == 40
    assert rolling_window_size(3, 60) == 2
    with pytest.raises(ValueError):
        rolling_window_size(100, 1)


def test_split_returns_recover_the_log_returns() -> None:
    split, pred = _split()
    returns = split_returns(split)
    np.testing.assert_allclose(returns.predicted, pred, atol=1e-12)
    assert returns.realised.shape == pred.shape


def test_whole_sample_skills_are_the_metrics_per_step_skills() -> None:
    split, pred = _split(info=0.6)
    true = split_returns(split).realised
    drift = 0.0005
    report = evaluate(pred, true, split.last_close, split.anchor_dates, train_drift=drift, bootstrap_reps=10)
    curves = rolling_skills(split, (1, 3), train_drift=drift, window=20)
    for curve in curves:
        metrics = report.per_horizon[curve.step - 1]
        assert curve.whole_vs_random_walk == pytest.approx(metrics.skill, abs=1e-9)
        assert curve.whole_vs_drift == pytest.approx(metrics.skill_vs_drift, abs=1e-9)
        assert curve.vs_random_walk.shape == (200,) and np.isfinite(curve.vs_random_walk[19:]).all()
    k = 1
    assert skill(split.predicted[:, k], split.actual[:, k], split.last_close) == pytest.approx(
        report.per_horizon[k].skill, abs=1e-9
    )
    with pytest.raises(ValueError, match="between 1 and 3"):
        rolling_skills(split, (4,), train_drift=0.0, window=20)
