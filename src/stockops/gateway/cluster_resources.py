"""Cluster mode, the pure half: the resources the gateway writes and what it reads back from them.

The gateway is a thin layer over the custom resources: a new ticker becomes a TickerModel made from the
configured template, a question becomes an Analysis, a task is a resource's status. Everything here is a
function of plain dicts (manifests in, manifests out), so every mapping is pinned by fast unit tests and
`stockops.gateway.cluster_backend` only adds the Kubernetes and predictor calls.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from stockops.crd.base import API_VERSION
from stockops.gateway.names import TaskId
from stockops.gateway.schemas import (
    TERMINAL_PHASES,
    AnalysisReport,
    Condition,
    HorizonMetrics,
    ModelMetrics,
    TaskStatus,
    TickerSummary,
)

# Resources the gateway created carry this label, so `DELETE /system/reset` (when enabled) removes
# exactly those and never a resource a user applied with kubectl or Argo CD.
CREATED_BY_LABEL = "stockops.io/created-by"  # the label the embedded templates carry
CREATED_BY = "gateway"
TICKER_ANNOTATION = "stockops.io/ticker"
RETRAIN_ANNOTATION = "stockops.io/retrain"  # stockops.operator.naming.ANNOTATION_RETRAIN
MONITOR_ANNOTATION = "stockops.io/monitor"  # stockops.operator.naming.ANNOTATION_MONITOR

KINDS = {"parentmodel": "ParentModel", "tickermodel": "TickerModel", "analysis": "Analysis"}
PLURALS = {"parentmodel": "parentmodels", "tickermodel": "tickermodels", "analysis": "analyses"}


def for_cluster(resource: dict[str, Any]) -> dict[str, Any]:
    """A filled template (`stockops.gateway.template`) as the cluster gets it: labelled as the
    gateway's, without the local-only ``spec.parentTicker`` (the CRD's schema has no such field; the
    parent is ``parentRef``)."""
    out = copy.deepcopy(resource)
    out["spec"].pop("parentTicker", None)
    meta = out["metadata"]
    meta["labels"] = {**(meta.get("labels") or {}), CREATED_BY_LABEL: CREATED_BY}
    ticker = out["spec"].get("ticker")
    if ticker:
        meta["annotations"] = {**(meta.get("annotations") or {}), TICKER_ANNOTATION: ticker}
    return out


def _metadata(name: str, ticker: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {CREATED_BY_LABEL: CREATED_BY}}
    if ticker is not None:
        meta["annotations"] = {TICKER_ANNOTATION: ticker}
    return meta


def analysis_name(ticker_model: str, question: str) -> str:
    """One Analysis per (TickerModel, question): asking the same question again reads the same resource
    (its status is the answer), a new question makes a new one. At most 63 characters."""
    digest = hashlib.sha256(" ".join(question.split()).lower().encode()).hexdigest()[:10]
    return f"{ticker_model[: 63 - 11]}-{digest}".strip("-")


def analysis_manifest(ticker_model: str, question: str, *, ticker: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Analysis",
        "metadata": _metadata(analysis_name(ticker_model, question), ticker),
        "spec": {"tickerModelRef": {"name": ticker_model}, "question": question},
    }


def task_of(kind: str, obj: dict[str, Any]) -> TaskId:
    """The task a resource stands for now: its kind, name and current generation."""
    meta = obj.get("metadata") or {}
    return TaskId(kind, meta["name"], int(meta.get("generation") or 1))  # type: ignore[arg-type]


# CR status (camelCase) -> the API's metric names (`stockops.gateway.schemas.ModelMetrics`).
_METRIC_NAMES = {
    "skill": "skill",
    "skillLow": "skill_ci_low",
    "skillHigh": "skill_ci_high",
    "skillVsDrift": "skill_vs_drift",
    "rmse": "rmse",
    "mae": "mae",
    "mape": "mape",
    "naiveRmse": "naive_rmse",
    "driftRmse": "drift_rmse",
    "directionalAccuracy": "directional_accuracy",
    "upRate": "up_rate",
    "intervalCoverage": "interval_coverage",
    "noEdge": "no_edge",
}
_HORIZON_NAMES = {
    **_METRIC_NAMES,
    "horizon": "step",
    "intervalLow": "interval_low",
    "intervalHigh": "interval_high",
}


def model_metrics(status: dict[str, Any]) -> ModelMetrics | None:
    """The status' test metrics under the API's names (None before the first training finished)."""
    metrics = status.get("metrics") or {}
    if not metrics:
        return None
    values = {api: metrics[cr] for cr, api in _METRIC_NAMES.items() if metrics.get(cr) is not None}
    rows = [
        HorizonMetrics(**{api: row[cr] for cr, api in _HORIZON_NAMES.items() if row.get(cr) is not None})
        for row in metrics.get("perHorizon") or []
        if row.get("horizon") is not None
    ]
    return ModelMetrics(**values, per_horizon=rows)


def _conditions(status: dict[str, Any]) -> list[Condition]:
    return [
        Condition(
            type=c["type"],
            status=c["status"],
            reason=c.get("reason") or "",
            message=c.get("message") or "",
            last_transition_time=c.get("lastTransitionTime"),
        )
        for c in status.get("conditions") or []
        if c.get("type") and c.get("status") in {"True", "False", "Unknown"}
    ]


def ticker_of(obj: dict[str, Any]) -> str:
    """The ticker a resource is about: the spec's, the gateway's annotation, or the status' (Analysis)."""
    meta = obj.get("metadata") or {}
    return str(
        (obj.get("spec") or {}).get("ticker")
        or (meta.get("annotations") or {}).get(TICKER_ANNOTATION)
        or (obj.get("status") or {}).get("ticker")
        or ""
    )


def analysis_report(status: dict[str, Any], markdown: str | None) -> AnalysisReport | None:
    """The answer of a Ready Analysis: its status fields and the report from its ConfigMap."""
    if not status.get("stance") or not status.get("confidence"):
        return None
    return AnalysisReport(
        stance=status["stance"],
        confidence=status["confidence"],
        summary=status.get("summary") or "",
        markdown=markdown or "",
        cached=bool(status.get("cached")),
        generator=status.get("generator"),
        model_name=status.get("modelName"),
        model_version=status.get("modelVersion"),
        data_date=status.get("dataDate"),
        critic_score=status.get("criticScore"),
        cache=status.get("cache"),
        revisions=status.get("revisions"),
        objections=status.get("objections") or [],
    )


def resource_task(task: TaskId, obj: dict[str, Any], report: str | None = None) -> TaskStatus:
    """The status of ``task`` from its resource as it is now.

    A status that does not describe the task's generation yet (the operator has not seen the change)
    is ``Pending``; a resource that has moved past it answers its newer state and says so."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    generation = int(meta.get("generation") or 1)
    observed = status.get("observedGeneration")
    current = observed is not None and int(observed) >= task.generation
    phase = str(status.get("phase") or "Pending") if current else "Pending"
    training = status.get("training") or {}
    progress = int(training.get("progressPercent") or 0)
    if phase in {"Ready", "Succeeded"}:
        progress = 100
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    message = (ready.get("message") or "") if current else "the operator has not picked up this change yet"
    if generation > task.generation:
        message = f"superseded by generation {generation}; {message}".rstrip("; ")
    mlflow = status.get("mlflow") or {}
    return TaskStatus(
        task_id=str(task),
        kind=task.kind,
        name=task.name,
        ticker=ticker_of(obj),
        phase=phase,  # type: ignore[arg-type]
        done=phase in TERMINAL_PHASES,
        progress=max(0, min(100, progress)),
        epoch=training.get("epoch"),
        epochs=training.get("epochs"),
        conditions=_conditions(status) if current else [],
        metrics=model_metrics(status) if current and task.kind != "analysis" else None,
        result=analysis_report(status, report) if current and task.kind == "analysis" else None,
        message=message,
        model_name=mlflow.get("modelName") or status.get("modelName"),
        model_version=mlflow.get("servingVersion") or status.get("modelVersion"),
        created_at=meta.get("creationTimestamp"),
        updated_at=(training.get("completionTime") or training.get("startTime")),
    )


def inference_url(obj: dict[str, Any]) -> str | None:
    """Where the TickerModel's predictor answers the gateway (a pod), once its InferenceService is
    Ready: the in-cluster address, else (a status written before it existed) the external URL."""
    inference = (obj.get("status") or {}).get("inference") or {}
    return (inference.get("address") or inference.get("url")) if inference.get("ready") else None


def model_name(obj: dict[str, Any]) -> str | None:
    status = obj.get("status") or {}
    return (status.get("mlflow") or {}).get("modelName")


def predict_url(base: str, registered_model: str) -> str:
    """KServe V1 ``:predict`` of the predictor at ``base`` (the InferenceService URL)."""
    return f"{base.rstrip('/')}/v1/models/{registered_model}:predict"


def horizon_of(obj: dict[str, Any]) -> int | None:
    """The forecast horizon the ticker's model was trained for (its status' per-step metrics)."""
    per_horizon = ((obj.get("status") or {}).get("metrics") or {}).get("perHorizon") or []
    steps = [int(row["horizon"]) for row in per_horizon if row.get("horizon")]
    spec_horizon = ((obj.get("spec") or {}).get("model") or {}).get("horizonDays")
    return int(spec_horizon) if spec_horizon else (max(steps) if steps else None)


def ticker_summary(obj: dict[str, Any], kind: str = "child") -> TickerSummary:
    """One row of ``GET /tickers`` from a TickerModel (``child``) or a ParentModel (``parent``)."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    live = (status.get("monitoring") or {}).get("live") or {}
    return TickerSummary(
        ticker=ticker_of(obj),
        name=meta["name"],
        kind=kind,  # type: ignore[arg-type]
        phase=status.get("phase") or "Pending",
        skill=(status.get("metrics") or {}).get("skill"),
        live_skill=live.get("skill"),
        model_version=(status.get("mlflow") or {}).get("servingVersion"),
        task_id=str(task_of("parentmodel" if kind == "parent" else "tickermodel", obj)),
    )
