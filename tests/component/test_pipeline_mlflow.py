"""The local pipeline end to end on real CSV prices with a real MLflow tracking server on loopback:
train a parent and a transfer-learned child, register them, evaluate, predict, and fail clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from stockops.cli.app import app

pytestmark = pytest.mark.component

SMALL_PARENT = [
    "--start", "2015-01-01", "--epochs", "2", "--hidden-size", "16", "--layers", "1",
    "--context-days", "30", "--horizon-days", "5", "--batch-size", "128",
]  # fmt: skip


@pytest.fixture(scope="module")
def env(mlflow_server: str, ohlcv_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("home")
    return {
        "MLFLOW_TRACKING_URI": mlflow_server,
        "STOCKOPS_HOME": str(home),
        "STOCKOPS_DATA_SOURCE": f"csv:{ohlcv_dir}",
        "STOCKOPS_PROMOTION_MIN_SKILL": "-100",
    }


def invoke(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout


@pytest.fixture(scope="module")
def trained(env: dict[str, str]) -> dict[str, dict]:
    code, out = invoke(env, "train-parent", *SMALL_PARENT, "--json")
    assert code == 0, out
    parent = json.loads(out)
    code, out = invoke(env, "train-child", "AAPL", "--parent", "^GSPC", "--strategy", "freeze",
                       "--start", "2015-01-01", "--epochs", "2", "--json")  # fmt: skip
    assert code == 0, out
    return {"parent": parent, "child": json.loads(out)}


def test_parent_and_child_are_registered_with_artifacts(trained: dict, env: dict[str, str]) -> None:
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    parent, child = trained["parent"], trained["child"]
    assert parent["model_name"] == "stockops-gspc" and child["model_name"] == "stockops-aapl"
    assert child["parent"] == f"stockops-gspc/{parent['model_version']}"
    for summary in (parent, child):
        mv = client.get_model_version(summary["model_name"], summary["model_version"])
        listed = {a.path for a in client.list_artifacts(mv.run_id)}
        assert {"bundle", "metrics.json", "plots"} <= listed
        bundle_files = {Path(a.path).name for a in client.list_artifacts(mv.run_id, "bundle")}
        assert {"weights.pt", "scaler.json", "feature_spec.json", "bundle.json"} <= bundle_files
        run = client.get_run(mv.run_id)
        assert run.data.tags["stockops.synthetic"] == "false"
        assert "val_loss" in run.data.metrics and "progress_percent" in run.data.metrics
        assert run.data.params["model.context_days"] == "30"
        # served weights refitted on all data; the evaluation weights kept beside them
        assert "eval_weights.pt" in bundle_files and run.data.params["training.refit"] == "true"
        ranges = summary["metrics"]["data_ranges"]
        assert ranges["test_end"] <= ranges["refit_end"] == run.data.tags["stockops.refit_end"]
        assert run.data.tags["stockops.train_end"] < run.data.tags["stockops.val_end"] < ranges["test_end"]
        # The gate (set to -100 here) promoted it:
        assert client.get_model_version_by_alias(summary["model_name"], "production").version == mv.version
    cutoff = child["metrics"]["data_ranges"]["parent_cutoff"]
    assert (
        cutoff
        == parent["metrics"]["data_ranges"]["eval_weights_end"]
        < child["metrics"]["split"]["test"]["first_target"]
    )


def test_child_inherits_parent_shape_and_reports_test_split_only(trained: dict) -> None:
    metrics = trained["child"]["metrics"]
    split = metrics["split"]
    assert date.fromisoformat(split["train"]["last_target"]) < date.fromisoformat(
        split["val"]["first_target"]
    )
    assert date.fromisoformat(split["val"]["last_target"]) < date.fromisoformat(split["test"]["first_target"])
    assert len(metrics["per_horizon"]) == 5
    assert metrics["skill"] == pytest.approx(1 - metrics["rmse"] / metrics["naive_rmse"], abs=1e-9)


def test_evaluate_json_has_the_documented_keys(trained: dict, env: dict[str, str]) -> None:
    code, out = invoke(env, "evaluate", "AAPL", "--json")
    assert code == 0, out
    metrics = json.loads(out)
    for key in ("rmse", "naive_rmse", "skill", "directional_accuracy", "per_horizon", "model_version"):
        assert key in metrics
    assert metrics["model_version"] == trained["child"]["model_version"]


def test_predict_gives_dated_business_days_with_naive_beside(trained: dict, env: dict[str, str]) -> None:
    code, out = invoke(env, "predict", "AAPL", "--days", "3", "--json")
    assert code == 0, out
    payload = json.loads(out)
    aapl = pd.read_csv(Path(env["STOCKOPS_DATA_SOURCE"].removeprefix("csv:")) / "AAPL.csv")
    last_day = date.fromisoformat(aapl["Date"].iloc[-1])
    assert payload["as_of"] == last_day.isoformat()
    dates = [date.fromisoformat(p["date"]) for p in payload["forecast"]]
    assert len(dates) == 3 and dates[0] > last_day and all(d.weekday() < 5 for d in dates)
    assert all(n["close"] == pytest.approx(aapl["Close"].iloc[-1]) for n in payload["naive"])
    closes = np.array([p["close"] for p in payload["forecast"]])
    assert np.all(np.isfinite(closes)) and np.all(closes > 0)


def test_gate_keeps_production_and_says_why(trained: dict, env: dict[str, str]) -> None:
    code, out = invoke(env, "train-child", "AAPL", "--parent", "^GSPC", "--strategy", "freeze",
                       "--start", "2015-01-01", "--epochs", "1", "--min-skill", "5", "--json")  # fmt: skip
    assert code == 0, out
    summary = json.loads(out)
    assert summary["promoted"] is False
    assert f"version {trained['child']['model_version']} stays production" in summary["promotion_reason"]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    assert (
        client.get_model_version_by_alias("stockops-aapl", "production").version
        == trained["child"]["model_version"]
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("train-child", "ZZZZ", "--parent", "^GSPC", "--epochs", "1"), "ZZZZ.csv"),
        (("train-child", "MSFT", "--parent", "NOPE", "--epochs", "1"), "stockops-nope"),
        (("predict", "TSLA"), "stockops-tsla"),
        (("evaluate", "AMZN", "--version", "7"), "version 7"),
    ],
)
def test_cli_errors_are_one_clear_line(
    trained: dict, env: dict[str, str], args: tuple, expected: str
) -> None:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 1
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert expected in lines[0]


def test_corrupt_csv_is_named_in_the_error(trained: dict, env: dict[str, str], tmp_path: Path) -> None:
    corrupt = "Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,0.5,not-a-number,10\n"
    (tmp_path / "TSLA.csv").write_text(corrupt)
    result = CliRunner().invoke(app, ["train-child", "TSLA", "--source", f"csv:{tmp_path}"], env=env)
    assert result.exit_code == 1
    assert "TSLA.csv" in result.output and result.output.startswith("error:")


def _trainer(env: dict[str, str], tmp_path: Path, spec: dict, *args: str) -> tuple[int, dict]:
    log = tmp_path / "termination-log"
    proc = subprocess.run(
        [sys.executable, "-m", "stockops.trainer", *args],
        env={
            **os.environ,
            **env,
            "STOCKOPS_TERMINATION_LOG": str(log),
            "STOCKOPS_TRAINER_CONFIG": json.dumps(spec),
            "STOCKOPS_JOB_NAME": "job-under-test",
        },
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    return proc.returncode, json.loads(log.read_text())


def test_trainer_entrypoint_trains_a_child_and_writes_the_termination_message(
    trained: dict, env: dict[str, str], tmp_path: Path
) -> None:
    spec = {"ticker": "MSFT", "parentTicker": "^GSPC", "transfer": {"strategy": "fine-tune", "epochs": 1},
            "data": {"start": "2016-01-01"}, "training": {"epochs": 1}}  # fmt: skip
    code, message = _trainer(env, tmp_path, spec, "--kind", "child")
    assert code == 0, message
    assert message["ok"] is True and message["model_name"] == "stockops-msft"
    assert {"rmse", "naive_rmse", "skill", "directional_accuracy"} <= set(message["metrics"])
    assert {"train_end", "val_end", "test_end", "refit_end"} <= set(message["metrics"]["data_ranges"])
    runs = MlflowClient(env["MLFLOW_TRACKING_URI"]).search_runs(
        [MlflowClient(env["MLFLOW_TRACKING_URI"]).get_experiment_by_name("stockops").experiment_id],
        filter_string="tags.`stockops.job_name` = 'job-under-test'",
    )
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"


def test_trainer_runs_the_walk_forward_the_spec_asks_for_and_reports_it(
    trained: dict, env: dict[str, str], tmp_path: Path
) -> None:
    spec = {"ticker": "MSFT", "parentTicker": "^GSPC", "transfer": {"strategy": "freeze", "epochs": 1},
            "data": {"start": "2019-01-01"}, "training": {"epochs": 1},
            "evaluation": {"walkForwardFolds": 2}}  # fmt: skip
    code, message = _trainer(env, tmp_path, spec, "--kind", "child")
    assert code == 0, message
    backtest = message["backtest"]
    assert backtest["folds"] == 2 and backtest["test_end"] <= message["data_as_of"]
    assert {"median_skill", "positive_fraction", "pooled_skill", "buy_hold_sharpe"} <= set(backtest)
    assert ("sharpe" in backtest) == (backtest["exposure"] > 0)  # a rule never long has no Sharpe
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    run = client.get_run(message["run_id"])  # logged into the training run itself
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "backtest_fold_skill")) == [1, 2]
    logged = json.loads(Path(client.download_artifacts(run.info.run_id, "backtest.json")).read_text())
    assert logged["kind"] == "child" and logged["parent"] == "^GSPC"
    assert all(f["parent_cutoff"] < f["test_start"] for f in logged["per_fold"])


def test_trainer_refuses_more_folds_than_the_history_holds_before_training(
    trained: dict, env: dict[str, str], tmp_path: Path
) -> None:
    spec = {"ticker": "MSFT", "parentTicker": "^GSPC", "data": {"start": "2025-06-01"},
            "training": {"epochs": 1}, "evaluation": {"walkForwardFolds": 10}}  # fmt: skip
    code, message = _trainer(
        {**env, "STOCKOPS_HOME": str(tmp_path / "home")}, tmp_path, spec, "--kind", "child"
    )
    assert code == 2 and message["reason"] == "BadData"
    assert "walk-forward folds" in message["message"] and "need at least" in message["message"]


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"ticker": "NODATA"}, "NoData"),
        ({"ticker": "MSFT", "parentTicker": "^GSPC", "model": {"contextDays": 60, "horizonDays": 5}},
         "ParentIncompatible"),
        ({"ticker": "MSFT", "parentTicker": "^DJI"}, "ParentMissing"),
    ],
)  # fmt: skip
def test_trainer_failures_exit_2_with_a_reason(
    trained: dict, env: dict[str, str], tmp_path: Path, spec: dict, reason: str
) -> None:
    kind = "child" if "parentTicker" in spec else "parent"
    spec = {**spec, "training": {"epochs": 1}}
    code, message = _trainer(env, tmp_path, spec, "--kind", kind)
    assert code == 2
    assert message["ok"] is False and message["reason"] == reason
    assert message["message"]


def test_unreachable_source_trains_on_stored_features_and_says_so(
    trained: dict, env: dict[str, str], tmp_path: Path
) -> None:
    empty = tmp_path / "no-prices"
    empty.mkdir()
    args = [
        "train-child",
        "AAPL",
        "--strategy",
        "freeze",
        "--source",
        f"csv:{empty}",
        "--start",
        "2015-06-01",
    ]
    code, out = invoke(env, *args, "--epochs", "1", "--json")
    assert code == 0, out
    summary = json.loads(out)
    assert summary["data_source"].startswith("csv:") and "AAPL.csv" in summary["data_source"]
    assert "price source unavailable" in summary["data_note"]
    assert f"data as of {summary['data_as_of']}" in summary["data_note"]


def test_predict_falls_back_to_stored_window_when_source_is_down(
    trained: dict, env: dict[str, str], tmp_path: Path
) -> None:
    code, out = invoke(env, "predict", "AAPL", "--days", "1", "--source", f"csv:{tmp_path}", "--json")
    assert code == 0, out
    payload = json.loads(out)
    assert payload["data_note"] and payload["as_of"] in payload["data_note"]
