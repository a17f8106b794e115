"""Metrics in price units against hand-computed numbers, the random walk, skill and direction."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from stockops.model.baselines import random_walk_log_returns, random_walk_prices
from stockops.model.evaluation import evaluate

LAST = np.array([100.0, 200.0])
ACTUAL = np.array([[110.0, 99.0], [200.0, 210.0]])
PRED = np.array([[105.0, 101.0], [190.0, 220.0]])
DATES = pd.to_datetime(["2024-03-01", "2024-03-04"])


def _log_ret(prices: np.ndarray) -> np.ndarray:
    return np.log(prices / LAST[:, None])


def test_metrics_match_hand_computed_prices() -> None:
    report = evaluate(_log_ret(PRED), _log_ret(ACTUAL), LAST, DATES)

    # errors pred - actual: [-5, 2], [-10, 10]; naive (last close) - actual: [-10, 1], [0, -10]
    assert report.rmse == pytest.approx(math.sqrt((25 + 4 + 100 + 100) / 4))
    assert report.mae == pytest.approx(27 / 4)
    assert report.mape == pytest.approx(100 * np.mean([5 / 110, 2 / 99, 10 / 200, 10 / 210]))
    assert report.naive_rmse == pytest.approx(math.sqrt((100 + 1 + 0 + 100) / 4))
    assert report.naive_mae == pytest.approx(21 / 4)
    assert report.skill == pytest.approx(1 - math.sqrt(57.25) / math.sqrt(50.25))
    assert report.skill < 0

    step1, step2 = report.per_horizon
    assert (step1.step, step2.step) == (1, 2)
    assert step1.rmse == pytest.approx(math.sqrt(62.5)) and step1.naive_rmse == pytest.approx(math.sqrt(50))
    assert step2.rmse == pytest.approx(math.sqrt(52)) and step2.naive_rmse == pytest.approx(math.sqrt(50.5))
    assert step2.mae == pytest.approx(6.0)
    assert step1.skill == pytest.approx(1 - math.sqrt(62.5) / math.sqrt(50))

    assert report.n_windows == 2 and report.horizon_days == 2
    assert str(report.test_start) == "2024-03-01" and str(report.test_end) == "2024-03-04"


def test_directional_accuracy_leaves_out_zero_actual_moves() -> None:
    report = evaluate(_log_ret(PRED), _log_ret(ACTUAL), LAST, DATES)

    # moves actual/pred: w1 (+10/+5 hit, -1/+1 miss); w2 (0/-10 not counted, +10/+20 hit)
    assert report.directional_count == 3
    assert report.directional_accuracy == pytest.approx(2 / 3)
    assert report.per_horizon[0].directional_accuracy == 1.0
    assert report.per_horizon[1].directional_accuracy == 0.5


def test_a_model_that_predicts_no_move_has_no_direction_not_zero_accuracy() -> None:
    true = np.array([[0.01], [-0.02]])
    report = evaluate(np.zeros((2, 1)), true, np.array([10.0, 10.0]), DATES)
    assert report.directional_accuracy is None and report.directional_count == 0
    assert report.per_horizon[0].directional_accuracy is None
    assert report.up_rate == 0.5  # the base rate still counts every real move


def test_direction_is_scored_only_where_the_model_predicts_a_move() -> None:
    true = np.array([[0.01, 0.02], [-0.02, 0.01], [0.03, -0.01]])
    pred = np.array([[0.0, 0.01], [0.0, -0.01], [0.0, -0.02]])  # step 1 no move, step 2: 2 of 3 right
    report = evaluate(pred, true, np.array([10.0, 10.0, 10.0]), pd.bdate_range("2024-03-01", periods=3))
    step1, step2 = report.per_horizon
    assert (step1.directional_accuracy, step1.directional_count) == (None, 0)
    assert step2.directional_accuracy == pytest.approx(2 / 3) and step2.directional_count == 3
    assert report.directional_accuracy == pytest.approx(2 / 3) and report.directional_count == 3


def test_skill_sign_perfect_naive_and_worse() -> None:
    rng = np.random.default_rng(5)
    true = np.cumsum(rng.normal(0, 0.01, (50, 3)), axis=1)
    last = rng.uniform(50, 150, 50)
    dates = pd.bdate_range("2023-01-02", periods=50)

    perfect = evaluate(true, true, last, dates)
    naive = evaluate(random_walk_log_returns(50, 3), true, last, dates)
    worse = evaluate(-true, true, last, dates)

    assert perfect.rmse == pytest.approx(0.0, abs=1e-9) and perfect.skill == pytest.approx(1.0)
    assert naive.skill == pytest.approx(0.0, abs=1e-12) and naive.rmse == pytest.approx(naive.naive_rmse)
    assert worse.skill < 0


def test_random_walk_prices_carry_the_last_close() -> None:
    np.testing.assert_array_equal(random_walk_prices(LAST, 3), [[100.0] * 3, [200.0] * 3])


def test_report_is_json_serialisable_and_flattens_for_mlflow() -> None:
    report = evaluate(_log_ret(PRED), _log_ret(ACTUAL), LAST, DATES)
    data = json.loads(report.model_dump_json())
    assert data["per_horizon"][1]["step"] == 2 and data["test_start"] == "2024-03-01"
    flat = report.flat_metrics()
    assert flat["rmse_h2"] == pytest.approx(math.sqrt(52)) and flat["skill"] == report.skill


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pred_log_ret": np.zeros((2, 3))}, "both be"),
        ({"last_close": np.array([1.0])}, "last_close must have shape"),
        ({"dates": DATES[:1]}, "dates must have 2"),
        ({"pred_log_ret": np.array([[np.nan, 0.0], [0.0, 0.0]])}, "pred_log_ret contains non-finite"),
    ],
)
def test_bad_inputs_are_refused(kwargs: dict, message: str) -> None:
    args = {
        "pred_log_ret": _log_ret(PRED),
        "true_log_ret": _log_ret(ACTUAL),
        "last_close": LAST,
        "dates": DATES,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        evaluate(**args)
