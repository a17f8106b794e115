"""Training progress from the MLflow REST API (no mlflow package: the operator image stays small).

The trainer tags its run `stockops.job_name=<Job name>` and logs metrics `epoch`, `epochs` and
`progress_percent` each epoch. We find the run once with runs/search over the `stockops` experiment,
remember its id, and afterwards read it with runs/get (the latest metric values come with the run).
Any HTTP or parse problem yields None: progress is nice to have and must never fail a reconcile.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import requests

from stockops.operator.observations import TrainingProgress

JOB_NAME_TAG = "stockops.job_name"
logger = logging.getLogger(__name__)


def progress_from_run(run: dict[str, Any]) -> TrainingProgress | None:
    """Progress from an MLflow run JSON (`{"info": ..., "data": {"metrics": [...]}}`)."""
    metrics = {m.get("key"): m.get("value") for m in (run.get("data") or {}).get("metrics") or []}
    try:
        epoch = int(metrics["epoch"])
        epochs = int(metrics["epochs"])
    except (KeyError, TypeError, ValueError):
        return None
    if "progress_percent" in metrics and metrics["progress_percent"] is not None:
        percent = round(float(metrics["progress_percent"]))
    else:
        percent = round(100 * epoch / epochs) if epochs > 0 else 0
    run_id = (run.get("info") or {}).get("run_id")
    return TrainingProgress(epoch=epoch, epochs=epochs, percent=max(0, min(100, percent)), run_id=run_id)


class MlflowProgressReader:
    """Reads the progress of training Jobs from an MLflow tracking server over HTTP."""

    def __init__(self, tracking_uri: str, experiment: str = "stockops", timeout: float = 3.0) -> None:
        self._base = tracking_uri.rstrip("/")
        self._experiment = experiment
        self._timeout = timeout
        self._session = requests.Session()
        self._experiment_id: str | None = None
        self._run_ids: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._base.startswith(("http://", "https://"))

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any] | None:
        try:
            response = self._session.request(
                method, f"{self._base}/api/2.0/mlflow/{path}", timeout=self._timeout, **kwargs
            )
        except requests.RequestException as exc:
            logger.debug("MLflow %s %s failed: %s", method, path, exc)
            return None
        if response.status_code != 200:
            logger.debug("MLflow %s %s -> HTTP %s", method, path, response.status_code)
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def _experiment_id_or_none(self) -> str | None:
        if self._experiment_id is None:
            body = self._call("GET", "experiments/get-by-name", params={"experiment_name": self._experiment})
            experiment = (body or {}).get("experiment") or {}
            self._experiment_id = experiment.get("experiment_id")
        return self._experiment_id

    def find_run(self, job_name: str) -> dict[str, Any] | None:
        """The newest run tagged with this Job name."""
        experiment_id = self._experiment_id_or_none()
        if experiment_id is None:
            return None
        escaped = job_name.replace("'", "\\'")
        body = self._call(
            "POST",
            "runs/search",
            json={
                "experiment_ids": [experiment_id],
                "filter": f"tags.\"{JOB_NAME_TAG}\" = '{escaped}'",
                "max_results": 1,
                "order_by": ["attributes.start_time DESC"],
            },
        )
        runs = (body or {}).get("runs") or []
        return runs[0] if runs else None

    def progress(self, job_name: str) -> TrainingProgress | None:
        """Latest epoch/epochs/percent of the run for `job_name`, or None if unknown (yet)."""
        if not self.enabled:
            return None
        with self._lock:
            run_id = self._run_ids.get(job_name)
        run: dict[str, Any] | None = None
        if run_id is not None:
            run = (self._call("GET", "runs/get", params={"run_id": run_id}) or {}).get("run")
        if run is None:
            run = self.find_run(job_name)
            found = (run or {}).get("info", {}).get("run_id") if run else None
            if found:
                with self._lock:
                    self._run_ids[job_name] = found
        return progress_from_run(run) if run else None

    def forget(self, job_name: str) -> None:
        """Drop the cached run id once the Job is finished."""
        with self._lock:
            self._run_ids.pop(job_name, None)
