"""Per-TickerModel gauges read from the resource's status: test skill, live skill, drift, conditions.

The operator already holds every TickerModel's status (it wrote it), so it exports these series for
Grafana's models dashboard and the chart's alerts instead of a second exporter scraping the API server.
Every series carries ``namespace``, ``name`` (the TickerModel) and ``ticker``; the operator's
ServiceMonitor keeps them with ``honorLabels`` (else Prometheus would rename ``namespace`` to
``exported_namespace``, the scrape target's own namespace taking its place).

A value the status lacks (not trained yet, no monitoring check yet, a field that is not a number)
removes the series instead of writing 0: a 0 skill would read as "exactly as good as the random walk"
and a 0 timestamp as "checked in 1970". Verdicts are state sets: one series per possible verdict, 1 for
the current one, as kube-state-metrics exports phases.

Status keys are the CR's camelCase ones (``status.metrics.skillLow``, ``status.monitoring.live``...).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

LABELS = ("namespace", "name", "ticker")
LIVE_VERDICTS = ("Ok", "Degraded", "InsufficientData")
DRIFT_VERDICTS = ("NoDrift", "Drifted", "InsufficientData")


@dataclass(frozen=True)
class _Field:
    """One gauge and where its value sits in the status (a path of keys)."""

    name: str
    help: str
    path: tuple[str, ...]


# Numbers copied from the status as they are.
NUMBER_FIELDS = (
    _Field("stockops_model_test_skill", "Test-split skill vs the random walk (1 - RMSE/naive RMSE).",
           ("metrics", "skill")),
    _Field("stockops_model_test_skill_low", "Lower end of the 95 % bootstrap interval of test skill.",
           ("metrics", "skillLow")),
    _Field("stockops_model_test_skill_high", "Upper end of the 95 % bootstrap interval of test skill.",
           ("metrics", "skillHigh")),
    _Field("stockops_model_live_skill", "Live skill of served forecasts vs the random walk (rolling window).",
           ("monitoring", "live", "skill")),
    _Field("stockops_model_live_skill_low", "Lower end of the interval of live skill.",
           ("monitoring", "live", "skillLow")),
    _Field("stockops_model_live_skill_high", "Upper end of the interval of live skill.",
           ("monitoring", "live", "skillHigh")),
    _Field("stockops_model_live_interval_coverage", "Share of realised closes inside the served interval.",
           ("monitoring", "live", "coverage")),
    _Field("stockops_model_live_directional_accuracy", "Share of served forecasts with the right direction.",
           ("monitoring", "live", "directionalAccuracy")),
    _Field("stockops_model_drift_share", "Share of model inputs the last drift check found drifted.",
           ("monitoring", "drift", "share")),
)  # fmt: skip
# RFC 3339 times, exported as Unix seconds.
TIME_FIELDS = (
    _Field("stockops_model_drift_checked_timestamp_seconds",
           "Unix time of the last drift check (status.monitoring.drift.checkedAt).",
           ("monitoring", "drift", "checkedAt")),
    _Field("stockops_model_live_checked_timestamp_seconds",
           "Unix time of the last live-error check (status.monitoring.live.checkedAt).",
           ("monitoring", "live", "checkedAt")),
)  # fmt: skip
# Condition type -> gauge: 1 when the condition's status is "True", 0 when "False", absent otherwise.
CONDITION_FIELDS = {
    "Drifted": ("stockops_model_drifted", "1 while the Drifted condition is True, 0 while False."),
    "Degraded": ("stockops_model_degraded", "1 while the Degraded condition is True, 0 while False."),
}
VERDICT_FIELDS = (
    ("stockops_model_live_verdict", "Verdict of the last live-skill check (state set).",
     ("monitoring", "live", "verdict"), LIVE_VERDICTS),
    ("stockops_model_drift_verdict", "Verdict of the last drift check (state set).",
     ("monitoring", "drift", "verdict"), DRIFT_VERDICTS),
)  # fmt: skip


def _lookup(status: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = status
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _number(value: Any) -> float | None:
    """A finite number, else None (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _timestamp(value: Any) -> float | None:
    """Unix seconds of an RFC 3339 string (``2026-05-04T10:00:00Z``), else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def _condition_value(status: Mapping[str, Any], type_: str) -> float | None:
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        return None
    for condition in conditions:
        if isinstance(condition, Mapping) and condition.get("type") == type_:
            return {"True": 1.0, "False": 0.0}.get(condition.get("status"))  # type: ignore[arg-type]
    return None


def model_values(status: Mapping[str, Any] | None) -> dict[str, float | dict[str, float]]:
    """Gauge name -> value (or, for state sets, state -> 0/1) of what the status holds; pure."""
    if not isinstance(status, Mapping):
        return {}
    values: dict[str, float | dict[str, float]] = {}
    for field in NUMBER_FIELDS:
        if (number := _number(_lookup(status, field.path))) is not None:
            values[field.name] = number
    for field in TIME_FIELDS:
        if (seconds := _timestamp(_lookup(status, field.path))) is not None:
            values[field.name] = seconds
    for type_, (name, _) in CONDITION_FIELDS.items():
        if (flag := _condition_value(status, type_)) is not None:
            values[name] = flag
    for name, _, path, states in VERDICT_FIELDS:
        verdict = _lookup(status, path)
        if verdict in states:
            values[name] = {state: float(state == verdict) for state in states}
    return values


class ModelGauges:
    """The per-TickerModel series, on the registry it is given (the operator's, in production)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._gauges: dict[str, Gauge] = {}
        for field in (*NUMBER_FIELDS, *TIME_FIELDS):
            self._gauges[field.name] = Gauge(field.name, field.help, LABELS, registry=registry)
        for name, help_text in CONDITION_FIELDS.values():
            self._gauges[name] = Gauge(name, help_text, LABELS, registry=registry)
        for name, help_text, _, _ in VERDICT_FIELDS:
            self._gauges[name] = Gauge(name, help_text, (*LABELS, "verdict"), registry=registry)
        # (namespace, name) -> gauge name -> the label tuples written: what the next update or forget()
        # removes (a ticker change, a value that disappeared).
        self._written: dict[tuple[str, str], dict[str, set[tuple[str, ...]]]] = {}
        self._lock = threading.Lock()

    def update(self, namespace: str, name: str, ticker: str, status: Mapping[str, Any] | None) -> None:
        """Export what `status` holds for this TickerModel; series of values it lacks are removed."""
        values = model_values(status)
        key = (namespace, name)
        base: tuple[str, ...] = (namespace, name, ticker)
        with self._lock:
            written: dict[str, set[tuple[str, ...]]] = {}
            for gauge_name, value in values.items():
                gauge = self._gauges[gauge_name]
                labels: set[tuple[str, ...]]
                if isinstance(value, dict):
                    labels = {(*base, state) for state in value}
                    for state, flag in value.items():
                        gauge.labels(*base, state).set(flag)
                else:
                    labels = {base}
                    gauge.labels(*base).set(value)
                written[gauge_name] = labels
            before = self._written.get(key)
            if before is not None:
                self._remove(before, keep=written)
            if written:
                self._written[key] = written
            else:
                self._written.pop(key, None)

    def forget(self, namespace: str, name: str) -> None:
        """Remove every series of a TickerModel that is gone."""
        with self._lock:
            before = self._written.pop((namespace, name), None)
            if before is not None:
                self._remove(before, keep={})

    def _remove(self, old: dict[str, set[tuple[str, ...]]], keep: Mapping[str, set[tuple[str, ...]]]) -> None:
        for gauge_name, label_sets in old.items():
            for labels in label_sets - keep.get(gauge_name, set()):
                self._gauges[gauge_name].remove(*labels)
