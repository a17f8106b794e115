"""A periodic re-check of every live resource, in place of Kopf timers.

Why not `@kopf.timer`: Kopf adds a finalizer to every object a timer (or daemon) runs for, whatever the
delete handlers say (kopf's `on.timer` sets `requires_finalizer=True`; kopf issue #1074). A finalizer
makes every delete of a ParentModel, TickerModel or Analysis, of its namespace or of the Argo CD app
that holds it, wait for the operator, and hang while the operator is down. Our delete work is done by
owner references (the garbage collector), so nothing needs a finalizer: the operator watches the
resources (`@kopf.on.event`, which adds none), keeps the latest body of each live one here, and one
thread calls each one's check every `interval` seconds, as the timers did (progress, a parent turning
Ready, an Analysis' TickerModel turning Ready). A deleted object leaves this set at its DELETED event
(or at its deletionTimestamp), so nothing is checked after it is gone.

Checks run in a copy of the context of the latest watch event handled: `kopf.event()` (every
transition's Event) finds Kopf's event queue and loop (and its settings) through context variables,
which a plain thread does not have. Those are the operator's, the same in every handler, so one context
serves all objects; one per object would also keep what Kopf set for that handler (its cause: an older
body, the patch, the logger), about twice the memory of the bodies themselves at a thousand objects.

The bodies are kept without `metadata.managedFields` (the API server's field ownership, a third or more
of a body, which the operator never reads).
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

Check = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class _Entry:
    body: Mapping[str, Any]
    check: Check


def slim(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body without `metadata.managedFields` (shallow copies: the nested dicts are Kopf's)."""
    meta = body.get("metadata") or {}
    if "managedFields" not in meta:
        return dict(body)
    return {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


class Rechecker:
    """The live resources and their checks; `start()` runs `run_once()` every `interval` seconds."""

    def __init__(self, interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0, got {interval}")
        self.interval = interval
        self._entries: dict[str, _Entry] = {}
        self._context: contextvars.Context | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def observe(self, event_type: str | None, body: Mapping[str, Any], check: Check) -> None:
        """Record a watch event: the newest body of a live object, or its removal."""
        meta = body.get("metadata") or {}
        uid = str(meta.get("uid", ""))
        if not uid:
            return
        with self._lock:
            if event_type == "DELETED" or meta.get("deletionTimestamp"):
                self._entries.pop(uid, None)
            else:
                self._entries[uid] = _Entry(slim(body), check)
                self._context = contextvars.copy_context()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def run_once(self) -> int:
        """Check every live object once (newest body first seen at the start of the round); a check
        that raises is logged and the round goes on. Returns how many were checked."""
        with self._lock:
            entries = list(self._entries.values())
            context = self._context or contextvars.Context()  # None only while nothing is recorded
        for entry in entries:
            if self._stop.is_set():
                break
            try:
                context.run(entry.check, entry.body)
            except Exception:
                meta = entry.body.get("metadata") or {}
                logger.exception("re-check of %s/%s failed", meta.get("namespace"), meta.get("name"))
        return len(entries)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="stockops-recheck", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once()
