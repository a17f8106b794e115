"""Compact, typed views of what the cluster reports (Jobs, InferenceServices, parents).

Kopf indexes keep these small values instead of whole objects, which keeps the operator's memory flat
with a thousand resources; the status function consumes them instead of raw dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from stockops.operator.naming import (
    ANNOTATION_PARENT_VERSION,
    ANNOTATION_SPEC_HASH,
    ANNOTATION_TERMINATION,
    COMPONENT_TRAINING,
    LABEL_COMPONENT,
)


class JobState(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUSPENDED = "Suspended"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class JobObservation:
    """A Job we created (training or monitoring check) as last seen."""

    name: str
    namespace: str
    state: JobState
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    start_time: str | None = None
    completion_time: str | None = None
    failure_reason: str | None = None
    failure_message: str | None = None
    termination_message: str | None = None
    parent_version: str | None = None
    component: str = COMPONENT_TRAINING
    ready: int = 0  # pods Ready (status.ready): 0 while a pod waits, e.g. for a Secret key

    @property
    def finished(self) -> bool:
        return self.state in (JobState.SUCCEEDED, JobState.FAILED)

    @property
    def attempts(self) -> int:
        return self.active + self.succeeded + self.failed


def _condition(conditions: list[dict[str, Any]], type_: str) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_ and c.get("status") == "True"), None)


def observe_job(job: dict[str, Any]) -> JobObservation:
    """Reduce a batch/v1 Job to what the status needs (the Job controller's conditions decide)."""
    meta = job.get("metadata") or {}
    spec = job.get("spec") or {}
    status = job.get("status") or {}
    conditions = status.get("conditions") or []
    annotations = meta.get("annotations") or {}

    complete = _condition(conditions, "Complete")
    failed = _condition(conditions, "Failed")
    if complete:
        state = JobState.SUCCEEDED
    elif failed:
        state = JobState.FAILED
    elif spec.get("suspend") or _condition(conditions, "Suspended"):
        state = JobState.SUSPENDED
    elif (status.get("active") or 0) > 0:
        state = JobState.RUNNING
    else:
        state = JobState.PENDING

    completion = status.get("completionTime")
    if failed and not completion:
        completion = failed.get("lastTransitionTime")
    return JobObservation(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        state=state,
        active=int(status.get("active") or 0),
        succeeded=int(status.get("succeeded") or 0),
        failed=int(status.get("failed") or 0),
        start_time=status.get("startTime"),
        completion_time=completion,
        failure_reason=failed.get("reason") if failed else None,
        failure_message=failed.get("message") if failed else None,
        termination_message=annotations.get(ANNOTATION_TERMINATION),
        parent_version=annotations.get(ANNOTATION_PARENT_VERSION),
        component=(meta.get("labels") or {}).get(LABEL_COMPONENT) or COMPONENT_TRAINING,
        ready=int(status.get("ready") or 0),
    )


@dataclass(frozen=True)
class InferenceServiceObservation:
    """A KServe InferenceService as last seen."""

    name: str
    ready: bool
    url: str | None
    model_version: str | None
    reason: str | None = None
    message: str | None = None
    spec_hash: str | None = None


def observe_inference_service(isvc: dict[str, Any]) -> InferenceServiceObservation:
    meta = isvc.get("metadata") or {}
    status = isvc.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    version = None
    for container in ((isvc.get("spec") or {}).get("predictor") or {}).get("containers") or []:
        for env in container.get("env") or []:
            if env.get("name") == "STOCKOPS_MODEL_VERSION":
                version = env.get("value")
    # Ready only counts once the controller has seen the current spec (after a rollout patch the
    # old Ready=True lingers until KServe reconciles the new generation).
    observed = status.get("observedGeneration")
    current = observed is None or observed == meta.get("generation")
    return InferenceServiceObservation(
        name=meta.get("name", ""),
        ready=bool(ready and ready.get("status") == "True" and current),
        url=status.get("url"),
        model_version=version,
        reason=ready.get("reason") if ready else None,
        message=ready.get("message") if ready else None,
        spec_hash=(meta.get("annotations") or {}).get(ANNOTATION_SPEC_HASH),
    )


@dataclass(frozen=True)
class ParentObservation:
    """What a TickerModel needs to know about its ParentModel."""

    name: str
    ticker: str
    phase: str | None
    ready: bool
    model_name: str | None
    model_version: str | None
    reason: str | None = None
    message: str | None = None

    @property
    def failed(self) -> bool:
        return self.phase == "Failed"


def observe_parent(body: dict[str, Any]) -> ParentObservation:
    """A ParentModel is usable when its Ready condition is True for its current generation."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    current = status.get("observedGeneration") == meta.get("generation")
    mlflow = status.get("mlflow") or {}
    is_ready = bool(ready and ready.get("status") == "True" and current and mlflow.get("servingVersion"))
    return ParentObservation(
        name=meta.get("name", ""),
        ticker=spec.get("ticker") or "^GSPC",
        phase=status.get("phase") if current else "Pending",
        ready=is_ready,
        model_name=mlflow.get("modelName"),
        model_version=mlflow.get("servingVersion"),
        reason=ready.get("reason") if ready else None,
        message=ready.get("message") if ready else None,
    )


@dataclass(frozen=True)
class TrainingProgress:
    """Per-epoch progress the trainer logs to MLflow (metrics epoch, epochs, progress_percent)."""

    epoch: int
    epochs: int
    percent: int
    run_id: str | None = None
