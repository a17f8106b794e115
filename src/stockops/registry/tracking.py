"""MLflow connection: the embedded local store by default, a tracking server when configured.

The local default (SQLite file + artifact folder under STOCKOPS_HOME) means `stockops demo` needs no
server; `MLFLOW_TRACKING_URI` points everything (CLI, trainer Jobs, predictor) at a shared server.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from stockops.config import Settings
from stockops.registry.naming import EXPERIMENT_NAME, METRIC_EPOCH, METRIC_EPOCHS, METRIC_PROGRESS

log = logging.getLogger(__name__)
progress_log = logging.getLogger("stockops.training")


@dataclass(frozen=True)
class TrackingTarget:
    """Where runs, artifacts and the registry live."""

    tracking_uri: str
    artifact_location: str | None  # only for the embedded store; a server decides its own

    @classmethod
    def from_settings(cls, settings: Settings) -> TrackingTarget:
        if settings.mlflow_tracking_uri:
            return cls(settings.mlflow_tracking_uri, None)
        return cls(settings.tracking_uri, settings.artifact_root.as_uri())


def connect(target: TrackingTarget) -> MlflowClient:
    """Point the mlflow module and a client at the target and make sure our experiment exists."""
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    # Our commands print their own results (and `--json` must be the only thing on stdout).
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # mlflow.set_tracking_uri/set_registry_uri also write MLFLOW_TRACKING_URI/MLFLOW_REGISTRY_URI into
    # os.environ, where our Settings would read them back as a configured server (and child processes
    # inherit them): keep mlflow's in-process choice, restore the environment the user gave us.
    saved = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(target.tracking_uri)
    mlflow.set_registry_uri(target.tracking_uri)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    client = MlflowClient(tracking_uri=target.tracking_uri, registry_uri=target.tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    if experiment is None:
        client.create_experiment(EXPERIMENT_NAME, artifact_location=target.artifact_location)
    mlflow.set_experiment(EXPERIMENT_NAME)
    return client


def epoch_logger(client: MlflowClient, run_id: str) -> Callable[[Any], None]:
    """An epoch callback that streams losses, learning rate and progress to the run.

    The operator turns `epoch`, `epochs` and `progress_percent` into the CR's status while the Job runs.
    """

    def on_epoch(stats: Any) -> None:
        step = int(stats.epoch)
        values = {
            "train_loss": float(stats.train_loss),
            "val_loss": float(stats.val_loss),
            "learning_rate": float(stats.lr),
            "epoch_seconds": float(stats.seconds),
            METRIC_EPOCH: float(stats.epoch),
            METRIC_EPOCHS: float(stats.epochs),
            METRIC_PROGRESS: round(100.0 * stats.epoch / max(stats.epochs, 1), 1),
        }
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(key, value, now, step) for key, value in values.items()])
        # One line per epoch for a Job's log (`kubectl logs`); the CLI shows a progress bar instead and
        # keeps INFO off its console.
        progress_log.info(
            "epoch %d/%d train_loss=%.5f val_loss=%.5f (best epoch %d) %.1fs",
            step,
            int(stats.epochs),
            float(stats.train_loss),
            float(stats.val_loss),
            int(stats.best_epoch),
            float(stats.seconds),
        )

    return on_epoch
