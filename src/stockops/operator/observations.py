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


MODEL_VERSION_ENV = "STOCKOPS_MODEL_VERSION"
# What KServe's RawDeployment mode names and labels the predictor Deployment of an InferenceService.
PREDICTOR_SUFFIX = "-predictor"
LABEL_KSERVE_ISVC = "serving.kserve.io/inferenceservice"


@dataclass(frozen=True)
class RolloutObservation:
    """The predictor Deployment KServe made for an InferenceService, as `kubectl rollout status` sees it.

    KServe's Ready in RawDeployment mode follows the Deployment's Available condition, which stays
    True during a rolling update while the old pods answer, and KServe writes no observedGeneration:
    only the Deployment says whether the pods of the new template (the new model version) took over.
    """

    model_version: str | None  # STOCKOPS_MODEL_VERSION of the Deployment's pod template
    complete: bool
    message: str


@dataclass(frozen=True)
class InferenceServiceObservation:
    """A KServe InferenceService as last seen (`rollout`: its predictor Deployment, when read)."""

    name: str
    ready: bool
    url: str | None
    model_version: str | None
    reason: str | None = None
    address: str | None = None  # status.address.url: the in-cluster URL
    message: str | None = None
    spec_hash: str | None = None
    generation_observed: bool | None = None  # None: KServe wrote no status.observedGeneration
    rollout: RolloutObservation | None = None


def _model_version(containers: list[dict[str, Any]]) -> str | None:
    version = None
    for container in containers:
        for env in container.get("env") or []:
            if env.get("name") == MODEL_VERSION_ENV:
                version = env.get("value")
    return version


def observe_inference_service(isvc: dict[str, Any]) -> InferenceServiceObservation:
    """Reduce an InferenceService to its Ready condition and the model version its spec names.

    `ready` is KServe's Ready as it stands, also while its observedGeneration lags a patch: the pods
    it reports on still answer. Neither Ready nor a current observedGeneration says which version's
    pods those are (KServe catches up its observedGeneration before the new pods are Ready); the
    predictor Deployment does (`rollout`, `served_version`).
    """
    meta = isvc.get("metadata") or {}
    status = isvc.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    containers = ((isvc.get("spec") or {}).get("predictor") or {}).get("containers") or []
    observed = status.get("observedGeneration")
    current = None if observed is None else observed == meta.get("generation")
    return InferenceServiceObservation(
        name=meta.get("name", ""),
        ready=bool(ready and ready.get("status") == "True"),
        url=status.get("url"),
        address=(status.get("address") or {}).get("url"),
        model_version=_model_version(containers),
        reason=ready.get("reason") if ready else None,
        message=ready.get("message") if ready else None,
        spec_hash=(meta.get("annotations") or {}).get(ANNOTATION_SPEC_HASH),
        generation_observed=current,
    )


def predictor_deployment_name(isvc_name: str) -> str:
    return isvc_name + PREDICTOR_SUFFIX


def deployment_rollout(deployment: dict[str, Any]) -> tuple[bool, str]:
    """(complete, why) of a Deployment's rollout, decided as `kubectl rollout status` does.

    Complete means the controller saw the current spec, every replica runs the current template, no
    old pod is left, and the updated ones are available.
    """
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return False, "waiting for the Deployment controller to observe the new spec"
    progressing = next((c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), None)
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        detail = progressing.get("message") or "no new pod became available in time"
        return False, f"the rollout exceeded its progress deadline: {detail}"
    wanted = int(spec["replicas"]) if spec.get("replicas") is not None else 1
    replicas = int(status.get("replicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < wanted:
        return False, f"{updated} of {wanted} new replicas updated"
    if replicas > updated:
        return False, f"{replicas - updated} old replicas pending termination"
    if available < updated:
        return False, f"{available} of {updated} updated replicas available"
    return True, f"{updated} of {wanted} replicas rolled out"


def observe_rollout(deployment: dict[str, Any]) -> RolloutObservation:
    """The model version of a predictor Deployment's pod template and whether it rolled out."""
    template = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    complete, message = deployment_rollout(deployment)
    return RolloutObservation(_model_version(template.get("containers") or []), complete, message)


def missing_predictor(isvc: InferenceServiceObservation) -> RolloutObservation:
    """The rollout when no predictor Deployment of KServe's name exists.

    In Serverless mode Knative runs the pods (no such Deployment) and KServe's Ready covers the latest
    revision once its observedGeneration is current; without that, nothing says the version rolled
    out, so it does not count yet.
    """
    if isvc.generation_observed:
        return RolloutObservation(isvc.model_version, True, "the InferenceService observed its spec")
    name = predictor_deployment_name(isvc.name)
    return RolloutObservation(None, False, f"no predictor Deployment {name} yet")


def served_version(isvc: InferenceServiceObservation, verified: str | None) -> str | None:
    """The model version that answers requests now; `verified`: the one an earlier pass saw served.

    A version counts once the InferenceService is Ready and its predictor's rollout of the template
    carrying that version is complete; until then the earlier version's pods are the ones answering
    (or none, before any version rolled out). Without a rollout read this pass, `verified` stands.
    """
    rollout = isvc.rollout
    if isvc.ready and rollout is not None and rollout.complete and rollout.model_version:
        return rollout.model_version
    return verified


def needs_rollout_read(isvc: InferenceServiceObservation, verified: str | None) -> bool:
    """Whether the predictor Deployment must be read: the InferenceService is Ready for a version no
    earlier pass saw served (a steady resource costs no request)."""
    return isvc.ready and isvc.model_version != verified


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
