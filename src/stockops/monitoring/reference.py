"""The drift reference of a model version: the training part's feature rows, stored with its MLflow run.

Reference = the rows the feature scaler was fitted on (up to the last train anchor), restricted to the
model's own input columns: what the weights learned from, and never the validation or test days. It is
logged at training time because the feature store moves on (re-ingestion, a changed feature version),
while a served version's reference must stay what that version saw.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

REFERENCE_ARTIFACT_DIR = "monitoring"
REFERENCE_FILE = "reference.parquet"
REFERENCE_ARTIFACT = f"{REFERENCE_ARTIFACT_DIR}/{REFERENCE_FILE}"


class ReferenceMissingError(FileNotFoundError):
    """The version's run has no reference rows (trained before monitoring existed)."""


def reference_rows(features: pd.DataFrame, columns: Sequence[str], last_train_anchor: date) -> pd.DataFrame:
    """The feature rows up to and including ``last_train_anchor`` (what the scaler saw), model columns."""
    cut = features.loc[: pd.Timestamp(last_train_anchor), list(columns)]
    return cut.astype("float64")


def log_reference(client: Any, run_id: str, reference: pd.DataFrame) -> None:
    """Log ``reference`` as ``monitoring/reference.parquet`` of the run."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / REFERENCE_FILE
        reference.to_parquet(path)
        client.log_artifact(run_id, str(path), REFERENCE_ARTIFACT_DIR)


def load_reference(client: Any, run_id: str) -> pd.DataFrame:
    """The reference rows of a run; `ReferenceMissingError` when it has none."""
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(run_id, REFERENCE_ARTIFACT, tmp)
        except (MlflowException, OSError) as exc:
            raise ReferenceMissingError(
                f"run {run_id} has no {REFERENCE_ARTIFACT} (trained before drift monitoring existed?); "
                "retrain the model to record its reference rows"
            ) from exc
        return pd.read_parquet(local)
