"""A walk-forward backtest in MLflow: per-fold metrics (``step = fold``), the summary, the JSON.

Every key starts with ``backtest_`` so a backtest logged inside a training run (the trainer, when a
resource sets ``evaluation.walkForwardFolds``) never mixes with that run's ``test_`` metrics, and a
standalone ``stockops backtest`` run reads the same way.
"""

from __future__ import annotations

import json
import time

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from stockops.model.backtest_summary import FoldResult, WalkForwardSummary

PREFIX = "backtest_"
FOLD_PREFIX = f"{PREFIX}fold_"
ARTIFACT = "backtest.json"


def log_fold(client: MlflowClient, run_id: str, fold: FoldResult) -> None:
    """One fold's figures as ``backtest_fold_<name>`` at ``step = fold`` (MLflow plots them per fold)."""
    now = int(time.time() * 1000)
    metrics = [Metric(f"{FOLD_PREFIX}{k}", v, now, fold.fold) for k, v in fold.scalars().items()]
    client.log_batch(run_id, metrics=metrics)


def log_summary(client: MlflowClient, run_id: str, summary: WalkForwardSummary) -> None:
    """The pooled and trading figures as ``backtest_<name>`` and the whole summary as ``backtest.json``."""
    now = int(time.time() * 1000)
    metrics = [Metric(f"{PREFIX}{k}", v, now, 0) for k, v in summary.summary_metrics().items()]
    client.log_batch(run_id, metrics=metrics)
    client.log_text(run_id, json.dumps(summary.model_dump(mode="json"), indent=2, sort_keys=True), ARTIFACT)
