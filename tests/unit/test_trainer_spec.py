"""The trainer's mapping from a CR spec (camelCase JSON) to a training request, and its failure codes."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from stockops.data.errors import DataUnavailableError, DataValidationError
from stockops.model.experiment import ExperimentDataError
from stockops.model.transfer import TransferError
from stockops.registry.loading import ModelNotFoundError
from stockops.trainer.__main__ import build_spec, classify_failure, parse_args, write_termination
from stockops.trainer.spec import request_from_spec


def test_parent_spec_maps_every_block() -> None:
    spec = {
        "ticker": "^GSPC",
        "data": {"source": "csv:/data", "start": "2010-01-04"},
        "model": {"hiddenSize": 32, "numLayers": 1, "dropout": 0.0, "contextDays": 30, "horizonDays": 3},
        "training": {"epochs": 4, "batchSize": 128, "learningRate": 0.002, "patience": 2, "seed": 7},
        "promotion": {"minSkill": -0.1},
    }
    req = request_from_spec("parent", spec, default_source="auto", job_name="pm-x-1")
    assert req.source == "csv:/data"
    assert req.start == date(2010, 1, 4)
    assert req.model is not None and req.model.hidden_size == 32 and req.model.context_days == 30
    assert req.training.epochs == 4 and req.training.batch_size == 128 and req.training.seed == 7
    assert req.min_skill == -0.1
    assert req.job_name == "pm-x-1"


def test_child_spec_inherits_parent_shape_and_defaults() -> None:
    spec = {"ticker": "AAPL", "parentTicker": "^GSPC", "parentVersion": 3, "transfer": {"strategy": "freeze"}}
    req = request_from_spec("child", spec, default_source="synthetic")
    assert req.model is None  # taken from the parent bundle
    assert req.parent_ticker == "^GSPC" and req.parent_version == "3"
    assert req.transfer is not None and req.transfer.strategy == "freeze"
    assert req.source == "synthetic"


def test_invalid_values_are_rejected_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="epochs"):
        request_from_spec("parent", {"ticker": "X", "training": {"epochs": 0}}, default_source="auto")


def test_cli_flags_override_env_spec() -> None:
    args = parse_args(["--kind", "child", "--ticker", "MSFT", "--parent", "^GSPC", "--epochs", "2"])
    spec = build_spec(
        args, {"STOCKOPS_TRAINER_CONFIG": json.dumps({"ticker": "AAPL", "training": {"epochs": 9}})}
    )
    assert spec["ticker"] == "MSFT"
    assert spec["training"]["epochs"] == 2 and spec["transfer"]["epochs"] == 2
    assert spec["parentTicker"] == "^GSPC"


def test_missing_ticker_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="no ticker"):
        build_spec(parse_args(["--kind", "parent"]), {})


@pytest.mark.parametrize(
    ("exc", "reason", "code"),
    [
        (DataUnavailableError("ZZZZ", "csv:/d", "no file ZZZZ.csv"), "NoData", 2),
        (DataValidationError("AAPL", "csv:/d", "2 NaN closes"), "BadData", 2),
        (TransferError("context 30 != 60"), "ParentIncompatible", 2),
        (ExperimentDataError("AAPL: 40 training windows, need 64"), "BadData", 2),
        (ModelNotFoundError("stockops-gspc has no alias production"), "ParentMissing", 2),
        (ValueError("bad"), "InvalidConfig", 2),
        (RuntimeError("boom"), "Error", 1),
    ],
)
def test_failures_map_to_reasons_and_exit_codes(exc: Exception, reason: str, code: int) -> None:
    assert classify_failure(exc) == (reason, code)


def test_termination_message_is_one_json_line(tmp_path: Path) -> None:
    path = tmp_path / "termination-log"
    write_termination(
        {"ok": False, "reason": "NoData", "message": "x"}, {"STOCKOPS_TERMINATION_LOG": str(path)}
    )
    lines = path.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["reason"] == "NoData"


def test_termination_message_stays_under_the_kubelet_limit() -> None:
    from stockops.pipeline import TrainingSummary

    per_horizon = [
        {"step": i, "rmse": 1.0 / 3, "mae": 0.1, "mape": 0.2, "naive_rmse": 0.5, "naive_mae": 0.4,
         "skill": 0.01, "directional_accuracy": 0.5, "skill_ci_low": -0.0123456, "skill_ci_high": 0.0234567,
         "skill_vs_drift": -0.0012345, "drift_rmse": 0.5012345, "up_rate": 0.5345678, "shrinkage": 0.25,
         "directional_count": 1234, "interval_coverage": 0.8123456, "pinball": 0.1234567,
         "ewma_coverage": 0.7912345, "ewma_pinball": 0.1345678, "interval_low": -0.0234567,
         "interval_high": 0.0245678}
        for i in range(1, 251)
    ]  # fmt: skip
    summary = TrainingSummary(
        ticker="AAPL", kind="child", model_name="stockops-aapl", model_version="3", run_id="r" * 32,
        promoted=True, promotion_reason="x" * 400, production_version="3", synthetic=False,
        data_source="csv:/data/AAPL.csv", data_as_of="2026-08-07", data_note=None,
        metrics={"rmse": 1.0, "skill": 0.01, "per_horizon": per_horizon,
                 **{k: 0.1234567 for k in per_horizon[0] if k != "step"}}, best_epoch=3, epochs_run=8,
        train_seconds=1.0,
    )  # fmt: skip
    message = json.dumps(summary.termination_message())
    assert len(message.encode()) < 4096
    rows = summary.termination_message()["metrics"]["per_horizon"]
    expected = {
        "step": 1, "rmse": 0.333333, "naive_rmse": 0.5, "skill": 0.01, "directional_accuracy": 0.5,
        "skill_ci_low": -0.012346, "skill_ci_high": 0.023457, "skill_vs_drift": -0.001234,
        "drift_rmse": 0.501235, "up_rate": 0.534568, "shrinkage": 0.25, "directional_count": 1234,
        "interval_coverage": 0.812346, "pinball": 0.123457, "ewma_coverage": 0.791234,
        "ewma_pinball": 0.134568, "interval_low": -0.023457, "interval_high": 0.024568,
    }  # fmt: skip
    assert rows[0] == expected
    # The first steps are kept until the byte budget is spent: the default horizon (5) fits in full.
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]


def test_walk_forward_folds_come_from_the_evaluation_block() -> None:
    spec = {"ticker": "AAPL", "parentTicker": "^GSPC", "evaluation": {"walkForwardFolds": 4}}
    assert request_from_spec("child", spec, default_source="auto").walk_forward_folds == 4
    assert request_from_spec("parent", {"ticker": "^GSPC"}, default_source="auto").walk_forward_folds is None
    with pytest.raises(ValueError, match="walk_forward_folds"):
        request_from_spec(
            "parent", {"ticker": "^GSPC", "evaluation": {"walkForwardFolds": 11}}, default_source="a"
        )


def test_a_history_too_short_for_the_folds_is_bad_data() -> None:
    from stockops.model.folds import WalkForwardDataError

    assert classify_failure(WalkForwardDataError("history too short for 5 folds")) == ("BadData", 2)


def test_the_termination_message_keeps_the_backtest_within_the_kubelet_limit() -> None:
    from stockops.pipeline import TrainingSummary

    # The largest compact backtest: every figure present, long decimals, a large turnover.
    backtest = {
        "folds": 10, "fold_windows": 12345, "test_start": "2004-01-02", "test_end": "2026-08-07",
        **{k: -0.123456789 for k in (
            "median_skill", "mean_skill", "positive_fraction", "pooled_skill", "pooled_skill_ci_low",
            "pooled_skill_ci_high", "interval_coverage", "directional_accuracy", "up_rate", "sharpe",
            "buy_hold_sharpe", "annual_return", "buy_hold_annual_return", "max_drawdown",
            "buy_hold_max_drawdown", "exposure", "cost")},
        "turnover": 251.987654,
    }  # fmt: skip
    backtest = {k: round(v, 4) if isinstance(v, float) else v for k, v in backtest.items()}
    per_horizon = [
        {"step": i, "rmse": 1.0 / 3, "naive_rmse": 0.5, "skill": 0.01, "directional_accuracy": 0.5,
         "skill_ci_low": -0.0123456, "skill_ci_high": 0.0234567, "skill_vs_drift": -0.0012345,
         "drift_rmse": 0.5012345, "up_rate": 0.5345678, "shrinkage": 0.25, "directional_count": 1234,
         "interval_coverage": 0.8123456, "pinball": 0.1234567, "ewma_coverage": 0.7912345,
         "ewma_pinball": 0.1345678, "interval_low": -0.0234567, "interval_high": 0.0245678}
        for i in range(1, 61)
    ]  # fmt: skip
    ranges = {k: "2026-08-07" for k in ("train_end", "val_end", "test_end", "refit_end", "eval_weights_end",
                                        "parent_cutoff")}  # fmt: skip
    summary = TrainingSummary(
        ticker="BRK-B", kind="child", model_name="stockops-brk-b", model_version="123", run_id="r" * 32,
        promoted=False, promotion_reason="x" * 400, production_version="122", synthetic=False,
        data_source="csv:/data/BRK-B.csv", data_as_of="2026-08-07", data_note="n" * 120,
        metrics={"rmse": 1.0, "skill": 0.01, "per_horizon": per_horizon, "data_ranges": ranges,
                 "no_edge": False, **{k: 0.1234567 for k in per_horizon[0] if k != "step"}},
        best_epoch=3, epochs_run=8, train_seconds=1.0, backtest=backtest,
    )  # fmt: skip
    message = summary.termination_message()
    assert message["backtest"] == backtest
    assert len(json.dumps(message, separators=(",", ":")).encode()) < 4096  # as write_termination writes it
    assert [r["step"] for r in message["metrics"]["per_horizon"]] == [1, 2, 3, 4, 5]


def test_ensemble_members_and_l2_sp_reach_the_training_and_transfer_configs() -> None:
    spec = {
        "ticker": "AAPL",
        "parentTicker": "^GSPC",
        "training": {"ensembleMembers": 3},
        "transfer": {"strategy": "fine-tune", "l2SP": 0.05},
    }
    request = request_from_spec("child", spec, default_source="auto")
    assert request.training.ensemble_members == 3
    assert request.transfer is not None and request.transfer.l2_sp == 0.05
    plain = request_from_spec("child", {"ticker": "AAPL", "parentTicker": "^GSPC"}, default_source="auto")
    assert plain.training.ensemble_members == 1 and plain.transfer is not None and plain.transfer.l2_sp == 0.0


def test_in_a_cluster_synthetic_models_are_served_only_when_the_resource_opts_in() -> None:
    child = {"ticker": "AAPL", "parentTicker": "^GSPC"}
    assert request_from_spec("child", child, default_source="auto").allow_synthetic is False
    opted = {**child, "promotion": {"allowSynthetic": True}}
    assert request_from_spec("child", opted, default_source="auto").allow_synthetic is True
    parent = {"ticker": "^GSPC", "promotion": {"allowSynthetic": True, "minSkill": 0.01}}
    request = request_from_spec("parent", parent, default_source="auto")
    assert request.allow_synthetic is True and request.min_skill == 0.01
    from stockops.pipeline import TrainRequest

    assert TrainRequest(ticker="^GSPC", kind="parent").allow_synthetic is True  # the local CLI and demo
