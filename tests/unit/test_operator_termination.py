"""Parsing the trainer's termination message."""

from __future__ import annotations

import json

from stockops.operator.termination import metrics_to_status, parse_termination_message


def test_success_message_is_parsed() -> None:
    text = json.dumps({"ok": True, "model_name": "stockops-aapl", "model_version": 3, "promoted": True})
    result = parse_termination_message(text)
    assert result is not None and result.ok and result.model_version == "3"


def test_last_json_line_wins_over_log_lines() -> None:
    text = "epoch 1\nTraceback...\n" + json.dumps({"ok": False, "reason": "NoData", "message": "no rows"})
    result = parse_termination_message(text)
    assert result is not None and not result.ok
    assert (result.failure_reason, result.message) == ("NoData", "no rows")


def test_garbage_is_an_error_never_a_success() -> None:
    result = parse_termination_message("Killed\n")
    assert result is not None and not result.ok and result.failure_reason == "Error"
    assert "Killed" in (result.message or "")
    assert parse_termination_message("") is None and parse_termination_message(None) is None


def test_unknown_failure_reason_collapses_to_error() -> None:
    result = parse_termination_message(json.dumps({"ok": False, "reason": "Weird"}))
    assert result is not None and result.failure_reason == "Error"


def test_metrics_are_camel_cased_and_non_finite_values_dropped() -> None:
    metrics = {
        "rmse": 2.0,
        "naive_rmse": 2.5,
        "skill": 0.2,
        "mape": float("inf"),
        "directional_accuracy": True,
        "per_horizon": [{"horizon": 1, "rmse": 1.0, "naive_rmse": 1.2}, {"rmse": 3.0}, "junk"],
    }
    out = metrics_to_status(metrics)
    assert out["naiveRmse"] == 2.5 and out["skill"] == 0.2
    assert "mape" not in out and "directionalAccuracy" not in out
    assert out["perHorizon"] == [{"horizon": 1, "rmse": 1.0, "naiveRmse": 1.2}, {"horizon": 2, "rmse": 3.0}]


def test_status_metrics_carry_skill_intervals_both_walks_the_base_rate_and_lambda() -> None:
    from stockops.operator.termination import metrics_to_status

    status = metrics_to_status(
        {
            "skill": 0.01,
            "skill_ci_low": -0.02,
            "skill_ci_high": 0.03,
            "skill_vs_drift": -0.001,
            "drift_rmse": 5.0,
            "up_rate": 0.54,
            "no_edge": False,
            "per_horizon": [{"step": 1, "skill": 0.0, "skill_ci_low": 0.0, "shrinkage": 0.0, "up_rate": 0.5}],
        }
    )
    assert status["skillLow"] == -0.02 and status["skillHigh"] == 0.03 and status["skillVsDrift"] == -0.001
    assert status["upRate"] == 0.54 and status["driftRmse"] == 5.0 and status["noEdge"] is False
    assert status["perHorizon"] == [
        {"horizon": 1, "skill": 0.0, "skillLow": 0.0, "upRate": 0.5, "shrinkage": 0.0}
    ]


def test_a_model_without_direction_shows_a_zero_count_and_no_accuracy() -> None:
    status = metrics_to_status(
        {
            "directional_accuracy": None,
            "directional_count": 0,
            "per_horizon": [{"step": 1, "directional_accuracy": 0.55, "directional_count": 40}],
        }
    )
    assert "directionalAccuracy" not in status and status["directionalCount"] == 0
    assert status["perHorizon"] == [{"horizon": 1, "directionalAccuracy": 0.55, "directionalCount": 40}]


def test_the_backtest_block_is_parsed_camel_cased_and_cleaned() -> None:
    from stockops.operator.termination import backtest_to_status

    line = json.dumps(
        {"ok": True, "metrics": {}, "backtest": {"folds": 3, "median_skill": 0.01, "sharpe": None,
         "buy_hold_sharpe": 0.5, "test_start": "2020-01-02", "max_drawdown": float("nan"), "extra": 1}}
    )  # fmt: skip
    result = parse_termination_message(line)
    assert result is not None and result.backtest is not None
    assert backtest_to_status(result.backtest) == {
        "folds": 3, "medianSkill": 0.01, "buyHoldSharpe": 0.5, "testStart": "2020-01-02",
    }  # fmt: skip
    assert backtest_to_status(None) is None and backtest_to_status({"sharpe": None}) is None
