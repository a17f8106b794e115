"""The monitoring check Job's entry point as the cluster runs it (`python -m stockops.monitoring.job`):
a tiny registered model in the embedded MLflow store, real prices, forecasts "served" earlier recorded
in a real Redis stream, the result in the termination-message file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytestmark = pytest.mark.component


@pytest.fixture(scope="module")
def trained(register_small_model: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    home = tmp_path_factory.mktemp("home")
    return home, register_small_model("AAPL", home=home)


def _run(home: Path, ohlcv_dir: Path, tmp_path: Path, **env: str) -> tuple[int, dict[str, Any], str]:
    log = tmp_path / "termination-log"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STOCKOPS_", "MLFLOW_"))}
    process = subprocess.run(
        [sys.executable, "-m", "stockops.monitoring.job"],
        env={
            **clean,
            "STOCKOPS_HOME": str(home),
            "STOCKOPS_DATA_SOURCE": f"csv:{ohlcv_dir}",
            "STOCKOPS_TERMINATION_LOG": str(log),
            "STOCKOPS_MONITOR_CONFIG": json.dumps({"ticker": "AAPL", "window": 60, "liveWindow": 30}),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    text = log.read_text() if log.exists() else ""
    assert len(text.encode()) < 4096
    return process.returncode, (json.loads(text) if text else {}), process.stderr


def _record_bad_forecasts(url: str, summary: Any, ohlcv_dir: Path, count: int = 20) -> None:
    """Answers as the predictor serves them, for `count` past sessions, each 10 % above the last close:
    far worse than the random walk on the closes that followed."""
    from stockops.monitoring.forecast_log import RedisForecastLog

    closes = pd.read_csv(ohlcv_dir / "AAPL.csv", parse_dates=["Date"]).set_index("Date")["Close"]
    log = RedisForecastLog(url)
    dates = closes.index[-(count + 10) : -10]
    for as_of in dates:
        position = closes.index.get_loc(as_of)
        last = float(closes.iloc[position])
        path = [
            {"date": d.date().isoformat(), "close": last * 1.1, "low": last * 1.08, "high": last * 1.12}
            for d in closes.index[position + 1 : position + 6]
        ]
        answer = {
            "ticker": "AAPL",
            "model_name": summary.model_name,
            "model_version": summary.model_version,
            "as_of": as_of.date().isoformat(),
            "last_close": last,
            "days": 5,
            "forecast": path,
        }
        assert log.record(answer)


def test_the_check_job_writes_drift_and_live_error_of_the_served_version(
    trained: tuple[Path, Any], ohlcv_dir: Path, running_redis: Any, tmp_path: Path
) -> None:
    home, summary = trained
    _record_bad_forecasts(running_redis.url, summary, ohlcv_dir)
    code, result, stderr = _run(home, ohlcv_dir, tmp_path, STOCKOPS_REDIS_URL=running_redis.url)
    assert code == 0, stderr
    assert result["ok"] and result["model_version"] == summary.model_version
    drift, live = result["drift"], result["live"]
    assert drift["verdict"] in ("Drifted", "NoDrift") and drift["window"] == 60
    assert drift["checkedAt"].endswith("Z") and drift["reportUri"].endswith("monitoring/drift.html")
    assert drift["testedFeatures"] + len(drift.get("untestableFeatures", [])) >= 10
    assert live["verdict"] == "Degraded" and live["forecasts"] == 20
    assert live["skillHigh"] < 0 and live["rmse"] > live["naiveRmse"]
    assert live["coverage"] < 0.5  # a 10 % jump rarely lies inside those intervals (nominal 0.8)

    from mlflow.tracking import MlflowClient

    from stockops.config import Settings

    run = MlflowClient(tracking_uri=Settings(home=home).tracking_uri).get_run(result["run_id"])
    assert run.data.tags["stockops.live.verdict"] == "Degraded"
    assert run.data.metrics["live_skill"] == pytest.approx(live["skill"])
    assert int(run.data.params["calibration_windows"]) >= 10  # K-S thresholds calibrated on the reference


def test_an_unreachable_redis_fails_the_attempt_for_a_retry(
    trained: tuple[Path, Any], ohlcv_dir: Path, loopback: Any, tmp_path: Path
) -> None:
    home, _ = trained
    dead = f"redis://127.0.0.1:{loopback.free_port()}/0"  # configured, nobody listening
    code, result, _ = _run(home, ohlcv_dir, tmp_path, STOCKOPS_REDIS_URL=dead)
    assert code == 1  # an outage: the Job's backoff retries it
    # the feature store's online store (refreshed first) meets the dead Redis before the forecast log
    assert result["ok"] is False and result["reason"] == "RedisUnavailable", result


def test_no_production_version_fails_at_once_naming_it(ohlcv_dir: Path, tmp_path: Path) -> None:
    code, result, _ = _run(tmp_path / "empty-home", ohlcv_dir, tmp_path)
    assert code == 2  # retrying cannot help: the pod-failure policy fails the Job
    assert result["ok"] is False and result["reason"] == "NoProductionVersion"
    assert "stockops-aapl" in result["message"]
