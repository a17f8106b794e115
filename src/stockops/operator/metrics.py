"""Prometheus metrics of the operator: reconciles, failures, training durations, objects by phase,
retrains by reason, monitoring checks by verdict, and the per-TickerModel gauges (`ModelGauges`).

A private registry (not the process-global one) keeps tests independent and lets the exporter serve
exactly these series. The chart's dashboards and alerts query them (tests/unit/test_dashboards.py
checks every name they use against this registry).
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from stockops.crd.analysis import ANALYSIS_PHASES
from stockops.crd.status_blocks import PHASES
from stockops.operator.model_metrics import DRIFT_VERDICTS, LIVE_VERDICTS, ModelGauges

# Why a training started (the `reason` label of stockops_operator_retrains_total).
RETRAIN_REASONS = ("Scheduled", "Drift", "Degraded", "ParentChanged", "Manual", "SpecChanged")
# The monitoring checks (the `kind` label of stockops_operator_monitor_checks_total) and their verdicts.
MONITOR_CHECK_VERDICTS = {"drift": DRIFT_VERDICTS, "live": LIVE_VERDICTS}
KINDS = ("ParentModel", "TickerModel")


class OperatorMetrics:
    """All series the operator exports, plus the bookkeeping for the objects-by-phase gauge."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.reconciles = Counter(
            "stockops_operator_reconciles_total",
            "Reconcile passes by resource kind and trigger (create, update, resume, timer).",
            ["kind", "trigger"],
            registry=self.registry,
        )
        self.reconcile_errors = Counter(
            "stockops_operator_reconcile_errors_total",
            "Reconcile passes that raised (API errors, bugs); retried by Kopf.",
            ["kind"],
            registry=self.registry,
        )
        self.failures = Counter(
            "stockops_operator_training_failures_total",
            "Resources that entered the Failed phase, by reason.",
            ["kind", "reason"],
            registry=self.registry,
        )
        self.jobs_created = Counter(
            "stockops_operator_jobs_created_total",
            "Training Jobs created.",
            ["kind"],
            registry=self.registry,
        )
        self.training_seconds = Histogram(
            "stockops_operator_training_duration_seconds",
            "Duration of finished training Jobs (start to completion).",
            ["kind", "outcome"],
            buckets=(10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800),
            registry=self.registry,
        )
        self.objects = Gauge(
            "stockops_operator_objects",
            "Resources by kind and phase, as last reconciled.",
            ["kind", "phase"],
            registry=self.registry,
        )
        self.waiting = Gauge(
            "stockops_operator_waiting_for_parent",
            "TickerModels waiting for their ParentModel (the operator's queue).",
            registry=self.registry,
        )
        self.retrains = Counter(
            "stockops_operator_retrains_total",
            "Trainings started again for a trained resource, by reason (" + ", ".join(RETRAIN_REASONS) + ").",
            ["kind", "reason"],
            registry=self.registry,
        )
        self.monitor_checks = Counter(
            "stockops_operator_monitor_checks_total",
            "Monitoring checks run, by check (drift, live) and verdict.",
            ["kind", "verdict"],
            registry=self.registry,
        )
        # Test skill, live skill, drift and conditions per TickerModel, read from its status.
        self.models = ModelGauges(self.registry)
        self._phases: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        # Label sets that exist before their first event read 0 instead of being absent, so rate() and
        # increase() (and the chart's alerts) see the first increment.
        for kind in KINDS:
            for phase in PHASES:
                self.objects.labels(kind, phase).set(0)
            for outcome in ("succeeded", "failed"):
                self.training_seconds.labels(kind, outcome)
            for reason in RETRAIN_REASONS:
                self.retrains.labels(kind, reason)
        for phase in ANALYSIS_PHASES:  # Analyses have their own phases (Pending, Running, Ready, Failed)
            self.objects.labels("Analysis", phase).set(0)
        for check, verdicts in MONITOR_CHECK_VERDICTS.items():
            for verdict in verdicts:
                self.monitor_checks.labels(check, verdict)

    def observe_phase(self, uid: str, kind: str, phase: str | None) -> None:
        """Record the phase of one object (None: it is gone); only changed gauges are touched."""
        with self._lock:
            before = self._phases.get(uid)
            after = (kind, phase) if phase is not None else None
            if before == after:
                return
            if before is not None:
                del self._phases[uid]
                self.objects.labels(*before).dec()
            if after is not None:
                self._phases[uid] = after
                self.objects.labels(*after).inc()
            waiting = ("TickerModel", "WaitingForParent")
            if waiting in (before, after):
                self.waiting.set(sum(1 for entry in self._phases.values() if entry == waiting))

    def serve(self, port: int) -> None:
        """Expose /metrics on `port` (a daemon thread)."""
        start_http_server(port, registry=self.registry)
