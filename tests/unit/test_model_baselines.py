"""Both walks side by side, the always-up base rate and block-bootstrap intervals for skill."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from stockops.model.bootstrap import (
    block_bootstrap_indices,
    block_length,
    skill_difference_interval,
    skill_interval,
)
from stockops.model.evaluation import evaluate

LAST = np.array([100.0, 200.0])
ACTUAL = np.array([[110.0, 99.0], [200.0, 210.0]])
PRED = np.array([[105.0, 101.0], [190.0, 220.0]])
DATES = pd.to_datetime(["2024-03-01", "2024-03-04"])


def _log_ret(prices: np.ndarray) -> np.ndarray:
    return np.log(prices / LAST[:, None])


def test_drift_walk_uses_the_training_drift_and_is_scored_beside_the_zero_drift_walk() -> None:
    mu = 0.01
    report = evaluate(_log_ret(PRED), _log_ret(ACTUAL), LAST, DATES, train_drift=mu, bootstrap_reps=50)

    drift = LAST[:, None] * np.exp(mu * np.array([1.0, 2.0]))[None, :]
    expected = math.sqrt(np.mean((drift - ACTUAL) ** 2))
    assert report.drift_rmse == pytest.approx(expected)
    assert report.skill_vs_drift == pytest.approx(1 - report.rmse / expected)
    assert report.per_horizon[1].drift_rmse == pytest.approx(
        math.sqrt(np.mean((drift[:, 1] - ACTUAL[:, 1]) ** 2))
    )
    assert report.train_drift == mu
    flat = report.flat_metrics()
    assert flat["skill_vs_drift"] == report.skill_vs_drift and "drift_rmse_h2" in flat


def test_up_rate_is_the_always_up_accuracy_on_the_scored_pairs() -> None:
    # actual moves: +10, -1, 0 (not scored), +10 -> always-up right on 2 of 3
    report = evaluate(_log_ret(PRED), _log_ret(ACTUAL), LAST, DATES, bootstrap_reps=50)
    assert report.up_rate == pytest.approx(2 / 3)
    assert report.per_horizon[0].up_rate == 1.0 and report.per_horizon[1].up_rate == pytest.approx(0.5)


def test_a_model_equal_to_the_naive_forecast_has_a_degenerate_zero_interval() -> None:
    rng = np.random.default_rng(0)
    true = np.cumsum(rng.normal(scale=0.01, size=(300, 3)), axis=1)
    report = evaluate(
        np.zeros_like(true), true, np.full(300, 50.0), pd.bdate_range("2020-01-01", periods=300)
    )
    assert report.skill == 0.0 and report.skill_ci_low == 0.0 and report.skill_ci_high == 0.0


def test_skill_interval_contains_the_point_and_is_reproducible() -> None:
    rng = np.random.default_rng(1)
    true = rng.normal(scale=0.01, size=(400, 2))
    pred = 0.3 * true + rng.normal(scale=0.01, size=(400, 2))
    dates = pd.bdate_range("2020-01-01", periods=400)
    a = evaluate(pred, true, np.full(400, 50.0), dates, seed=3)
    b = evaluate(pred, true, np.full(400, 50.0), dates, seed=3)

    assert a.skill_ci_low < a.skill < a.skill_ci_high
    assert (a.skill_ci_low, a.skill_ci_high) == (b.skill_ci_low, b.skill_ci_high)
    assert a.bootstrap_block >= 2 and a.bootstrap_reps == 1000


def test_blocks_are_at_least_the_horizon_and_wrap_around() -> None:
    assert block_length(1000, 5) == 10 and block_length(50, 20) == 20 and block_length(8, 20) == 8
    idx = block_bootstrap_indices(10, 4, reps=200, seed=0)
    assert idx.shape == (200, 10) and idx.min() >= 0 and idx.max() <= 9
    steps = np.diff(idx[:, :4], axis=1) % 10  # the first block is consecutive (mod n)
    assert np.all(steps == 1)


def test_interval_covers_the_true_skill_about_95_percent_of_the_time() -> None:
    """Known distribution: model error variance 0.81 x the naive one -> true skill 1 - 0.9 = 0.1."""
    rng = np.random.default_rng(2)
    hits = 0
    for i in range(100):
        naive = rng.normal(size=300) ** 2
        model = rng.normal(scale=0.9, size=300) ** 2
        lo, hi = skill_interval(model, naive, block=5, reps=400, seed=i)
        hits += lo <= 0.1 <= hi
    assert 88 <= hits <= 100


def test_paired_difference_detects_a_clearly_worse_model() -> None:
    rng = np.random.default_rng(4)
    base = rng.normal(size=500) ** 2
    old = 0.8 * base
    new = 1.1 * base
    point, _lo, hi = skill_difference_interval(new, old, base, block=5, reps=300, seed=0)
    assert point == pytest.approx(math.sqrt(0.8) - math.sqrt(1.1)) and hi < 0
