"""The stateful part of the operator: serialises passes per object, writes status, counts metrics.

Kopf may run a resource's change handler and its timer at the same moment, and a timer's body can lag
a status write by a few milliseconds. A lock per object serialises passes, and the status this
process last wrote (kept for a short while) is used as the "previous" status instead of a body that
may not show it yet, so a transition is reported once.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError

from stockops.operator.analysis import ANALYSIS
from stockops.operator.analysis_reconcile import (
    AnalysisObserved,
    AnalysisReconcileResult,
    AnalysisResource,
    reconcile_analysis,
)
from stockops.operator.cluster import Cluster
from stockops.operator.conditions import READY, make_condition
from stockops.operator.metrics import OperatorMetrics
from stockops.operator.mlflow_reports import NoReports, ReportSource
from stockops.operator.reconcile import Observed, ProgressSource, ReconcileResult, Resource, reconcile
from stockops.operator.settings import OperatorSettings
from stockops.operator.transitions import Event

logger = logging.getLogger(__name__)

RECENT_WRITE_SECONDS = 30.0
EventSink = Callable[[Mapping[str, Any], Event], None]


class _Parsed(Protocol):
    @property
    def namespace(self) -> str: ...
    @property
    def name(self) -> str: ...


class _Outcome(Protocol):
    @property
    def patch(self) -> dict[str, Any]: ...
    @property
    def events(self) -> list[Event]: ...
    @property
    def status(self) -> Any: ...


R = TypeVar("R", bound=_Parsed)
P = TypeVar("P", bound=_Outcome)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _clock_dependent(resource: Resource, result: ReconcileResult) -> bool:
    """Whether the next pass may differ with unchanged inputs: progress is polled while training,
    a missing result times out, a retrain schedule fires by the clock, and a predictor rollout is
    polled (its Deployment finishing may change nothing the InferenceService index shows: KServe's
    Ready stays True throughout)."""
    retrain = resource.spec.retrain
    schedule = retrain.schedule if retrain else None
    monitoring = getattr(resource.spec, "monitoring", None)
    # a check on a schedule, and a verdict whose minimum retrain interval runs out, are clocks too
    watched = bool(monitoring and monitoring.schedule) or bool(
        retrain and (getattr(retrain, "on_drift", None) or getattr(retrain, "on_degraded", None))
    )
    checking = getattr(result.status, "monitoring", None)
    in_flight = bool(checking and checking.job_name and checking.last_check_time is None)
    inference = getattr(result.status, "inference", None)
    rolling = bool(inference and inference.rolling_out_version)
    return result.status.phase == "Training" or bool(schedule) or watched or in_flight or rolling


class InvalidSpecError(ValueError):
    """The spec does not parse (possible only when the CRD installed is older than this operator, or
    edited by hand): retrying cannot help, so the handler turns this into a permanent error."""


def spec_problems(exc: ValidationError, limit: int = 5) -> str:
    """``spec.training.epochs: Input should be greater than or equal to 1; ...`` (pure)."""
    parts = [
        "spec." + ".".join(str(p) for p in error["loc"]) + f": {error['msg']}"
        for error in exc.errors()[:limit]
    ]
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


class Controller:
    """Runs reconcile passes for ParentModels, TickerModels and Analyses."""

    def __init__(
        self,
        cluster: Cluster,
        progress: ProgressSource,
        settings: OperatorSettings,
        metrics: OperatorMetrics,
        post_event: EventSink,
        clock: Callable[[], dt.datetime] = _utcnow,
        reports: ReportSource | None = None,
    ) -> None:
        self.cluster = cluster
        self.progress = progress
        self.reports: ReportSource = reports if reports is not None else NoReports()
        self.settings = settings
        self.metrics = metrics
        self._post_event = post_event
        self._clock = clock
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._written: dict[str, tuple[float, dict[str, Any]]] = {}
        self._seen: dict[str, tuple[object, bool]] = {}  # uid -> (inputs fingerprint, clock-dependent)

    def _lock(self, uid: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(uid, threading.Lock())

    def _previous_status(self, uid: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        written = self._written.get(uid)
        if written and time.monotonic() - written[0] < RECENT_WRITE_SECONDS:
            return written[1]
        if written:  # older than a watch event takes: the body has it, the copy only costs memory
            self._written.pop(uid, None)
        return None

    def run(
        self, kind: str, body: Mapping[str, Any], observed: Observed, trigger: str
    ) -> ReconcileResult | None:
        """One pass for a ParentModel or TickerModel (see `_pass`)."""

        def step(resource: Resource) -> ReconcileResult:
            return reconcile(resource, observed, self.cluster, self.progress, self.settings, self._clock())

        return self._pass(
            kind,
            body,
            observed,
            trigger,
            parse=lambda status: Resource.from_body(kind, body, status=status),
            step=step,
            count=self._count,
            clock_dependent=_clock_dependent,
        )

    def run_analysis(
        self, body: Mapping[str, Any], observed: AnalysisObserved, trigger: str
    ) -> AnalysisReconcileResult | None:
        """One pass for an Analysis (see `_pass`)."""

        def step(resource: AnalysisResource) -> AnalysisReconcileResult:
            return reconcile_analysis(
                resource, observed, self.cluster, self.reports, self.settings, self._clock()
            )

        return self._pass(
            ANALYSIS,
            body,
            observed,
            trigger,
            parse=lambda status: AnalysisResource.from_body(body, status=status),
            step=step,
            count=self._count_analysis,
            clock_dependent=lambda resource, result: result.clock_dependent,
        )

    def _pass(
        self,
        kind: str,
        body: Mapping[str, Any],
        observed: object,
        trigger: str,
        *,
        parse: Callable[[dict[str, Any] | None], R],
        step: Callable[[R], P],
        count: Callable[[str, str, R, P], None],
        clock_dependent: Callable[[R, P], bool],
    ) -> P | None:
        """One pass: reconcile, write the status if it changed, post Events, update metrics.

        A timer pass whose inputs (the object's resourceVersion and what the indexes show) are the
        same as last time, for a resource whose status does not depend on the clock, is skipped
        (None): it could only compute the same status. This keeps a thousand idle resources cheap.
        """
        uid = body["metadata"]["uid"]
        fingerprint = (body["metadata"].get("resourceVersion"), observed)
        if trigger == "timer":
            seen = self._seen.get(uid)
            if seen is not None and seen[0] == fingerprint and not seen[1]:
                return None
        with self._lock(uid):
            try:
                resource = parse(self._previous_status(uid, body))
            except ValidationError as exc:
                if not exc.title.endswith("Spec"):  # a status we cannot read is our bug: let it raise
                    raise
                self._reject_spec(kind, body, spec_problems(exc))
                raise InvalidSpecError(spec_problems(exc)) from exc
            self.metrics.reconciles.labels(kind, trigger).inc()
            try:
                result = step(resource)
            except Exception:
                self.metrics.reconcile_errors.labels(kind).inc()
                raise
            if result.patch:
                try:
                    self.cluster.patch_status(kind, resource.namespace, resource.name, result.patch)
                except Exception:
                    self._written.pop(uid, None)
                    self.metrics.reconcile_errors.labels(kind).inc()
                    raise
                self._written[uid] = (time.monotonic(), result.status.to_wire())
            for event in result.events:
                self._post_event(body, event)
            count(kind, uid, resource, result)
            self._seen[uid] = (fingerprint, clock_dependent(resource, result))
            if result.events:
                logger.info(
                    "%s %s/%s: %s",
                    kind,
                    resource.namespace,
                    resource.name,
                    "; ".join(f"{e.reason}: {e.message}" for e in result.events),
                )
            return result

    def _reject_spec(self, kind: str, body: Mapping[str, Any], problems: str) -> None:
        """Phase Failed with Ready=False/InvalidSpec naming the fields, written once per generation."""
        meta = body["metadata"]
        generation = int(meta.get("generation") or 1)
        status = body.get("status") or {}
        ready = next((c for c in status.get("conditions") or () if c.get("type") == READY), {})
        if (ready.get("reason"), ready.get("message"), status.get("observedGeneration")) == (
            "InvalidSpec",
            problems,
            generation,
        ):
            return
        condition = make_condition(
            None, READY, "False", "InvalidSpec", problems, now=self._clock(), generation=generation
        )
        patch = {"phase": "Failed", "observedGeneration": generation, "conditions": [condition.to_wire()]}
        self.cluster.patch_status(kind, meta.get("namespace") or "default", meta["name"], patch)
        self._post_event(body, Event("Warning", "InvalidSpec", problems))
        self.metrics.reconcile_errors.labels(kind).inc()
        logger.warning("%s %s/%s: invalid spec: %s", kind, meta.get("namespace"), meta["name"], problems)

    def _count(self, kind: str, uid: str, resource: Resource, result: ReconcileResult) -> None:
        status = result.status
        self.metrics.observe_phase(uid, kind, status.phase)
        if result.jobs_created:
            self.metrics.jobs_created.labels(kind).inc(result.jobs_created)
        if result.training_reason and result.training_reason != "Created":
            self.metrics.retrains.labels(kind, result.training_reason).inc()
        for check, verdict in result.check_verdicts:
            self.metrics.monitor_checks.labels(check, verdict).inc()
        if kind == "TickerModel":
            self.metrics.models.update(
                resource.namespace, resource.name, resource.spec.ticker, status.to_wire()
            )
        if status.phase == "Failed" and resource.status.phase != "Failed":
            ready = status.condition("Ready")
            self.metrics.failures.labels(kind, ready.reason if ready else "Unknown").inc()
        job = result.finished
        if job is not None and job.start_time and job.completion_time:
            start = dt.datetime.fromisoformat(job.start_time.replace("Z", "+00:00"))
            end = dt.datetime.fromisoformat(job.completion_time.replace("Z", "+00:00"))
            outcome = "succeeded" if job.state.value == "Succeeded" else "failed"
            self.metrics.training_seconds.labels(kind, outcome).observe(
                max(0.0, (end - start).total_seconds())
            )

    def _count_analysis(
        self, kind: str, uid: str, resource: AnalysisResource, result: AnalysisReconcileResult
    ) -> None:
        status = result.status
        self.metrics.observe_phase(uid, kind, status.phase)
        if result.jobs_created:
            self.metrics.jobs_created.labels(kind).inc(result.jobs_created)
        if status.phase == "Failed" and resource.status.phase != "Failed":
            ready = status.condition("Ready")
            self.metrics.failures.labels(kind, ready.reason if ready else "Unknown").inc()

    def cleanup(self, kind: str, namespace: str, name: str, uid: str) -> list[str]:
        """On a delete the operator sees: delete our Jobs and InferenceService (the garbage collector
        would, a little later), forget the object. Best effort: no finalizer waits for it."""
        with self._lock(uid):
            deleted = self.cluster.delete_owned(namespace, uid)
            self._written.pop(uid, None)
            self._seen.pop(uid, None)
            self.metrics.observe_phase(uid, kind, None)
            if kind == "TickerModel":
                self.metrics.models.forget(namespace, name)
        with self._locks_guard:
            self._locks.pop(uid, None)
        logger.info("%s %s/%s deleted; removed %s", kind, namespace, name, ", ".join(deleted) or "nothing")
        return deleted
