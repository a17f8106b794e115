"""One reconcile pass for a ParentModel or TickerModel, against the `Cluster` port.

Order of work: decide which training the current generation needs (pure: `desired_training`), retire
superseded Jobs, look before creating the Job, suspend/resume it, read its result and progress,
compute the status (pure), then converge the InferenceService and compute the status once more with
what serving now looks like. The status patch and the Events are returned, not written, so the
caller decides how to apply them (and tests can inspect them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from stockops.crd.parent_model import ParentModelSpec
from stockops.crd.status_blocks import ModelStatus, TickerModelStatus
from stockops.crd.ticker_model import TickerModelSpec
from stockops.operator.builders import (
    Owner,
    ParentVersion,
    build_inference_service,
    build_monitor_job,
    build_training_job,
    training_identity,
)
from stockops.operator.cluster import Cluster
from stockops.operator.conditions import parse_rfc3339, rfc3339
from stockops.operator.monitoring import (
    MONITOR_CONDITIONS,
    MonitorResult,
    desired_check,
    monitor_retrain,
    monitoring_after,
    monitoring_conditions,
    parse_monitor_message,
)
from stockops.operator.naming import (
    ANNOTATION_MONITOR,
    ANNOTATION_RETRAIN,
    ANNOTATION_SPEC_HASH,
    COMPONENT_MONITOR,
    COMPONENT_TRAINING,
    inference_service_name,
    job_name,
)
from stockops.operator.observations import (
    InferenceServiceObservation,
    JobObservation,
    JobState,
    ParentObservation,
    TrainingProgress,
    needs_rollout_read,
)
from stockops.operator.patches import merge_patch
from stockops.operator.schedule import CronError, CronSchedule
from stockops.operator.settings import OperatorSettings
from stockops.operator.status import (
    TICKER_MODEL,
    StatusInputs,
    compute_status,
    training_recorded,
)
from stockops.operator.termination import TrainerResult, parse_termination_message
from stockops.operator.transitions import Event, transition_events


class ProgressSource(Protocol):
    def progress(self, job_name: str) -> TrainingProgress | None: ...

    def forget(self, job_name: str) -> None:
        """Drop what is cached about a finished Job (the cache must not grow with every training)."""


@dataclass(frozen=True)
class Resource:
    """A ParentModel or TickerModel, parsed."""

    kind: str
    name: str
    namespace: str
    uid: str
    generation: int
    annotations: Mapping[str, str]
    spec: ParentModelSpec | TickerModelSpec
    status: ModelStatus
    raw_status: dict[str, Any]

    @classmethod
    def from_body(cls, kind: str, body: Mapping[str, Any], status: dict[str, Any] | None = None) -> Resource:
        """Parse a resource body; `status` overrides the body's (a fresher copy the caller holds)."""
        meta = body.get("metadata") or {}
        raw_status = dict(status if status is not None else body.get("status") or {})
        spec_model = TickerModelSpec if kind == TICKER_MODEL else ParentModelSpec
        status_model = TickerModelStatus if kind == TICKER_MODEL else ModelStatus
        return cls(
            kind=kind,
            name=meta["name"],
            namespace=meta.get("namespace") or "default",
            uid=meta["uid"],
            generation=int(meta.get("generation") or 1),
            annotations=dict(meta.get("annotations") or {}),
            spec=spec_model.model_validate(body.get("spec") or {}),
            status=status_model.model_validate(raw_status),
            raw_status=raw_status,
        )

    @property
    def owner(self) -> Owner:
        return Owner(self.kind, self.name, self.namespace, self.uid, self.generation)


@dataclass(frozen=True)
class Observed:
    """What the indexes know about the resource's surroundings."""

    jobs: tuple[JobObservation, ...] = ()
    isvc: InferenceServiceObservation | None = None
    parent: ParentObservation | None = None


@dataclass(frozen=True)
class DesiredTraining:
    """The training the current generation needs; job_name None: wait for the parent."""

    job_name: str | None
    trigger: str = ""
    parent_version: str | None = None
    retrain_request: str | None = None
    scheduled_at: str | None = None
    reason: str | None = None  # RetrainReason of the training job_name names
    check_time: str | None = None  # the monitoring verdict behind reason Drift/Degraded
    identity: str | None = None  # `builders.training_identity` of the spec


@dataclass
class ReconcileResult:
    status: ModelStatus
    patch: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    waiting_for_parent: str | None = None  # message when a TickerModel waits for its parent
    jobs_created: int = 0
    finished: JobObservation | None = None  # a Job whose outcome this pass recorded
    training_reason: str | None = None  # why the training Job created in this pass started
    # (check, verdict) of a check this pass recorded: ("drift", "Drifted"), ("live", "Ok"), or "Failed"
    check_verdicts: tuple[tuple[str, str], ...] = ()


def same_model(resource: Resource) -> bool:
    """Whether the previous training was for the model the spec asks for now (same identity; for a
    status written before identities, the same generation)."""
    training = resource.status.training
    if training is None:
        return False
    if training.identity is not None:
        return training.identity == training_identity(resource.spec)
    return resource.status.observed_generation == resource.generation


def _scheduled_at(resource: Resource, now: dt.datetime) -> str | None:
    """The schedule firing the current training answers (stable once chosen, see schedule.py)."""
    previous = resource.status.training
    same_generation = same_model(resource)
    current = previous.scheduled_at if same_generation and previous else None
    schedule = resource.spec.retrain.schedule if resource.spec.retrain else None
    if not schedule or not same_generation or previous is None:
        return current
    finished = parse_rfc3339(previous.completion_time)
    if finished is None:
        return current
    try:
        time_zone = resource.spec.retrain.time_zone if resource.spec.retrain else None
        fired = CronSchedule.parse(schedule).last_fire(now, time_zone=time_zone)
    except CronError:
        return current  # the CRD pattern admits it but the evaluator rejects it: never retrain
    return rfc3339(fired) if fired is not None and fired > finished else current


def _monitor_trigger(resource: Resource, now: dt.datetime) -> tuple[str, str] | None:
    """(Drift|Degraded, checkedAt) behind the current training: a fresh verdict that qualifies now
    (`monitoring.monitor_retrain`), else the one the current training already answers (stable)."""
    status, spec = resource.status, resource.spec
    if not isinstance(spec, TickerModelSpec) or not isinstance(status, TickerModelStatus):
        return None
    if not same_model(resource):
        return None
    fresh = monitor_retrain(spec, status, now)
    training = status.training
    if fresh is None and training and training.reason in ("Drift", "Degraded") and training.check_time:
        return training.reason, training.check_time
    return fresh


def _reason(
    resource: Resource,
    parent_version: str | None,
    retrain: str | None,
    scheduled_at: str | None,
    monitor: tuple[str, str] | None,
) -> str:
    """Why the training the current inputs name starts: what differs from the previous training."""
    previous = resource.status
    training = previous.training
    if training is None or not training.job_name:
        return "Created"
    if not same_model(resource):
        return "SpecChanged"
    if monitor is not None and monitor[1] != training.check_time:
        return monitor[0]
    if scheduled_at and scheduled_at != training.scheduled_at:
        return "Scheduled"
    if retrain and retrain != training.retrain_request:
        return "Manual"
    link = previous.parent if isinstance(previous, TickerModelStatus) else None
    if parent_version and link and link.model_version and parent_version != link.model_version:
        return "ParentChanged"
    return training.reason or "Created"


def _stamp(moment: str) -> str:
    return moment.replace("-", "").replace(":", "").replace("T", "")[:12]


def desired_training(
    resource: Resource, parent: ParentObservation | None, now: dt.datetime
) -> DesiredTraining:
    """Which Job the resource needs now (pure). Names are deterministic, so restarts find them."""
    previous = resource.status
    same_generation = same_model(resource)
    identity = training_identity(resource.spec)
    retrain = resource.annotations.get(ANNOTATION_RETRAIN) or (
        getattr(previous.training, "retrain_request", None) if same_generation else None
    )
    scheduled_at = _scheduled_at(resource, now)
    monitor = _monitor_trigger(resource, now)
    parts: list[str] = []
    parent_version: str | None = None
    if isinstance(resource.spec, TickerModelSpec):
        link = previous.parent if isinstance(previous, TickerModelStatus) else None
        pinned = link.model_version if same_generation and link else None
        on_change = bool(resource.spec.retrain and resource.spec.retrain.on_parent_change)
        if parent is not None and parent.ready and parent.model_version:
            parent_version = parent.model_version if (pinned is None or on_change) else pinned
        else:
            parent_version = pinned
        if parent_version is None:
            return DesiredTraining(
                None, retrain_request=retrain, scheduled_at=scheduled_at, identity=identity
            )
        parts.append(f"p{parent_version}")
    if retrain:
        parts.append(f"r{retrain}")
    if scheduled_at:
        parts.append("s" + _stamp(scheduled_at))
    if monitor is not None:
        parts.append(("d" if monitor[0] == "Drift" else "l") + _stamp(monitor[1]))
    trigger = "-".join(parts)
    name = job_name(resource.name, resource.uid, identity, trigger)
    reason = _reason(resource, parent_version, retrain, scheduled_at, monitor)
    return DesiredTraining(
        name,
        trigger,
        parent_version,
        retrain,
        scheduled_at,
        reason=reason,
        check_time=monitor[1] if monitor else None,
        identity=identity,
    )


def reconcile(
    resource: Resource,
    observed: Observed,
    cluster: Cluster,
    progress_source: ProgressSource,
    settings: OperatorSettings,
    now: dt.datetime,
) -> ReconcileResult:
    """Converge the cluster one step towards `resource` and compute its new status."""
    spec = resource.spec
    ns = resource.namespace
    is_ticker = resource.kind == TICKER_MODEL
    events: list[Event] = []
    desired = desired_training(resource, observed.parent, now)
    recorded = training_recorded(resource.status, desired.job_name)
    suspended = bool(spec.suspend)

    training_jobs = [j for j in observed.jobs if j.component == COMPONENT_TRAINING]
    # Retire unfinished Jobs of an earlier model or trigger: their result would be stale. A spec edit
    # that changes no model field (serving, promotion, suspend, ...) keeps the same Job.
    for other in training_jobs:
        if other.name != desired.job_name and not other.finished:
            cluster.delete_job(ns, other.name)
            events.append(
                Event("Normal", "JobSuperseded", f"deleted Job {other.name}: superseded by a newer spec")
            )

    job = next((j for j in training_jobs if j.name == desired.job_name), None)
    created = 0
    if desired.job_name and job is None and not recorded and not suspended:
        parent = _parent_version(resource, observed.parent, desired) if is_ticker else None
        manifest = build_training_job(
            resource.owner, spec, settings, job_name=desired.job_name, trigger=desired.trigger, parent=parent
        )
        job = cluster.create_job(manifest)
        created = 1
        detail = f" from parent version {desired.parent_version}" if desired.parent_version else ""
        detail += f" (reason {desired.reason})" if desired.reason else ""
        events.append(Event("Normal", "JobCreated", f"created training Job {desired.job_name}{detail}"))

    if job is not None and not job.finished and not recorded:
        if suspended and job.state is not JobState.SUSPENDED:
            cluster.set_job_suspended(ns, job.name, True)
            job = replace(job, state=JobState.SUSPENDED)
            events.append(Event("Normal", "JobSuspended", f"suspended Job {job.name} (spec.suspend)"))
        elif not suspended and job.state is JobState.SUSPENDED:
            cluster.set_job_suspended(ns, job.name, False)
            job = replace(job, state=JobState.PENDING)
            events.append(Event("Normal", "JobResumed", f"resumed Job {job.name}"))

    result: TrainerResult | None = None
    progress: TrainingProgress | None = None
    last_failure: str | None = None
    if job is not None and not recorded:
        if job.finished:
            progress_source.forget(job.name)
            text = job.termination_message or cluster.termination_message(ns, job.name)
            result = parse_termination_message(text)
        else:
            if job.state is JobState.RUNNING:
                progress = progress_source.progress(job.name)
            if job.failed:
                last_failure = _last_failure(resource, job, cluster, events)

    isvc_name = inference_service_name(resource.name, resource.uid) if is_ticker else None
    current_isvc = _with_rollout(resource, observed.isvc, cluster) if is_ticker else observed.isvc
    inputs = StatusInputs(
        kind=resource.kind,
        generation=resource.generation,
        spec=spec,
        previous=resource.status,
        now=now,
        job_name=desired.job_name,
        job=job,
        result=result,
        progress=progress,
        parent=observed.parent,
        parent_version=desired.parent_version,
        isvc_name=isvc_name,
        isvc=current_isvc,
        mlflow_ui=settings.ui_uri,
        result_grace_seconds=settings.result_grace_seconds,
        scheduled_at=desired.scheduled_at,
        retrain_request=desired.retrain_request,
        reason=desired.reason,
        check_time=desired.check_time,
        identity=desired.identity,
        last_failure=last_failure,
    )
    status = compute_status(inputs)
    verdicts: tuple[tuple[str, str], ...] = ()
    if is_ticker and isinstance(spec, TickerModelSpec) and isinstance(status, TickerModelStatus):
        status, verdicts = _converge_monitoring(
            resource, spec, status, observed, cluster, settings, now, events
        )

    if is_ticker and isinstance(spec, TickerModelSpec):
        isvc = _converge_serving(resource, spec, status, current_isvc, isvc_name, cluster, settings, events)
        if isvc != current_isvc:
            monitored = status
            status = compute_status(replace(inputs, isvc=isvc))
            status = _with_monitoring(status, monitored)

    events.extend(transition_events(resource.status, status))
    finished = None
    if job is not None and job.finished and not recorded and training_recorded(status, job.name):
        finished = job
    waiting = None
    if desired.job_name is None and not suspended:
        ready = status.condition("ParentReady")
        waiting = ready.message if ready else "waiting for the parent"
    return ReconcileResult(
        status=status,
        patch=merge_patch(resource.raw_status, status.to_wire()),
        events=events,
        waiting_for_parent=waiting,
        jobs_created=created,
        finished=finished,
        training_reason=desired.reason if created else None,
        check_verdicts=verdicts,
    )


def _parent_version(
    resource: Resource, parent: ParentObservation | None, desired: DesiredTraining
) -> ParentVersion | None:
    """The parent version a new child Job trains from (the observed parent, else the recorded link)."""
    if desired.parent_version is None:
        return None
    link = resource.status.parent if isinstance(resource.status, TickerModelStatus) else None
    spec = resource.spec
    name = spec.parent_ref.name if isinstance(spec, TickerModelSpec) else ""
    ticker = (parent.ticker if parent else None) or (link.ticker if link else None)
    model_name = (parent.model_name if parent else None) or (link.model_name if link else None)
    return ParentVersion(
        name=name, ticker=ticker or "^GSPC", model_name=model_name, model_version=desired.parent_version
    )


def _with_rollout(
    resource: Resource, isvc: InferenceServiceObservation | None, cluster: Cluster
) -> InferenceServiceObservation | None:
    """The InferenceService with its predictor's rollout, read only while it is Ready for a version no
    earlier pass saw served (KServe's Ready alone says nothing about which version's pods answer)."""
    inference = resource.status.inference if isinstance(resource.status, TickerModelStatus) else None
    verified = inference.model_version if inference else None
    if isvc is None or not needs_rollout_read(isvc, verified):
        return isvc
    return replace(isvc, rollout=cluster.predictor_rollout(resource.namespace, isvc))


def _converge_serving(
    resource: Resource,
    spec: TickerModelSpec,
    status: ModelStatus,
    isvc: InferenceServiceObservation | None,
    name: str | None,
    cluster: Cluster,
    settings: OperatorSettings,
    events: list[Event],
) -> InferenceServiceObservation | None:
    """Create, update or delete the InferenceService so it serves the promoted version."""
    enabled = spec.serving is None or spec.serving.enabled is not False
    mlflow = status.mlflow
    if not enabled:
        if isvc is not None:
            cluster.delete_inference_service(resource.namespace, isvc.name)
            events.append(
                Event("Normal", "InferenceServiceDeleted", f"deleted {isvc.name}: serving disabled")
            )
        return None
    if name is None or mlflow is None or not mlflow.serving_version or not mlflow.model_name:
        return isvc
    manifest = build_inference_service(
        resource.owner,
        spec,
        settings,
        name=name,
        model_name=mlflow.model_name,
        model_version=mlflow.serving_version,
    )
    wanted_hash = manifest["metadata"]["annotations"][ANNOTATION_SPEC_HASH]
    if isvc is None:
        observed = cluster.create_inference_service(manifest)
        events.append(
            Event(
                "Normal",
                "InferenceServiceCreated",
                f"created {name} serving version {mlflow.serving_version}",
            )
        )
        return replace(observed, ready=False)
    if isvc.spec_hash != wanted_hash:
        observed = cluster.update_inference_service(manifest)
        events.append(
            Event(
                "Normal",
                "InferenceServiceUpdated",
                f"updated {name} to serve version {mlflow.serving_version}",
            )
        )
        # Ready as KServe reports it (the old pods answer); the new version counts once a later
        # pass sees its pods rolled out.
        return replace(observed, rollout=None)
    return isvc


def _with_monitoring(status: ModelStatus, monitored: ModelStatus) -> ModelStatus:
    """``status`` with the monitoring block and conditions of ``monitored`` (a recomputed status)."""
    if not isinstance(status, TickerModelStatus) or not isinstance(monitored, TickerModelStatus):
        return status
    kept = [c for c in status.conditions or () if c.type not in MONITOR_CONDITIONS]
    extra = [c for c in monitored.conditions or () if c.type in MONITOR_CONDITIONS]
    return status.model_copy(update={"monitoring": monitored.monitoring, "conditions": kept + extra})


def _converge_monitoring(
    resource: Resource,
    spec: TickerModelSpec,
    status: TickerModelStatus,
    observed: Observed,
    cluster: Cluster,
    settings: OperatorSettings,
    now: dt.datetime,
    events: list[Event],
) -> tuple[TickerModelStatus, tuple[tuple[str, str], ...]]:
    """Start the check Job that is due, record a finished one, and set Drifted/Degraded."""
    request = resource.annotations.get(ANNOTATION_MONITOR)
    check = desired_check(resource.name, resource.uid, spec, status, request, now)
    job = None
    result: MonitorResult | None = None
    if check is not None:
        job = next(
            (j for j in observed.jobs if j.component == COMPONENT_MONITOR and j.name == check.job_name), None
        )
        if job is None:
            token = check.request if check.request and not check.scheduled_at else (check.scheduled_at or "")
            manifest = build_monitor_job(resource.owner, spec, settings, job_name=check.job_name, token=token)
            job = cluster.create_job(manifest)
            why = f"stockops.io/monitor={check.request}" if check.request and not check.in_flight else ""
            why = why or (f"schedule {check.scheduled_at}" if check.scheduled_at else "requested")
            events.append(
                Event("Normal", "CheckStarted", f"created monitoring check Job {check.job_name} ({why})")
            )
        elif job.finished:
            text = job.termination_message or cluster.termination_message(resource.namespace, job.name)
            result = parse_monitor_message(text)
    previous = status.monitoring
    monitoring = monitoring_after(previous, check, job, result, now)
    recorded = (
        monitoring is not None
        and monitoring.last_check_time is not None
        and (previous is None or previous.last_check_time is None or previous.job_name != monitoring.job_name)
    )
    verdicts: tuple[tuple[str, str], ...] = ()
    if recorded and monitoring is not None:
        drift, live = monitoring.drift, monitoring.live
        if monitoring.failure:
            verdicts = (("drift", "Failed"), ("live", "Failed"))
        else:
            verdicts = tuple(
                (check, block.verdict)
                for check, block in (("drift", drift), ("live", live))
                if block is not None and block.verdict
            )
    conditions = [c for c in status.conditions or () if c.type not in MONITOR_CONDITIONS]
    conditions += monitoring_conditions(
        monitoring, status.conditions, now=now, generation=resource.generation
    )
    return status.model_copy(update={"monitoring": monitoring, "conditions": conditions}), verdicts


def _last_failure(
    resource: Resource, job: JobObservation, cluster: Cluster, events: list[Event]
) -> str | None:
    """ "Reason: message" of a retrying Job's latest failed attempt; read (and announced with a Warning)
    once per failed attempt, then kept in status.training."""
    training = resource.status.training
    if training and training.job_name == job.name and training.failed_attempts == job.failed:
        return training.last_failure
    text = cluster.termination_message(resource.namespace, job.name)
    failed = parse_termination_message(text)
    if failed is None or failed.ok:
        summary = "no message from the trainer; see the pod logs"
    else:
        summary = f"{failed.failure_reason}: {(failed.message or '').strip()}"
    summary = summary[:900]
    events.append(
        Event("Warning", "AttemptFailed", f"Job {job.name} attempt {job.failed} failed ({summary}); retrying")
    )
    return summary
