"""Operator metrics and the handler helpers that need no cluster."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from stockops.operator.handlers import wait_delay
from stockops.operator.metrics import OperatorMetrics
from stockops.operator.patches import merge_patch


def test_objects_by_phase_follow_each_object() -> None:
    metrics = OperatorMetrics()
    metrics.observe_phase("a", "TickerModel", "WaitingForParent")
    metrics.observe_phase("b", "TickerModel", "WaitingForParent")
    metrics.observe_phase("a", "TickerModel", "Training")
    metrics.observe_phase("b", "TickerModel", None)
    text = generate_latest(metrics.registry).decode()
    assert 'stockops_operator_objects{kind="TickerModel",phase="Training"} 1.0' in text
    assert 'stockops_operator_objects{kind="TickerModel",phase="WaitingForParent"} 0.0' in text
    assert "stockops_operator_waiting_for_parent 0.0" in text


def test_wait_delay_grows_and_is_capped() -> None:
    delays = [wait_delay(retry, cap=60) for retry in range(8)]
    assert delays[:5] == [2, 4, 8, 16, 32]
    assert delays[5:] == [60, 60, 60]


def test_merge_patch_removes_sets_and_recurses() -> None:
    old = {"phase": "Training", "training": {"epoch": 1, "jobName": "j"}, "gone": 1}
    new = {"phase": "Ready", "training": {"epoch": 2, "jobName": "j"}, "conditions": [{"type": "Ready"}]}
    assert merge_patch(old, new) == {
        "gone": None,
        "phase": "Ready",
        "training": {"epoch": 2},
        "conditions": [{"type": "Ready"}],
    }
    assert merge_patch(new, new) == {}


def test_handlers_register_on_a_fresh_registry() -> None:
    import kopf

    from stockops.operator.controller import Controller
    from stockops.operator.handlers import register
    from stockops.operator.settings import OperatorSettings

    settings = OperatorSettings(timer_interval_seconds=3)
    controller = Controller(
        cluster=None,  # type: ignore[arg-type]  # registration only; nothing is called
        progress=None,  # type: ignore[arg-type]
        settings=settings,
        metrics=OperatorMetrics(),
        post_event=lambda body, event: None,
    )
    registry = kopf.OperatorRegistry()
    register(registry, controller, settings)
    ids = {h.id for h in registry._changing.get_all_handlers()}
    assert {"tickermodels-create", "tickermodels-update", "tickermodels-resume"} <= ids
    assert {"parentmodels-create", "parentmodels-update"} <= ids
    assert not [i for i in ids if i.endswith("-delete")]  # cleanup runs on the DELETED watch event
    # No Kopf timers or daemons (each would force a finalizer) and no delete handler that needs one:
    # a delete never waits for the operator.
    assert registry._spawning.get_all_handlers() == []
    assert [h.id for h in registry._changing.get_all_handlers() if h.requires_finalizer] == []
    watches = {h.id for h in registry._watching.get_all_handlers()}
    assert watches == {"analyses-watch", "parentmodels-watch", "tickermodels-watch"}
    assert {h.id for h in registry._indexing.get_all_handlers()} == {
        "parents",
        "jobs",
        "isvcs",
        "tickermodels",
    }
    assert {"analyses-create", "analyses-update", "analyses-resume"} <= ids


def test_a_status_copy_older_than_a_watch_event_is_forgotten_when_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The controller keeps what it wrote only until the watch brings it back (RECENT_WRITE_SECONDS):
    an expired copy is dropped on the next read, so 1,000 objects do not each keep one for ever."""
    from stockops.operator import controller as module
    from stockops.operator.settings import OperatorSettings

    controller = module.Controller(
        cluster=None,  # type: ignore[arg-type]  # only the status memory is exercised
        progress=None,  # type: ignore[arg-type]
        settings=OperatorSettings(),
        metrics=OperatorMetrics(),
        post_event=lambda body, event: None,
    )
    now = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])
    controller._written["u"] = (now[0], {"phase": "Ready"})
    assert controller._previous_status("u", {}) == {"phase": "Ready"}
    now[0] += module.RECENT_WRITE_SECONDS + 1
    assert controller._previous_status("u", {}) is None
    assert "u" not in controller._written
