"""The periodic re-check that replaces Kopf timers: live objects are checked, deleted ones never again."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest

from stockops.operator.recheck import Rechecker


def body(uid: str, generation: int = 1, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"uid": uid, "name": uid, "namespace": "ns", "generation": generation}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta}


def test_each_live_object_is_checked_with_its_newest_body() -> None:
    seen: list[tuple[str, int]] = []

    def check(b: Mapping[str, Any]) -> None:
        seen.append((b["metadata"]["uid"], b["metadata"]["generation"]))

    rechecker = Rechecker(5.0)
    rechecker.observe(None, body("a"), check)  # listed at start
    rechecker.observe("ADDED", body("b"), check)
    rechecker.observe("MODIFIED", body("a", generation=2), check)
    assert rechecker.run_once() == 2
    assert sorted(seen) == [("a", 2), ("b", 1)]


def test_a_deleted_or_deleting_object_is_never_checked_again() -> None:
    seen: list[str] = []
    rechecker = Rechecker(5.0)
    for uid in ("a", "b", "c"):
        rechecker.observe("ADDED", body(uid), lambda b: seen.append(b["metadata"]["uid"]))
    rechecker.observe("DELETED", body("a"), lambda b: None)
    rechecker.observe("MODIFIED", body("b", deleting=True), lambda b: None)
    rechecker.run_once()
    assert seen == ["c"] and len(rechecker) == 1


def test_a_failing_check_does_not_stop_the_round() -> None:
    seen: list[str] = []

    def boom(b: Mapping[str, Any]) -> None:
        raise RuntimeError("API down")

    rechecker = Rechecker(5.0)
    rechecker.observe("ADDED", body("a"), boom)
    rechecker.observe("ADDED", body("b"), lambda b: seen.append("b"))
    assert rechecker.run_once() == 2
    assert seen == ["b"]


def test_the_thread_checks_every_interval_and_stops() -> None:
    checked = threading.Event()
    rechecker = Rechecker(0.05)
    rechecker.observe("ADDED", body("a"), lambda b: checked.set())
    rechecker.start()
    try:
        assert checked.wait(5.0)
    finally:
        rechecker.stop()
    checked.clear()
    assert not checked.wait(0.2)


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval must be > 0"):
        Rechecker(0)


def test_a_check_runs_in_the_context_its_event_was_handled_in() -> None:
    """kopf.event() finds Kopf's queue through context variables; the re-check thread must see them."""
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("queue")
    seen: list[str] = []
    rechecker = Rechecker(5.0)

    def handler_thread() -> None:
        var.set("kopf's queue")
        rechecker.observe("ADDED", body("a"), lambda b: seen.append(var.get("missing")))

    thread = threading.Thread(target=handler_thread)
    thread.start()
    thread.join()
    rechecker.run_once()
    assert seen == ["kopf's queue"]


def test_bodies_are_kept_without_managed_fields() -> None:
    """managedFields are most of a body and never read: a thousand objects' worth is kept without them."""
    seen: list[Mapping[str, Any]] = []
    rechecker = Rechecker(5.0)
    listed = body("a")
    listed["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]
    listed["spec"] = {"ticker": "AAPL"}
    rechecker.observe("ADDED", listed, seen.append)
    rechecker.run_once()
    assert "managedFields" not in seen[0]["metadata"] and seen[0]["metadata"]["uid"] == "a"
    assert seen[0]["spec"] == {"ticker": "AAPL"}
    assert "managedFields" in listed["metadata"]  # the caller's (Kopf's) body is left as it was


def test_one_context_serves_every_check() -> None:
    """Kopf's variables are the operator's, so checks run in the newest event's context; a context per
    object would keep what Kopf set for that handler (its cause and an older body) alive."""
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("queue")
    seen: list[tuple[str, str]] = []
    rechecker = Rechecker(5.0)

    def handler_thread(uid: str) -> None:
        var.set(f"set for {uid}")
        rechecker.observe("ADDED", body(uid), lambda b: seen.append((b["metadata"]["uid"], var.get())))

    for uid in ("a", "b"):
        thread = threading.Thread(target=handler_thread, args=(uid,))
        thread.start()
        thread.join()
    rechecker.run_once()
    assert sorted(seen) == [("a", "set for b"), ("b", "set for b")]
