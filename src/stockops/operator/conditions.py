"""Condition bookkeeping: lastTransitionTime moves only when a condition's status changes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from stockops.crd.status_blocks import Condition, ConditionStatus

PARENT_READY = "ParentReady"
TRAINED = "Trained"
PROMOTED = "Promoted"
SERVING_READY = "ServingReady"
READY = "Ready"

PARENT_CONDITIONS = (TRAINED, READY)
TICKER_CONDITIONS = (PARENT_READY, TRAINED, PROMOTED, SERVING_READY, READY)


def rfc3339(moment: dt.datetime) -> str:
    """UTC, second precision, `Z` suffix: the form Kubernetes writes."""
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_rfc3339(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def make_condition(
    previous: Iterable[Condition] | None,
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    *,
    now: dt.datetime,
    generation: int,
) -> Condition:
    """A condition whose lastTransitionTime is kept from `previous` when the status is unchanged."""
    old = next((c for c in previous or () if c.type == type_), None)
    since = old.last_transition_time if old is not None and old.status == status else rfc3339(now)
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message[:4096],
        last_transition_time=since,
        observed_generation=generation,
    )
