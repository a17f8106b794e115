"""Publishing a trained model: one MLflow run with params, artifacts, a signed pyfunc model, a registry
version, and the promotion gate that decides whether the `production` alias moves.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from stockops import __version__
from stockops.model.bundle import ModelBundle
from stockops.monitoring.reference import log_reference
from stockops.registry.naming import EXPERIMENT_NAME, PRODUCTION_ALIAS, registered_model_name
from stockops.registry.promotion import PromotionDecision, VersionComparison, decide_promotion

PYFUNC_ENTRY = Path(__file__).with_name("pyfunc_entry.py")


@dataclass(frozen=True)
class PublishedVersion:
    model_name: str
    version: str
    run_id: str
    model_uri: str
    promoted: bool
    promotion_reason: str
    production_version: str | None


@contextmanager
def training_run(
    client: MlflowClient, *, run_name: str, params: Mapping[str, Any], tags: Mapping[str, str]
) -> Iterator[str]:
    """An active MLflow run for one training; failed trainings end FAILED so they are never mistaken
    for finished ones."""
    # The experiment by id from this client's store: mlflow's process-wide active experiment (and the
    # MLFLOW_EXPERIMENT_ID it exports) may still name another store's experiment in a long process.
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    experiment_id = experiment.experiment_id if experiment is not None else None
    with mlflow.start_run(run_name=run_name, tags=dict(tags), experiment_id=experiment_id) as run:
        mlflow.log_params({k: _param(v) for k, v in params.items()})
        yield run.info.run_id


def publish(
    client: MlflowClient,
    run_id: str,
    *,
    ticker: str,
    bundle: ModelBundle,
    metrics: dict[str, Any],
    plot_paths: Sequence[Path],
    example_window: np.ndarray,
    min_skill: float,
    comparison: VersionComparison | None = None,
    reference: pd.DataFrame | None = None,
    allow_synthetic: bool = True,
) -> PublishedVersion:
    """Log artifacts and the pyfunc model, register a version, apply the gate, attach metrics JSON.

    ``reference``: the training part's feature rows, logged for drift monitoring
    (`stockops.monitoring.reference`).

    The metrics JSON is logged last so it can carry the version and promotion outcome it belongs to.
    """
    name = registered_model_name(ticker)
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = Path(tmp) / "bundle"
        bundle.save(bundle_dir)
        client.log_artifacts(run_id, str(bundle_dir), "bundle")
        for plot in plot_paths:
            client.log_artifact(run_id, str(plot), "plots")
        if reference is not None:
            log_reference(client, run_id, reference)
        example = example_window[:1].astype(np.float32)
        signature = infer_signature(example, bundle.predict_log_returns(example))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_ENTRY),
            artifacts={"bundle": str(bundle_dir)},
            signature=signature,
            pip_requirements=[f"stockops=={__version__}", "torch==2.13.0", "mlflow"],
            registered_model_name=name,
        )
    version = str(info.registered_model_version)
    skill = float(metrics.get("skill", float("nan")))
    current = _production_version(client, name)
    # the comparison was made against the production version at training time; if another version took
    # the alias since, it does not apply to this one
    applies = comparison is not None and comparison.production_version == current
    decision: PromotionDecision = decide_promotion(
        new_version=version,
        new_skill=skill,
        min_skill=min_skill,
        current_version=current,
        skill_interval=(metrics.get("skill_ci_low"), metrics.get("skill_ci_high")),
        comparison=comparison if applies else None,
        no_edge=bundle.no_edge,
        synthetic=bool(bundle.synthetic),
        allow_synthetic=allow_synthetic,
    )
    client.set_model_version_tag(name, version, "skill", f"{skill:.6f}")
    client.set_model_version_tag(name, version, "synthetic", str(bool(bundle.synthetic)).lower())
    client.set_model_version_tag(name, version, "promotion", decision.reason)
    client.set_model_version_tag(name, version, "no_edge", str(bundle.no_edge).lower())
    if decision.promote:
        client.set_registered_model_alias(name, PRODUCTION_ALIAS, version)
    production = version if decision.promote else current
    full_metrics = {
        **metrics,
        "model_name": name,
        "model_version": version,
        "run_id": run_id,
        "promoted": decision.promote,
        "promotion_reason": decision.reason,
        "production_version": production,
        "comparison_with_production": comparison.describe() if applies and comparison else None,
    }
    client.log_text(run_id, json.dumps(full_metrics, indent=2, sort_keys=True), "metrics.json")
    flat = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    for key, value in flat.items():
        client.log_metric(run_id, f"test_{key}", value)
    return PublishedVersion(
        model_name=name,
        version=version,
        run_id=run_id,
        model_uri=f"models:/{name}/{version}",
        promoted=decision.promote,
        promotion_reason=decision.reason,
        production_version=production,
    )


def _production_version(client: MlflowClient, name: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, PRODUCTION_ALIAS).version)
    except MlflowException:
        return None


def _param(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:6000]
