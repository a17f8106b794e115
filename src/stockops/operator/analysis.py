"""The Analysis kind, decided purely: what the TickerModel allows, which agent Job a generation needs, what
the agent reported, and the status a user reads.

No I/O and no clock (`now` is an input), so every phase and condition is unit-tested. The pass that
talks to the cluster is `analysis_reconcile`; the manifests are built in `analysis_builders`.

Semantics users can rely on:
- One agent Job per generation (`<name>-an-g<generation>-<hash>`): a spec edit gets a new answer, the
  unfinished Job of an older generation is deleted, and a restarted operator finds the Job by its name.
- The Job starts only once the TickerModel is Ready with a served (production) version; until then the
  phase is Pending and ``ModelReady`` says why (``TickerModelNotFound``, ``ModelNotReady``).
- The answer (stance, confidence, summary, provenance, critic score, where the report is) is recorded in
  status with ``jobName`` and ``completionTime``, so it outlives the Job's TTL deletion; a failure is
  recorded the same way with the agent's reason (``LLMUnavailable``, ``ModelNotFound``, ...), and
  nothing of a failed attempt is written as an answer.
- The phase is Ready only once the report ConfigMap is written: while the report is fetched from
  MLflow the phase stays Running (``Answered=Unknown``, reason ``FetchingReport``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stockops.crd.analysis import (
    MAX_OBJECTIONS,
    OBJECTION_CHARS,
    SUMMARY_CHARS,
    AnalysisPhase,
    AnalysisReport,
    AnalysisSpec,
    AnalysisStatus,
)
from stockops.crd.spec_blocks import DataSpec
from stockops.crd.status_blocks import Condition, ConditionStatus
from stockops.operator.builders import data_source
from stockops.operator.conditions import READY, condition_reason, make_condition, parse_rfc3339, rfc3339
from stockops.operator.naming import MAX_NAME, short_hash
from stockops.operator.observations import JobObservation, JobState
from stockops.operator.settings import OperatorSettings

ANALYSIS = "Analysis"
COMPONENT_ANALYSIS = "analysis"
MODEL_READY = "ModelReady"
ANSWERED = "Answered"
ANALYSIS_CONDITIONS = (MODEL_READY, ANSWERED, READY)
DEFAULT_SECRET_KEY = "apiKey"
REPORT_SUFFIX = "-report"
MAX_CONFIG_MAP_NAME = 253
# Reasons of an unfinished analysis that is fine (no Warning when a condition turns False with them).
QUIET_REASONS = frozenset({"ModelNotReady"})
# kubelet reasons of a container that cannot start; anything else (ContainerCreating, ...) is progress.
POD_PROBLEMS = frozenset(
    {
        "CreateContainerConfigError",
        "CreateContainerError",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
    }
)
SECRET_PROBLEMS = frozenset({"SecretKeyMissing", "SecretNotFound"})


# -- the TickerModel, as the Analysis sees it ------------------------------------------------------------


@dataclass(frozen=True)
class TickerModelObservation:
    """What an Analysis needs of its TickerModel (kept in a Kopf index, so small)."""

    name: str
    ticker: str
    phase: str | None
    ready: bool
    model_name: str | None
    serving_version: str | None
    inference_url: str | None
    data_source: str
    reason: str | None = None
    message: str | None = None


def observe_ticker_model(body: Mapping[str, Any], settings: OperatorSettings) -> TickerModelObservation:
    """Usable when Ready is True for its current generation and a version is served (promoted)."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == READY), None)
    current = status.get("observedGeneration") == meta.get("generation")
    mlflow = status.get("mlflow") or {}
    serving = mlflow.get("servingVersion")
    try:
        data = DataSpec.model_validate(spec["data"]) if spec.get("data") else None
    except ValidationError:
        data = None  # the TickerModel's own status reports its invalid spec
    return TickerModelObservation(
        name=meta.get("name", ""),
        ticker=str(spec.get("ticker") or ""),
        phase=status.get("phase") if current else "Pending",
        ready=bool(ready and ready.get("status") == "True" and current and serving),
        model_name=mlflow.get("modelName"),
        serving_version=str(serving) if serving is not None else None,
        # The agent runs in a pod: the in-cluster address (the external URL needs an ingress).
        inference_url=(status.get("inference") or {}).get("address")
        or (status.get("inference") or {}).get("url"),
        data_source=data_source(data, settings),
        reason=ready.get("reason") if ready else None,
        message=ready.get("message") if ready else None,
    )


def model_problem(ref: str, model: TickerModelObservation | None) -> tuple[str, str] | None:
    """(reason, message) while the TickerModel cannot be analysed; None once it can."""
    if model is None:
        return (
            "TickerModelNotFound",
            f"TickerModel '{ref}' not found in this namespace; create it or fix spec.tickerModelRef.name",
        )
    if model.ready:
        return None
    detail = f" ({model.reason}: {model.message})" if model.reason and model.message else ""
    return (
        "ModelNotReady",
        f"TickerModel '{ref}' is {model.phase or 'Pending'}{detail}; the analysis starts once it is Ready "
        "with a production version",
    )


# -- names ------------------------------------------------------------------------------------------------

_INVALID = re.compile(r"[^a-z0-9-]+")


def _dns_label(text: str, limit: int) -> str:
    return _INVALID.sub("-", text.lower()).strip("-")[:limit].rstrip("-")


def analysis_job_name(name: str, uid: str, generation: int) -> str:
    """`<name>-an-g<generation>-<hash>`, at most 63 characters; the uid keeps a recreated Analysis from
    adopting its predecessor's Job."""
    suffix = short_hash(uid, COMPONENT_ANALYSIS, generation)
    tail = f"-an-g{generation}-{suffix}"
    return (_dns_label(name, MAX_NAME - len(tail)) or "analysis") + tail


def report_config_map_name(name: str) -> str:
    """`<name>-report`; trimmed, with a hash, when that would pass the 253 characters of a name."""
    if len(name) + len(REPORT_SUFFIX) <= MAX_CONFIG_MAP_NAME:
        return name + REPORT_SUFFIX
    suffix = short_hash(name)
    keep = MAX_CONFIG_MAP_NAME - len(REPORT_SUFFIX) - len(suffix) - 1
    return f"{name[:keep].rstrip('-.')}-{suffix}{REPORT_SUFFIX}"


def artifact_location(artifact: str | None, run_id: str | None) -> tuple[str, str] | None:
    """(run id, artifact path) of a ``runs:/<run id>/<path>`` URI (the agent's report_artifact)."""
    if not artifact:
        return None
    match = re.fullmatch(r"runs:/([^/]+)/(.+)", artifact)
    if match:
        return match.group(1), match.group(2)
    return (run_id, artifact.lstrip("/")) if run_id else None


def report_uri(ui: str | None, location: tuple[str, str] | None) -> str | None:
    """The MLflow server's download link of the report (the UI host serves /get-artifact too)."""
    if not ui or location is None:
        return None
    run_id, path = location
    return f"{ui.rstrip('/')}/get-artifact?path={quote(path)}&run_uuid={quote(run_id)}"


# -- the agent's termination message ---------------------------------------------------------------------


class AgentResult(BaseModel):
    """The agent Job's compact JSON (`stockops.agent.termination`); `ok` decides which fields count."""

    model_config = ConfigDict(extra="ignore", frozen=True, protected_namespaces=())

    ok: bool
    ticker: str | None = None
    stance: str | None = None
    confidence: str | None = None
    summary: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    data_date: str | None = None
    generator: str | None = None
    cached: bool | None = None
    cache: str | None = None
    critic_score: float | None = None
    revisions: int | None = None
    mlflow_run_id: str | None = None
    report_artifact: str | None = None
    objections: list[str] = Field(default_factory=list)
    objections_total: int | None = None
    reason: str | None = None
    message: str | None = None

    @field_validator("model_version", mode="before")
    @classmethod
    def _version_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def failure_reason(self) -> str:
        """The agent's reason as a condition reason (``Error`` when it gave none)."""
        return condition_reason(self.reason or "Error")

    def wire(self) -> dict[str, Any]:
        """The message as the agent wrote it (what the report ConfigMap keeps as result.json)."""
        return self.model_dump(mode="json", exclude_none=True)


def parse_agent_message(text: str | None) -> AgentResult | None:
    """The last JSON object line of ``text`` (log lines may precede it: FallbackToLogsOnError); None
    without text; an ``Error`` result quoting the tail when nothing parses (a crash is never an answer)."""
    if text is None or not text.strip():
        return None
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return AgentResult.model_validate(json.loads(line))
            except (ValueError, ValidationError):
                continue
    return AgentResult(ok=False, reason="Error", message=f"unparseable agent result: {text.strip()[-400:]}")


# -- the agent pod ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PodProblem:
    """Why the agent's container cannot start, as a condition reason and a message that says what to do."""

    reason: str
    message: str


def classify_pod_waiting(reason: str | None, message: str | None, spec: AnalysisSpec) -> PodProblem | None:
    """A kubelet waiting state of the agent container -> a problem (None: it is just starting)."""
    if not reason or reason not in POD_PROBLEMS:
        return None
    detail = " ".join((message or reason).split())[:600]
    secret = spec.llm.secret_ref if spec.llm else None
    if reason == "CreateContainerConfigError" and secret is not None:
        key = secret.key or DEFAULT_SECRET_KEY
        if "couldn't find key" in detail:
            return PodProblem(
                "SecretKeyMissing",
                f"the agent pod cannot start: {detail}; add key '{key}' (the LLM API key) to Secret "
                f"'{secret.name}' or set spec.llm.secretRef.key; the pod starts once it exists",
            )
        if "not found" in detail and secret.name in detail:
            return PodProblem(
                "SecretNotFound",
                f"the agent pod cannot start: {detail}; create Secret '{secret.name}' with key '{key}' "
                "(spec.llm.secretRef); the pod starts once it exists",
            )
    return PodProblem(condition_reason(reason), f"the agent pod cannot start ({reason}): {detail}")


# -- status -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportWrite:
    """The report ConfigMap this pass wrote; `complete` False: summary and link only."""

    config_map: str
    complete: bool


@dataclass(frozen=True)
class AnalysisInputs:
    """Everything the status of one Analysis depends on."""

    generation: int
    spec: AnalysisSpec
    previous: AnalysisStatus
    now: dt.datetime
    job_name: str
    model: TickerModelObservation | None
    job: JobObservation | None = None
    pinned_version: str | None = None  # the serving version the Job was created with
    result: AgentResult | None = None
    report: ReportWrite | None = None
    pod_problem: PodProblem | None = None
    last_failure: str | None = None  # "Reason: message" of the latest failed attempt of a retrying Job
    cache_off: str | None = None  # why the operator turned the semantic cache off (no Qdrant URL)
    mlflow_ui: str | None = None
    result_grace_seconds: float = 60.0


class Stage(StrEnum):
    """Where the answer of the current generation stands."""

    WAITING = "Waiting"  # no Job: the TickerModel cannot be analysed yet
    BLOCKED = "Blocked"  # the Job's pod cannot start (a Secret key, an image)
    PENDING = "Pending"  # the Job's pod has not started
    RUNNING = "Running"
    AWAITING_RESULT = "AwaitingResult"  # succeeded, termination message not seen yet
    FETCHING_REPORT = "FetchingReport"
    ANSWERED = "Answered"
    FAILED = "Failed"
    RECORDED = "Recorded"  # finished earlier; the previous status has the outcome


@dataclass(frozen=True)
class _Outcome:
    stage: Stage
    reason: str = ""
    message: str = ""


def answer_recorded(previous: AnalysisStatus, job_name: str) -> bool:
    """Whether `previous` holds the finished outcome (answer or failure) of Job `job_name`."""
    answered = previous.condition(ANSWERED)
    return bool(
        previous.job_name == job_name
        and previous.completion_time
        and answered is not None
        and answered.status in ("True", "False")
    )


def _outcome(inputs: AnalysisInputs) -> _Outcome:
    name, job, result = inputs.job_name, inputs.job, inputs.result
    if answer_recorded(inputs.previous, name):
        return _Outcome(Stage.RECORDED)
    if job is None:
        problem = model_problem(inputs.spec.ticker_model_ref.name, inputs.model)
        if problem is not None:
            return _Outcome(Stage.WAITING, *problem)
        return _Outcome(Stage.PENDING, "JobPending", f"creating agent Job {name}")
    if job.state is JobState.SUCCEEDED:
        if result is None:
            finished = parse_rfc3339(job.completion_time) or inputs.now
            if (inputs.now - finished).total_seconds() < inputs.result_grace_seconds:
                return _Outcome(
                    Stage.AWAITING_RESULT,
                    "AwaitingResult",
                    f"Job {name} succeeded; reading the agent's result",
                )
            return _Outcome(
                Stage.FAILED,
                "NoResult",
                f"Job {name} succeeded but the agent wrote no result; see the pod log",
            )
        if not result.ok:
            return _Outcome(
                Stage.FAILED, result.failure_reason, result.message or f"Job {name} reported failure"
            )
        if inputs.report is not None:
            return _Outcome(Stage.ANSWERED)
        return _Outcome(
            Stage.FETCHING_REPORT,
            "FetchingReport",
            f"Job {name} answered; fetching the report from MLflow for its ConfigMap",
        )
    if job.state is JobState.FAILED:
        return _failed(inputs, job)
    if inputs.pod_problem is not None:
        return _Outcome(Stage.BLOCKED, inputs.pod_problem.reason, inputs.pod_problem.message)
    earlier = (
        f"; attempt {job.failed} failed ({inputs.last_failure})" if job.failed and inputs.last_failure else ""
    )
    if job.state is JobState.RUNNING:
        reason = "Retrying" if earlier else "Running"
        return _Outcome(
            Stage.RUNNING, reason, f"Job {name} attempt {max(job.attempts, 1)}: the agent is running{earlier}"
        )
    reason = "Retrying" if earlier else "JobPending"
    return _Outcome(Stage.PENDING, reason, f"Job {name} created; waiting for its pod to start{earlier}")


def _failed(inputs: AnalysisInputs, job: JobObservation) -> _Outcome:
    name, result = inputs.job_name, inputs.result
    job_reason = job.failure_reason or "JobFailed"
    attempts = f"Job {name} failed after {job.attempts} attempt(s), {job_reason}"
    if result is not None and not result.ok:
        return _Outcome(Stage.FAILED, result.failure_reason, f"{result.message or 'no message'} ({attempts})")
    previous = inputs.previous.condition(ANSWERED)
    if (
        previous is not None
        and previous.status == "False"
        and inputs.previous.job_name == name
        and previous.reason not in ("", "Unknown")
    ):
        # the pod never started (a missing Secret key, an image): that is the cause, not the deadline
        return _Outcome(Stage.FAILED, previous.reason, f"{previous.message} ({attempts})")
    reason = job_reason if job_reason != "PodFailurePolicy" else "Error"
    detail = job.failure_message or ""
    return _Outcome(Stage.FAILED, reason, f"{attempts}" + (f": {detail}" if detail else ""))


def _cut(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _score(value: float | None) -> float | None:
    return None if value is None or value != value else round(min(1.0, max(0.0, float(value))), 4)


def _answer_fields(inputs: AnalysisInputs, result: AgentResult) -> dict[str, Any]:
    """The answer's status fields from a successful result (cut to the schema's limits)."""
    location = artifact_location(result.report_artifact, result.mlflow_run_id)
    report = AnalysisReport(
        config_map=inputs.report.config_map if inputs.report else None,
        complete=inputs.report.complete if inputs.report else None,
        mlflow_run_id=result.mlflow_run_id,
        artifact=result.report_artifact,
        uri=report_uri(inputs.mlflow_ui, location),
    )
    cache = inputs.cache_off if inputs.cache_off and not result.cached else result.cache
    objections = [o for o in (_cut(o, OBJECTION_CHARS) for o in result.objections) if o][:MAX_OBJECTIONS]
    return {
        "ticker": _cut(result.ticker, 16),
        "stance": _cut(result.stance, 16),
        "confidence": _cut(result.confidence, 16),
        "summary": _cut(result.summary, SUMMARY_CHARS),
        "model_name": _cut(result.model_name, 256),
        "model_version": _cut(result.model_version, 64),
        "data_date": _cut(result.data_date, 10),
        "generator": _cut(result.generator, 300),
        "cached": result.cached,
        "cache": _cut(cache, 300),
        "critic_score": _score(result.critic_score),
        "revisions": max(0, result.revisions) if result.revisions is not None else None,
        "objections": objections or None,
        "objections_total": max(result.objections_total or 0, len(objections)),
        "report": report,
    }


def answered_message(result: AgentResult, report: ReportWrite | None) -> str:
    """The Answered condition's message: the call, its provenance and its checks."""
    message = (
        f"{result.stance} ({result.confidence}) on {result.model_name} version {result.model_version}, "
        f"data {result.data_date}, written by {result.generator}; critic score "
        f"{_score(result.critic_score)}, {result.revisions or 0} revision(s)"
    )
    if result.cached:
        message += "; answered from the semantic cache"
    if report is not None and not report.complete:
        message += (
            f"; the full report could not be fetched from MLflow, so ConfigMap {report.config_map} holds "
            "the summary and a link to the artifact"
        )
    return message


def compute_analysis_status(inputs: AnalysisInputs) -> AnalysisStatus:
    """The new status (whole object) of an Analysis for the observations in `inputs`."""
    previous = inputs.previous

    def make(type_: str, status: ConditionStatus, reason: str, message: str) -> Condition:
        return make_condition(
            previous.conditions, type_, status, reason, message, now=inputs.now, generation=inputs.generation
        )

    ref = inputs.spec.ticker_model_ref.name
    problem = model_problem(ref, inputs.model)
    if problem is None and inputs.model is not None:
        model = inputs.model
        served = (
            f" at {model.inference_url}" if model.inference_url else " (not served: the registry's bundle)"
        )
        model_ready = make(
            MODEL_READY,
            "True",
            "ModelReady",
            f"TickerModel '{ref}' is Ready: {model.model_name} version {model.serving_version}{served}",
        )
    else:
        reason, message = problem or ("TickerModelNotFound", f"TickerModel '{ref}' not found")
        model_ready = make(MODEL_READY, "False", reason, message)

    outcome = _outcome(inputs)
    if outcome.stage is Stage.RECORDED:
        kept = [c for c in previous.conditions or () if c.type != MODEL_READY]
        return previous.model_copy(update={"conditions": [model_ready, *kept]})

    job = inputs.job
    started = outcome.stage is not Stage.WAITING  # a Job exists (or is being created) for this generation
    fields: dict[str, Any] = {
        "observed_generation": inputs.generation,
        "job_name": inputs.job_name if started else None,
        "attempt": (job.attempts if job else 0) if started else None,
        "failed_attempts": job.failed if job else None,
        "last_failure": inputs.last_failure,
        "ticker": inputs.model.ticker if inputs.model and inputs.model.ticker else None,
        "model_name": inputs.model.model_name if inputs.model else None,
        "model_version": inputs.pinned_version,
        "start_time": job.start_time if job else None,
    }
    result = inputs.result
    if outcome.stage is Stage.ANSWERED and result is not None:
        fields.update(_answer_fields(inputs, result))
        fields["completion_time"] = (job.completion_time if job else None) or rfc3339(inputs.now)
        reason = "AnsweredFromCache" if result.cached else "Answered"
        answered = make(ANSWERED, "True", reason, answered_message(result, inputs.report))
        where = f"ConfigMap {inputs.report.config_map}" if inputs.report else "MLflow"
        ready = make(
            READY, "True", "Ready", f"{result.stance} ({result.confidence}); the report is in {where}"
        )
        phase: AnalysisPhase = "Ready"
    elif outcome.stage is Stage.FAILED:
        fields["completion_time"] = (job.completion_time if job else None) or rfc3339(inputs.now)
        answered = make(ANSWERED, "False", outcome.reason, outcome.message)
        ready = make(READY, "False", outcome.reason, outcome.message)
        phase = "Failed"
    elif outcome.stage is Stage.WAITING:
        answered = make(ANSWERED, "Unknown", "WaitingForModel", f"no agent Job yet: {outcome.message}")
        ready = make(READY, "False", outcome.reason, outcome.message)
        phase = "Pending"
    elif outcome.stage is Stage.BLOCKED:
        answered = make(ANSWERED, "False", outcome.reason, outcome.message)
        ready = make(READY, "False", outcome.reason, outcome.message)
        phase = "Pending"
    else:
        answered = make(ANSWERED, "Unknown", outcome.reason, outcome.message)
        ready = make(READY, "False", outcome.reason, outcome.message)
        phase = "Running"
    return AnalysisStatus(phase=phase, conditions=[model_ready, answered, ready], **fields)


def clock_dependent(status: AnalysisStatus, job: JobObservation | None) -> bool:
    """Whether the next pass may differ with unchanged inputs: a report being fetched, a result awaited,
    a pod that has not become ready (its waiting reason is read from the pod, not the Job)."""
    answered = status.condition(ANSWERED)
    reason = answered.reason if answered else ""
    if reason in ("FetchingReport", "AwaitingResult"):
        return True
    return job is not None and not job.finished and job.ready == 0
