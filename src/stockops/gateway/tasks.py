"""The local gateway's task store: one SQLite file under ``$STOCKOPS_HOME/gateway/``, so a restart keeps
every task's phase, progress, metrics and result.

A process that dies mid-training cannot finish its tasks, and nothing else will: at start,
`TaskStore.interrupt_unfinished` marks every task still Pending/WaitingForParent/Training/Running as
Failed with reason ``Interrupted`` (the honest state; asking again starts a new training). The store
also keeps the last monitoring result per ticker (``GET /monitor/{ticker}/drift``).

Thread-safe: one connection, serialised by a lock (writes are a few per epoch; SQLite's WAL keeps a
reader in another process, e.g. a test, unblocked).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stockops.gateway.names import MODEL_KINDS, TaskId, TaskKind
from stockops.gateway.schemas import ACTIVE_PHASES, TERMINAL_PHASES, Condition, TaskStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
  task_id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  generation INTEGER NOT NULL,
  ticker TEXT NOT NULL,
  phase TEXT NOT NULL,
  progress INTEGER NOT NULL DEFAULT 0,
  epoch INTEGER,
  epochs INTEGER,
  conditions TEXT NOT NULL DEFAULT '[]',
  metrics TEXT,
  result TEXT,
  message TEXT NOT NULL DEFAULT '',
  model_name TEXT,
  model_version TEXT,
  parent_task_id TEXT,
  options TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (kind, name, generation)
);
CREATE INDEX IF NOT EXISTS tasks_by_ticker ON tasks (ticker, phase);
CREATE TABLE IF NOT EXISTS monitor_results (
  ticker TEXT PRIMARY KEY,
  result TEXT NOT NULL,
  checked_at TEXT NOT NULL
);
"""
_JSON_FIELDS = ("conditions", "metrics", "result", "options")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def condition(type_: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "last_transition_time": now_iso(),
    }


@dataclass(frozen=True)
class TaskRecord:
    task_id: str
    kind: TaskKind
    name: str
    generation: int
    ticker: str
    phase: str
    progress: int = 0
    epoch: int | None = None
    epochs: int | None = None
    conditions: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    message: str = ""
    model_name: str | None = None
    model_version: str | None = None
    parent_task_id: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE_PHASES

    def reason(self) -> str | None:
        """The reason of the Ready condition (or the last one), e.g. NoData, Interrupted."""
        for c in self.conditions:
            if c.get("type") == "Ready":
                return str(c.get("reason"))
        return str(self.conditions[-1]["reason"]) if self.conditions else None

    def to_status(self) -> TaskStatus:
        return TaskStatus(
            task_id=self.task_id,
            kind=self.kind,
            name=self.name,
            ticker=self.ticker,
            phase=self.phase,  # type: ignore[arg-type]
            done=self.phase in TERMINAL_PHASES,
            progress=max(0, min(100, self.progress)),
            epoch=self.epoch,
            epochs=self.epochs,
            conditions=[Condition.model_validate(c) for c in self.conditions],
            metrics=self.metrics,  # type: ignore[arg-type]
            result=self.result,  # type: ignore[arg-type]
            message=self.message,
            model_name=self.model_name,
            model_version=self.model_version,
            parent_task_id=self.parent_task_id,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


def merge_condition(conditions: list[dict[str, Any]], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Replace the condition of ``new``'s type (keeping its transition time when the status is
    unchanged), or append it."""
    out = []
    found = False
    for c in conditions:
        if c.get("type") == new["type"]:
            found = True
            if c.get("status") == new["status"]:
                new = {**new, "last_transition_time": c.get("last_transition_time")}
            out.append(new)
        else:
            out.append(c)
    return out if found else [*out, new]


class TaskStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create(
        self,
        kind: TaskKind,
        name: str,
        ticker: str,
        *,
        phase: str = "Pending",
        conditions: list[dict[str, Any]] | None = None,
        options: dict[str, Any] | None = None,
        parent_task_id: str | None = None,
        message: str = "",
    ) -> TaskRecord:
        """A new task with the next generation of ``kind/name``."""
        stamp = now_iso()
        with self._tx() as db:
            row = db.execute(
                "SELECT COALESCE(MAX(generation), 0) FROM tasks WHERE kind = ? AND name = ?", (kind, name)
            ).fetchone()
            generation = int(row[0]) + 1
            task_id = str(TaskId(kind, name, generation))
            record = TaskRecord(
                task_id=task_id,
                kind=kind,
                name=name,
                generation=generation,
                ticker=ticker,
                phase=phase,
                conditions=conditions or [],
                options=options or {},
                parent_task_id=parent_task_id,
                message=message,
                created_at=stamp,
                updated_at=stamp,
            )
            values = self._row(record)
            db.execute(
                f"INSERT INTO tasks ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})",
                tuple(values.values()),
            )
        return record

    def get(self, task_id: str) -> TaskRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        return None if row is None else self._record(row)

    def update(
        self, task_id: str, *, condition_update: dict[str, Any] | None = None, **changes: Any
    ) -> TaskRecord:
        """Apply ``changes`` (field=value) and merge one condition; returns the new record."""
        with self._tx() as db:
            row = db.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
            if row is None:
                raise KeyError(task_id)
            record = replace(self._record(row), **changes, updated_at=now_iso())
            if condition_update is not None:
                record = replace(record, conditions=merge_condition(record.conditions, condition_update))
            values = self._row(record)
            db.execute(
                f"UPDATE tasks SET {', '.join(f'{k} = ?' for k in values)} WHERE task_id = ?",
                (*values.values(), task_id),
            )
        return record

    def active_training(self, ticker: str) -> TaskRecord | None:
        """The pending or running training of ``ticker`` (either kind), if any."""
        phases = sorted(ACTIVE_PHASES)
        with self._lock:
            row = self._db.execute(
                f"SELECT * FROM tasks WHERE ticker = ? AND kind IN (?, ?) AND phase IN "
                f"({', '.join('?' for _ in phases)}) ORDER BY created_at DESC, generation DESC LIMIT 1",
                (ticker, *MODEL_KINDS, *phases),
            ).fetchone()
        return None if row is None else self._record(row)

    def latest_training(self, ticker: str) -> TaskRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM tasks WHERE ticker = ? AND kind IN (?, ?) "
                "ORDER BY created_at DESC, rowid DESC LIMIT 1",
                (ticker, *MODEL_KINDS),
            ).fetchone()
        return None if row is None else self._record(row)

    def trained_tickers(self) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT ticker FROM tasks WHERE kind IN (?, ?) ORDER BY ticker", MODEL_KINDS
            ).fetchall()
        return [str(r[0]) for r in rows]

    def count_active(self) -> int:
        phases = sorted(ACTIVE_PHASES)
        with self._lock:
            row = self._db.execute(
                f"SELECT COUNT(*) FROM tasks WHERE phase IN ({', '.join('?' for _ in phases)})", phases
            ).fetchone()
        return int(row[0])

    def interrupt_unfinished(self) -> list[str]:
        """Mark every unfinished task Failed/Interrupted (at start: no process runs them any more)."""
        phases = sorted(ACTIVE_PHASES)
        with self._lock:
            rows = self._db.execute(
                f"SELECT task_id FROM tasks WHERE phase IN ({', '.join('?' for _ in phases)})", phases
            ).fetchall()
        ids = [str(r[0]) for r in rows]
        for task_id in ids:
            self.update(
                task_id,
                phase="Failed",
                message="the gateway stopped while this task ran; request it again to start anew",
                condition_update=condition(
                    "Ready", "False", "Interrupted", "the gateway process stopped before the task finished"
                ),
            )
        return ids

    def save_monitor(self, ticker: str, result: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO monitor_results (ticker, result, checked_at) VALUES (?, ?, ?)",
                (ticker, json.dumps(result, default=str), now_iso()),
            )

    def last_monitor(self, ticker: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT result FROM monitor_results WHERE ticker = ?", (ticker,)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def clear(self) -> int:
        """Delete every task and monitoring result; returns how many tasks there were."""
        with self._tx() as db:
            count = int(db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0])
            db.execute("DELETE FROM tasks")
            db.execute("DELETE FROM monitor_results")
        return count

    @staticmethod
    def _row(record: TaskRecord) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in TaskRecord.__dataclass_fields__:
            value = getattr(record, name)
            values[name] = (
                json.dumps(value, default=str) if name in _JSON_FIELDS and value is not None else value
            )
        return values

    @staticmethod
    def _record(row: sqlite3.Row) -> TaskRecord:
        data = {k: row[k] for k in row.keys()}  # noqa: SIM118 -- sqlite3.Row is not a mapping
        for name in _JSON_FIELDS:
            if data[name] is not None:
                data[name] = json.loads(data[name])
        return TaskRecord(**data)
