"""Per-TickerModel gauges read from the status: values, state sets, removal of what the status lacks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry

from stockops.operator.metrics import OperatorMetrics
from stockops.operator.model_metrics import ModelGauges, model_values

LABELS = {"namespace": "models", "name": "aapl", "ticker": "AAPL"}


def full_status() -> dict[str, Any]:
    return {
        "phase": "Ready",
        "metrics": {"skill": 0.031, "skillLow": -0.004, "skillHigh": 0.066, "rmse": 1.2},
        "monitoring": {
            "live": {
                "skill": -0.12,
                "skillLow": -0.2,
                "skillHigh": -0.05,
                "coverage": 0.74,
                "directionalAccuracy": 0.48,
                "verdict": "Degraded",
                "checkedAt": "2026-05-04T10:00:05+00:00",
            },
            "drift": {"share": 0.6, "verdict": "Drifted", "checkedAt": "2026-05-04T10:00:00Z"},
        },
        "conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "Drifted", "status": "True", "reason": "Drifted"},
            {"type": "Degraded", "status": "False", "reason": "Ok"},
        ],
    }


def value(registry: CollectorRegistry, name: str, **extra: str) -> float | None:
    return registry.get_sample_value(name, {**LABELS, **extra})


def series_of(registry: CollectorRegistry) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in registry.collect()
        for sample in family.samples
    }


def test_a_full_status_exports_every_gauge_with_its_value() -> None:
    registry = CollectorRegistry()
    gauges = ModelGauges(registry)
    gauges.update("models", "aapl", "AAPL", full_status())
    assert value(registry, "stockops_model_test_skill") == 0.031
    assert value(registry, "stockops_model_test_skill_low") == -0.004
    assert value(registry, "stockops_model_test_skill_high") == 0.066
    assert value(registry, "stockops_model_live_skill") == -0.12
    assert value(registry, "stockops_model_live_skill_low") == -0.2
    assert value(registry, "stockops_model_live_skill_high") == -0.05
    assert value(registry, "stockops_model_live_interval_coverage") == 0.74
    assert value(registry, "stockops_model_live_directional_accuracy") == 0.48
    assert value(registry, "stockops_model_drift_share") == 0.6
    checked = datetime(2026, 5, 4, 10, tzinfo=UTC).timestamp()
    assert value(registry, "stockops_model_drift_checked_timestamp_seconds") == checked
    assert value(registry, "stockops_model_live_checked_timestamp_seconds") == checked + 5
    assert value(registry, "stockops_model_drifted") == 1.0
    assert value(registry, "stockops_model_degraded") == 0.0


def test_verdicts_are_state_sets_with_one_state_at_1() -> None:
    registry = CollectorRegistry()
    gauges = ModelGauges(registry)
    gauges.update("models", "aapl", "AAPL", full_status())
    live = {
        v: value(registry, "stockops_model_live_verdict", verdict=v)
        for v in ("Ok", "Degraded", "InsufficientData")
    }
    assert live == {"Ok": 0.0, "Degraded": 1.0, "InsufficientData": 0.0}
    drift = {
        v: value(registry, "stockops_model_drift_verdict", verdict=v)
        for v in ("NoDrift", "Drifted", "InsufficientData")
    }
    assert drift == {"NoDrift": 0.0, "Drifted": 1.0, "InsufficientData": 0.0}


def test_values_the_status_lacks_are_removed_not_zero() -> None:
    registry = CollectorRegistry()
    gauges = ModelGauges(registry)
    gauges.update("models", "aapl", "AAPL", full_status())
    status = full_status()
    del status["monitoring"]["live"]  # e.g. the realised-error window was reset
    status["monitoring"]["drift"]["share"] = None
    status["conditions"] = [{"type": "Drifted", "status": "Unknown"}]
    gauges.update("models", "aapl", "AAPL", status)
    for name in (
        "stockops_model_live_skill",
        "stockops_model_live_skill_high",
        "stockops_model_live_interval_coverage",
        "stockops_model_drift_share",
        "stockops_model_drifted",
        "stockops_model_degraded",
    ):
        assert value(registry, name) is None, name
    assert value(registry, "stockops_model_live_verdict", verdict="Degraded") is None
    assert value(registry, "stockops_model_test_skill") == 0.031  # still in the status: kept
    assert value(registry, "stockops_model_drift_verdict", verdict="Drifted") == 1.0


def test_a_status_without_anything_to_export_removes_all_series() -> None:
    registry = CollectorRegistry()
    gauges = ModelGauges(registry)
    empty = series_of(registry)
    gauges.update("models", "aapl", "AAPL", full_status())
    assert series_of(registry) != empty
    gauges.update("models", "aapl", "AAPL", None)
    assert series_of(registry) == empty


def test_values_that_are_not_what_the_cr_holds_are_ignored() -> None:
    status = {
        "metrics": {"skill": "0.3", "skillLow": True, "skillHigh": float("nan")},
        "monitoring": {
            "live": {"skill": float("inf"), "verdict": "Great"},
            "drift": {"checkedAt": "yesterday", "share": 0.1, "verdict": None},
        },
        "conditions": [{"type": "Drifted", "status": "yes"}, "not a condition"],
    }
    assert model_values(status) == {"stockops_model_drift_share": 0.1}
    assert model_values({"monitoring": {"drift": {"checkedAt": "2026-05-04T10:00:00"}}}) == {}  # no zone
    assert model_values({"monitoring": "not a mapping"}) == {}
    assert model_values(None) == {}


def test_forget_removes_only_that_model() -> None:
    registry = CollectorRegistry()
    gauges = ModelGauges(registry)
    gauges.update("models", "aapl", "AAPL", full_status())
    gauges.update("models", "msft", "MSFT", full_status())
    gauges.update("other", "aapl", "AAPL", full_status())
    gauges.forget("models", "aapl")
    assert value(registry, "stockops_model_test_skill") is None
    assert value(registry, "stockops_model_live_verdict", verdict="Degraded") is None
    assert (
        registry.get_sample_value(
            "stockops_model_test_skill", {"namespace": "models", "name": "msft", "ticker": "MSFT"}
        )
        == 0.031
    )
    assert (
        registry.get_sample_value(
            "stockops_model_test_skill", {"namespace": "other", "name": "aapl", "ticker": "AAPL"}
        )
        == 0.031
    )
    gauges.forget("models", "aapl")  # twice, or never seen: nothing to do
    gauges.forget("nowhere", "none")


def test_a_changed_ticker_moves_the_series() -> None:
    registry = CollectorRegistry()
    gauges = ModelGauges(registry)
    gauges.update("models", "aapl", "AAPL", full_status())
    gauges.update("models", "aapl", "APPLE", full_status())
    assert value(registry, "stockops_model_test_skill") is None
    assert (
        registry.get_sample_value(
            "stockops_model_test_skill", {"namespace": "models", "name": "aapl", "ticker": "APPLE"}
        )
        == 0.031
    )


def test_operator_metrics_carry_the_model_gauges_and_the_new_counters_from_zero() -> None:
    metrics = OperatorMetrics()
    metrics.models.update("models", "aapl", "AAPL", full_status())
    registry = metrics.registry
    assert value(registry, "stockops_model_live_skill") == -0.12
    labels = {"kind": "TickerModel", "reason": "Drift"}
    assert registry.get_sample_value("stockops_operator_retrains_total", labels) == 0.0
    metrics.retrains.labels("TickerModel", "Drift").inc()
    assert registry.get_sample_value("stockops_operator_retrains_total", labels) == 1.0
    checks = {"kind": "drift", "verdict": "Drifted"}
    assert registry.get_sample_value("stockops_operator_monitor_checks_total", checks) == 0.0
    failed = {"kind": "TickerModel", "outcome": "failed"}
    assert registry.get_sample_value("stockops_operator_training_duration_seconds_count", failed) == 0.0
