"""`stockops backtest` on real prices through the Feast store and the embedded MLflow store: two folds
of a one-epoch model on a few recent years, printed, logged per fold, refused when the history is short."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from stockops.cli.app import app
from stockops.config import Settings

pytestmark = pytest.mark.component

SHORT = ["--start", "2022-06-01", "--epochs", "1", "--folds", "2"]


@pytest.fixture(scope="module")
def env(ohlcv_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {
        "STOCKOPS_HOME": str(tmp_path_factory.mktemp("home")),
        "STOCKOPS_DATA_SOURCE": f"csv:{ohlcv_dir}",
        "MLFLOW_TRACKING_URI": "",
    }


@pytest.fixture(scope="module")
def backtest(env: dict[str, str]) -> dict:
    result = CliRunner().invoke(app, ["backtest", "AAPL", *SHORT, "--json"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stdout
    return json.loads(result.stdout)


def test_json_has_two_chronological_folds_and_the_trading_backtest(backtest: dict, ohlcv_dir: Path) -> None:
    last_day = (ohlcv_dir / "AAPL.csv").read_text().strip().splitlines()[-1].split(",")[0]
    first, second = backtest["per_fold"]
    assert backtest["folds"] == 2 and backtest["kind"] == "scratch" and not backtest["synthetic"]
    assert first["data_start"] == second["data_start"] >= "2022-06-01"  # expanding window
    assert first["val_end"] < first["test_start"] <= first["test_end"] < second["test_start"]
    assert second["last_target"] == last_day  # the last block ends with the data
    assert first["n_windows"] == second["n_windows"] == backtest["fold_windows"] >= 20
    trading = backtest["trading"]
    assert trading["start"] == first["test_start"] and trading["end"] == second["test_end"]
    assert trading["strategy"]["days"] == trading["buy_hold"]["days"] == backtest["aggregate"]["n_windows"]
    assert backtest["aggregate"]["positive_fraction"] in (0.0, 0.5, 1.0)


def test_the_run_is_logged_per_fold_and_registers_nothing(backtest: dict, env: dict[str, str]) -> None:
    client = MlflowClient(Settings(home=Path(env["STOCKOPS_HOME"])).tracking_uri)
    run = client.get_run(backtest["run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["stockops.kind"] == "backtest"
    assert run.data.params["walk_forward.folds"] == "2"
    history = client.get_metric_history(run.info.run_id, "backtest_fold_n_windows")
    assert sorted(m.step for m in history) == [1, 2]
    assert {"backtest_pooled_skill", "backtest_strategy_turnover", "backtest_buy_hold_sharpe"} <= set(
        run.data.metrics
    )
    logged = json.loads(Path(client.download_artifacts(run.info.run_id, "backtest.json")).read_text())
    assert logged["per_fold"] == backtest["per_fold"]
    assert client.search_registered_models() == []


def test_tables_show_each_fold_and_both_rules(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["backtest", "AAPL", *SHORT], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stdout
    out = result.stdout
    assert "fold 1/2: tested on" in out and "walk-forward (scratch)" in out
    assert "long/flat on forecast sign" in out and "buy and hold" in out
    assert "folds with skill >= 0" in out


def test_too_short_a_history_is_one_clear_line(env: dict[str, str]) -> None:
    args = ["backtest", "AAPL", "--start", "2025-06-01", "--folds", "5", "--epochs", "1"]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 1
    assert "too short for 5 walk-forward folds" in result.stderr
    assert "need at least" in result.stderr and "fewer folds" in result.stderr
