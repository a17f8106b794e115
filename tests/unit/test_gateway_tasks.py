"""The local task store (SQLite in a temp dir): generations, the active training of a ticker, what a
restart does to unfinished tasks, condition transitions."""

from __future__ import annotations

from pathlib import Path

from stockops.gateway.tasks import TaskStore, condition, merge_condition


def test_each_task_of_a_name_gets_the_next_generation(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "tasks.db")
    first = store.create("tickermodel", "aapl", "AAPL")
    second = store.create("tickermodel", "aapl", "AAPL")
    other = store.create("analysis", "aapl", "AAPL")
    assert (first.task_id, second.task_id, other.task_id) == (
        "tickermodel/aapl/1",
        "tickermodel/aapl/2",
        "analysis/aapl/1",
    )


def test_the_active_training_is_the_pending_or_running_one(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "tasks.db")
    assert store.active_training("AAPL") is None
    done = store.create("tickermodel", "aapl", "AAPL")
    store.update(done.task_id, phase="Ready", progress=100)
    assert store.active_training("AAPL") is None
    running = store.create("tickermodel", "aapl", "AAPL", phase="Training")
    store.create("analysis", "aapl", "AAPL", phase="Running")  # an analysis is not a training
    found = store.active_training("AAPL")
    assert found is not None and found.task_id == running.task_id
    assert store.latest_training("AAPL").task_id == running.task_id  # type: ignore[union-attr]


def test_a_restart_keeps_tasks_and_fails_the_unfinished_ones_as_interrupted(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "tasks.db")
    ready = store.create("parentmodel", "gspc", "^GSPC")
    store.update(ready.task_id, phase="Ready", progress=100, metrics={"skill": 0.01})
    running = store.create("tickermodel", "aapl", "AAPL", phase="Training")
    store.update(running.task_id, epoch=3, epochs=10, progress=30)
    store.close()

    reopened = TaskStore(tmp_path / "tasks.db")
    assert reopened.interrupt_unfinished() == [running.task_id]
    kept = reopened.get(ready.task_id)
    assert kept is not None and kept.phase == "Ready" and kept.metrics == {"skill": 0.01}
    failed = reopened.get(running.task_id)
    assert failed is not None
    assert (failed.phase, failed.epoch, failed.reason()) == ("Failed", 3, "Interrupted")
    status = failed.to_status()
    assert status.done and status.progress == 30
    assert reopened.interrupt_unfinished() == []


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    first = {**condition("Trained", "Unknown", "Pending"), "last_transition_time": "t0"}
    same = merge_condition([first], condition("Trained", "Unknown", "Training", "started"))
    assert same == [{**same[0], "last_transition_time": "t0"}] and same[0]["reason"] == "Training"
    changed = merge_condition(same, condition("Trained", "True", "Trained"))
    assert changed[0]["last_transition_time"] != "t0"
    assert [c["type"] for c in merge_condition(changed, condition("Ready", "True", "Ready"))] == [
        "Trained",
        "Ready",
    ]


def test_monitor_results_and_clear(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "tasks.db")
    store.save_monitor("AAPL", {"verdict": "NoDrift"})
    assert store.last_monitor("AAPL") == {"verdict": "NoDrift"}
    store.create("tickermodel", "aapl", "AAPL")
    assert store.clear() == 1
    assert store.last_monitor("AAPL") is None
    assert store.create("tickermodel", "aapl", "AAPL").generation == 1
