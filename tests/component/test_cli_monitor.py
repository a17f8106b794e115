"""`stockops monitor` on a tiny registered model: its training run carries the reference rows, and the
check compares them with the newest stored sessions through the real feature store, Evidently and the
embedded MLflow store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from stockops.cli.app import app

pytestmark = pytest.mark.component


@pytest.fixture(scope="module")
def trained(register_small_model: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    home = tmp_path_factory.mktemp("home")
    return home, register_small_model("AAPL", home=home)


def _env(home: Path) -> dict[str, str | None]:
    return {"STOCKOPS_HOME": str(home), "MLFLOW_TRACKING_URI": None, "STOCKOPS_MLFLOW_TRACKING_URI": None}


def _client(home: Path) -> Any:
    from mlflow.tracking import MlflowClient

    from stockops.config import Settings

    return MlflowClient(tracking_uri=Settings(home=home).tracking_uri)


def test_training_logs_the_rows_the_scaler_saw_as_the_reference(trained: tuple[Path, Any]) -> None:
    from stockops.data.features import MODEL_FEATURES
    from stockops.monitoring.reference import load_reference

    home, summary = trained
    reference = load_reference(_client(home), summary.run_id)
    train = summary.split["train"]
    assert tuple(reference.columns) == tuple(MODEL_FEATURES)
    assert reference.index[-1] == pd.Timestamp(train["last_anchor"])  # up to the last train anchor
    assert reference.index[0] >= pd.Timestamp("2021-01-01")
    assert reference.index[-1] < pd.Timestamp(summary.split["val"]["first_anchor"])  # no val/test day
    assert reference.notna().all().all() and len(reference) > 100


def test_monitor_json_reports_every_feature_and_logs_a_monitoring_run(trained: tuple[Path, Any]) -> None:
    home, summary = trained
    result = CliRunner().invoke(app, ["monitor", "AAPL", "--window", "60", "--json"], env=_env(home))
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["verdict"] in ("NoDrift", "Drifted")
    assert payload["model_version"] == summary.model_version
    assert payload["training_run_id"] == summary.run_id
    assert payload["current_rows"] == 60
    tested = {f["column"] for f in payload["features"]} | {u["column"] for u in payload["untestable"]}
    from stockops.data.features import MODEL_FEATURES

    assert tested == set(MODEL_FEATURES) and payload["features"]
    drifted = sum(f["drifted"] for f in payload["features"])
    assert payload["share"] == pytest.approx(drifted / len(payload["features"]))
    local = Path(payload["local_dir"])
    assert (local / "drift.html").stat().st_size > 10_000
    assert json.loads((local / "drift.json").read_text())["verdict"] == payload["verdict"]

    client = _client(home)
    run = client.get_run(payload["monitor_run_id"])
    assert run.data.tags["stockops.kind"] == "monitor" and run.info.status == "FINISHED"
    assert run.data.tags["stockops.model_version"] == summary.model_version
    assert run.data.metrics["drift_share"] == pytest.approx(payload["share"])
    logged = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "monitoring")}
    assert logged == {"drift.html", "drift.json"}
    assert payload["report_uri"].endswith("monitoring/drift.html")
    # no STOCKOPS_REDIS_URL: nothing served was recorded, and the live part says so
    assert payload["live"]["verdict"] == "InsufficientData"
    assert "no forecast log configured" in payload["live"]["message"]


def test_monitor_table_prints_the_verdict(trained: tuple[Path, Any]) -> None:
    home, _ = trained
    result = CliRunner().invoke(app, ["monitor", "AAPL", "--window", "40"], env=_env(home))
    assert result.exit_code == 0, result.output
    assert "input drift, last 40 sessions" in result.output
    assert any(v in result.output for v in ("NoDrift", "Drifted"))
    assert "log_return" in result.output
    assert "live error: InsufficientData: no forecast log configured" in " ".join(result.output.split())


def test_a_short_window_is_insufficient_data_not_an_error(trained: tuple[Path, Any]) -> None:
    home, _ = trained
    result = CliRunner().invoke(app, ["monitor", "AAPL", "--window", "5", "--json"], env=_env(home))
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["verdict"] == "InsufficientData" and payload["report_uri"] is None
    assert "5 current sessions (at least 20 needed)" in payload["message"]


def test_no_stored_features_is_insufficient_data(trained: tuple[Path, Any]) -> None:
    from stockops.config import Settings
    from stockops.featurestore.layout import StoreLayout
    from stockops.featurestore.store import store_dir_from_settings

    home, _ = trained
    daily = StoreLayout(store_dir_from_settings(Settings(home=home))).daily_file("AAPL")
    aside = daily.with_suffix(".aside")
    shutil.move(daily, aside)
    try:
        result = CliRunner().invoke(app, ["monitor", "AAPL", "--json"], env=_env(home))
    finally:
        shutil.move(aside, daily)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["verdict"] == "InsufficientData" and payload["current_rows"] == 0
    assert payload["message"].startswith("insufficient data: ") and "AAPL" in payload["message"]


def test_a_ticker_without_a_production_version_is_one_line(trained: tuple[Path, Any]) -> None:
    home, _ = trained
    result = CliRunner().invoke(app, ["monitor", "NOPE"], env=_env(home))
    assert result.exit_code == 1
    assert result.output.startswith("error: model stockops-nope has no alias 'production'")
    assert len(result.output.strip().splitlines()) == 1


def test_a_run_without_reference_rows_says_to_retrain(trained: tuple[Path, Any]) -> None:
    from stockops.monitoring.reference import ReferenceMissingError, load_reference

    home, summary = trained
    client = _client(home)
    experiment = client.get_run(summary.run_id).info.experiment_id
    bare = client.create_run(experiment, run_name="trained-before-monitoring")
    client.set_terminated(bare.info.run_id, "FINISHED")
    with pytest.raises(ReferenceMissingError, match="retrain the model"):
        load_reference(client, bare.info.run_id)
