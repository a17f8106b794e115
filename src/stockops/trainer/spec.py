"""Turning a ParentModel/TickerModel spec (camelCase JSON, as the operator passes it) into a TrainRequest.

Pure, so the mapping from the Kubernetes API to the ML core is unit-tested without a cluster.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from stockops.model.config import ModelConfig, TrainingConfig, TransferConfig
from stockops.pipeline import DEFAULT_START, TrainRequest

_MODEL_KEYS = {
    "hiddenSize": "hidden_size",
    "numLayers": "num_layers",
    "dropout": "dropout",
    "contextDays": "context_days",
    "horizonDays": "horizon_days",
}
_TRAINING_KEYS = {
    "epochs": "epochs",
    "batchSize": "batch_size",
    "learningRate": "learning_rate",
    "patience": "patience",
    "earlyStoppingPatience": "patience",
    "seed": "seed",
    "weightDecay": "weight_decay",
    "gradClip": "grad_clip",
    "numThreads": "num_threads",
    "ensembleMembers": "ensemble_members",
}
_TRANSFER_KEYS = {
    "strategy": "strategy",
    "epochs": "epochs",
    "learningRate": "learning_rate",
    "l2SP": "l2_sp",
}


def _pick(block: dict[str, Any] | None, keys: dict[str, str]) -> dict[str, Any]:
    return {keys[k]: v for k, v in (block or {}).items() if k in keys and v is not None}


def request_from_spec(
    kind: Literal["parent", "child"],
    spec: dict[str, Any],
    *,
    default_source: str,
    job_name: str | None = None,
    default_min_skill: float = 0.0,
) -> TrainRequest:
    """Map a CR spec to a TrainRequest; unknown keys are ignored (the CRD schema already rejected
    invalid ones), missing ones take the ML core's defaults."""
    data = spec.get("data") or {}
    model_fields = _pick(spec.get("model"), _MODEL_KEYS)
    training_fields = _pick(spec.get("training"), _TRAINING_KEYS)
    transfer = None
    parent_ticker = None
    if kind == "child":
        transfer_fields = _pick(spec.get("transfer"), _TRANSFER_KEYS)
        transfer = TransferConfig(**transfer_fields)
        parent_ticker = spec.get("parentTicker") or (spec.get("parentRef") or {}).get("ticker")
    promotion = spec.get("promotion") or {}
    # A child's shape comes from its parent unless the spec names one (then transfer checks it).
    model = ModelConfig(**model_fields) if (model_fields or kind == "parent") else None
    return TrainRequest(
        ticker=spec["ticker"],
        kind=kind,
        source=data.get("source") or default_source,
        start=_date(data.get("start")) or DEFAULT_START,
        end=_date(data.get("end")),
        model=model,
        training=TrainingConfig(**training_fields),
        parent_ticker=parent_ticker,
        parent_version=_str_or_none(spec.get("parentVersion")),
        transfer=transfer,
        min_skill=float(promotion.get("minSkill", default_min_skill)),
        # in a cluster a model trained on synthetic prices is served only when the resource opts in
        allow_synthetic=bool(promotion.get("allowSynthetic", False)),
        job_name=job_name,
        walk_forward_folds=(spec.get("evaluation") or {}).get("walkForwardFolds"),
    )


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _str_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)
