"""The operator reads training progress from a real MLflow server over REST (no mlflow package).

A run is created the way the trainer does it (tag `stockops.job_name`, metrics epoch / epochs /
progress_percent logged per epoch) through MLflow's REST API; the reader must find it by tag, follow
new epochs, and ignore runs of other Jobs.
"""

from __future__ import annotations

import time

import pytest
import requests

from stockops.operator.mlflow_progress import JOB_NAME_TAG, MlflowProgressReader

pytestmark = pytest.mark.component


def _post(uri: str, path: str, body: dict) -> dict:
    response = requests.post(f"{uri}/api/2.0/mlflow/{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def _experiment(uri: str, name: str) -> str:
    found = requests.get(
        f"{uri}/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": name}, timeout=10
    )
    if found.status_code == 200:
        return str(found.json()["experiment"]["experiment_id"])
    return str(_post(uri, "experiments/create", {"name": name})["experiment_id"])


def _log_epoch(uri: str, run_id: str, epoch: int, epochs: int) -> None:
    now = int(time.time() * 1000)
    metrics = [
        {"key": "epoch", "value": epoch, "timestamp": now, "step": epoch},
        {"key": "epochs", "value": epochs, "timestamp": now, "step": epoch},
        {"key": "progress_percent", "value": 100 * epoch / epochs, "timestamp": now, "step": epoch},
    ]
    _post(uri, "runs/log-batch", {"run_id": run_id, "metrics": metrics})


def _run(uri: str, experiment_id: str, job_name: str) -> str:
    created = _post(
        uri,
        "runs/create",
        {
            "experiment_id": experiment_id,
            "start_time": int(time.time() * 1000),
            "tags": [{"key": JOB_NAME_TAG, "value": job_name}],
        },
    )
    return str(created["run"]["info"]["run_id"])


def test_progress_follows_the_run_tagged_with_the_job(mlflow_server: str) -> None:
    experiment = _experiment(mlflow_server, "stockops")
    run_id = _run(mlflow_server, experiment, "gspc-g1-abcd1234")
    other = _run(mlflow_server, experiment, "aapl-g1-p1-ffff0000")
    _log_epoch(mlflow_server, other, 9, 10)
    reader = MlflowProgressReader(mlflow_server)

    assert reader.progress("gspc-g1-abcd1234") is None  # run exists, nothing logged yet
    _log_epoch(mlflow_server, run_id, 2, 5)
    first = reader.progress("gspc-g1-abcd1234")
    assert first is not None and (first.epoch, first.epochs, first.percent) == (2, 5, 40)
    assert first.run_id == run_id

    _log_epoch(mlflow_server, run_id, 4, 5)
    later = reader.progress("gspc-g1-abcd1234")
    assert later is not None and (later.epoch, later.percent) == (4, 80)

    assert reader.progress("no-such-job") is None


def test_missing_experiment_is_no_progress(mlflow_server: str) -> None:
    reader = MlflowProgressReader(mlflow_server, experiment="never-created")
    assert reader.progress("anything") is None
