"""Kubernetes Events for status transitions (pure: previous status, new status -> events).

Every phase change and every condition whose status or reason changed becomes one Event, so
`kubectl describe` tells the story of a resource. A first visit reports the phase only; conditions
that start out Unknown are not news.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from stockops.crd.status_blocks import Condition
from stockops.operator.status import FAILURE_REASONS

# Monitoring conditions: True is bad news (drift, a degraded model); so is a failed check (Unknown with
# its failure reason). The reasons below are the ones that are not.
WARN_WHEN_TRUE = frozenset({"Drifted", "Degraded"})
QUIET_MONITOR_REASONS = frozenset({"NotChecked", "Checking", "InsufficientData", "NoDrift", "LiveSkillOk"})


@dataclass(frozen=True)
class Event:
    """One Kubernetes Event to post on the resource."""

    type: str  # Normal | Warning
    reason: str
    message: str


class StatusWithConditions(Protocol):
    """What a status needs for its transitions to be told: a phase and conditions (all our kinds)."""

    @property
    def phase(self) -> str | None: ...
    @property
    def conditions(self) -> Sequence[Condition] | None: ...
    def condition(self, type_: str) -> Condition | None: ...


def transition_events(
    previous: StatusWithConditions,
    new: StatusWithConditions,
    failure_reasons: Collection[str] = FAILURE_REASONS,
) -> list[Event]:
    """The Events for `previous` -> `new`; a condition turning False with one of `failure_reasons` is a
    Warning."""
    events: list[Event] = []
    if new.phase != previous.phase:
        ready = new.condition("Ready")
        detail = f": {ready.message}" if ready and ready.message else ""
        kind = "Warning" if new.phase == "Failed" else "Normal"
        events.append(
            Event(kind, f"Phase{new.phase}", f"phase {previous.phase or '-'} -> {new.phase}{detail}")
        )
    for condition in new.conditions or ():
        if condition.type == "Ready":
            continue  # the phase event already says it
        old = previous.condition(condition.type)
        if old is None and condition.status == "Unknown":
            continue
        if old is not None and (old.status, old.reason) == (condition.status, condition.reason):
            continue
        kind = "Warning" if condition.status == "False" and condition.reason in failure_reasons else "Normal"
        if condition.type in WARN_WHEN_TRUE and condition.reason not in QUIET_MONITOR_REASONS:
            kind = "Warning"
        events.append(
            Event(kind, condition.reason, f"{condition.type}={condition.status}: {condition.message}"[:1024])
        )
    return events
