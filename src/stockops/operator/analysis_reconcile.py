"""One reconcile pass for an Analysis, against the `Cluster` port and a `ReportSource`.

Order of work: name the Job the generation needs, delete unfinished Jobs of older generations, create
the Job once the TickerModel is Ready (look before create: the name is deterministic), then read what
the Job says: a retrying Job's failed attempt (once per attempt, with a Warning), a pod that cannot
start, or the finished Job's result. A successful result's report is fetched from MLflow and written
to the report ConfigMap before the status says Ready; when MLflow cannot give the report for
`report_grace_seconds`, the ConfigMap gets the summary and a link instead. The status patch and the
Events are returned, not written (the controller writes them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stockops.crd.analysis import AnalysisSpec, AnalysisStatus
from stockops.operator.analysis import (
    ANALYSIS,
    COMPONENT_ANALYSIS,
    QUIET_REASONS,
    AgentResult,
    AnalysisInputs,
    PodProblem,
    ReportWrite,
    TickerModelObservation,
    analysis_job_name,
    answer_recorded,
    artifact_location,
    classify_pod_waiting,
    clock_dependent,
    compute_analysis_status,
    parse_agent_message,
    report_config_map_name,
)
from stockops.operator.analysis_builders import build_agent_job, build_report_config_map, cache_off_note
from stockops.operator.builders import Owner
from stockops.operator.cluster import Cluster, ConfigMapTakenError
from stockops.operator.conditions import parse_rfc3339
from stockops.operator.mlflow_reports import ReportSource
from stockops.operator.observations import JobObservation, JobState
from stockops.operator.patches import merge_patch
from stockops.operator.settings import OperatorSettings
from stockops.operator.transitions import Event, transition_events


@dataclass(frozen=True)
class AnalysisResource:
    """An Analysis, parsed."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: AnalysisSpec
    status: AnalysisStatus
    raw_status: dict[str, Any]

    kind = ANALYSIS

    @classmethod
    def from_body(cls, body: Mapping[str, Any], status: dict[str, Any] | None = None) -> AnalysisResource:
        """Parse a body; `status` overrides the body's (a fresher copy the caller holds)."""
        meta = body.get("metadata") or {}
        raw_status = dict(status if status is not None else body.get("status") or {})
        return cls(
            name=meta["name"],
            namespace=meta.get("namespace") or "default",
            uid=meta["uid"],
            generation=int(meta.get("generation") or 1),
            spec=AnalysisSpec.model_validate(body.get("spec") or {}),
            status=AnalysisStatus.model_validate(raw_status),
            raw_status=raw_status,
        )

    @property
    def owner(self) -> Owner:
        return Owner(ANALYSIS, self.name, self.namespace, self.uid, self.generation)


@dataclass(frozen=True)
class AnalysisObserved:
    """What the indexes know: the Analysis' Jobs and its TickerModel (None: not found)."""

    jobs: tuple[JobObservation, ...] = ()
    model: TickerModelObservation | None = None


@dataclass
class AnalysisReconcileResult:
    status: AnalysisStatus
    patch: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    jobs_created: int = 0
    finished: JobObservation | None = None  # the Job whose outcome this pass recorded
    clock_dependent: bool = False  # the next pass may differ with unchanged inputs


def analysis_events(previous: AnalysisStatus, new: AnalysisStatus) -> list[Event]:
    """Transition Events; a condition turning False is a Warning unless it only waits (ModelNotReady)."""
    reasons = {
        c.reason for c in new.conditions or () if c.status == "False" and c.reason not in QUIET_REASONS
    }
    return transition_events(previous, new, failure_reasons=reasons)


def reconcile_analysis(
    resource: AnalysisResource,
    observed: AnalysisObserved,
    cluster: Cluster,
    reports: ReportSource,
    settings: OperatorSettings,
    now: dt.datetime,
) -> AnalysisReconcileResult:
    """Converge the cluster one step towards `resource` and compute its new status."""
    ns, previous = resource.namespace, resource.status
    events: list[Event] = []
    name = analysis_job_name(resource.name, resource.uid, resource.generation)
    recorded = answer_recorded(previous, name)

    ours = [j for j in observed.jobs if j.component == COMPONENT_ANALYSIS]
    for other in ours:  # an older generation's answer would answer an older question
        if other.name != name and not other.finished:
            cluster.delete_job(ns, other.name)
            events.append(Event("Normal", "JobSuperseded", f"deleted Job {other.name}: the spec changed"))

    job = next((j for j in ours if j.name == name), None)
    created = 0
    pinned = previous.model_version if previous.job_name == name else None
    model = observed.model
    if job is None and not recorded and model is not None and model.ready:
        manifest = build_agent_job(resource.owner, resource.spec, model, settings, job_name=name)
        job = cluster.create_job(manifest)
        created, pinned = 1, model.serving_version
        events.append(
            Event(
                "Normal",
                "JobCreated",
                f"created agent Job {name} for {model.ticker} ({model.model_name} version "
                f"{model.serving_version})",
            )
        )

    result: AgentResult | None = None
    report: ReportWrite | None = None
    problem: PodProblem | None = None
    last_failure: str | None = None
    if job is not None and not recorded:
        if job.finished:
            text = job.termination_message or cluster.termination_message(ns, job.name)
            result = parse_agent_message(text)
            if job.state is JobState.SUCCEEDED and result is not None and result.ok:
                report, failure = _write_report(resource, job, result, cluster, reports, settings, now)
                if failure is not None:
                    result = failure
                elif report is not None:
                    detail = "" if report.complete else " (summary and link: MLflow did not give the report)"
                    events.append(
                        Event("Normal", "ReportWritten", f"wrote ConfigMap {report.config_map}{detail}")
                    )
        else:
            if job.failed:
                last_failure = _last_failure(resource, job, cluster, events)
            if job.ready == 0:
                waiting = cluster.pod_waiting(ns, job.name)
                if waiting is not None:
                    problem = classify_pod_waiting(*waiting, resource.spec)

    status = compute_analysis_status(
        AnalysisInputs(
            generation=resource.generation,
            spec=resource.spec,
            previous=previous,
            now=now,
            job_name=name,
            model=model,
            job=job,
            pinned_version=pinned,
            result=result,
            report=report,
            pod_problem=problem,
            last_failure=last_failure,
            cache_off=cache_off_note(settings),
            mlflow_ui=settings.ui_uri,
            result_grace_seconds=settings.result_grace_seconds,
        )
    )
    events.extend(analysis_events(previous, status))
    finished = job if job is not None and not recorded and answer_recorded(status, name) else None
    return AnalysisReconcileResult(
        status=status,
        patch=merge_patch(resource.raw_status, status.to_wire()),
        events=events,
        jobs_created=created,
        finished=finished,
        clock_dependent=clock_dependent(status, job if not recorded else None),
    )


def _write_report(
    resource: AnalysisResource,
    job: JobObservation,
    result: AgentResult,
    cluster: Cluster,
    reports: ReportSource,
    settings: OperatorSettings,
    now: dt.datetime,
) -> tuple[ReportWrite | None, AgentResult | None]:
    """(the ConfigMap written, None while the report is still fetched; a failure replacing the answer)."""
    location = artifact_location(result.report_artifact, result.mlflow_run_id)
    text = reports.fetch(*location) if location is not None else None
    if text is None:
        finished = parse_rfc3339(job.completion_time) or now
        if location is not None and (now - finished).total_seconds() < settings.report_grace_seconds:
            return None, None
    config_map = report_config_map_name(resource.name)
    manifest = build_report_config_map(
        resource.owner, name=config_map, result=result, report=text, mlflow_ui=settings.ui_uri
    )
    try:
        cluster.apply_config_map(manifest)
    except ConfigMapTakenError:
        failure = AgentResult(
            ok=False,
            reason="ReportNameTaken",
            message=f"ConfigMap {config_map} exists and is not this Analysis'; rename or delete it and "
            "edit the Analysis to answer again",
        )
        return None, failure
    return ReportWrite(config_map, complete=text is not None), None


def _last_failure(
    resource: AnalysisResource, job: JobObservation, cluster: Cluster, events: list[Event]
) -> str | None:
    """ "Reason: message" of a retrying Job's latest failed attempt; read (and announced with a Warning)
    once per failed attempt, then kept in status.lastFailure."""
    previous = resource.status
    if previous.job_name == job.name and previous.failed_attempts == job.failed:
        return previous.last_failure
    failed = parse_agent_message(cluster.termination_message(resource.namespace, job.name))
    if failed is None or failed.ok:
        summary = "no message from the agent; see the pod log"
    else:
        summary = f"{failed.failure_reason}: {(failed.message or '').strip()}"
    summary = summary[:900]
    events.append(
        Event("Warning", "AttemptFailed", f"Job {job.name} attempt {job.failed} failed ({summary}); retrying")
    )
    return summary
