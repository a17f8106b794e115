"""Condition bookkeeping: lastTransitionTime moves only when a condition's status changes."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from stockops.crd.status_blocks import REASON_PATTERN, Condition, ConditionStatus

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


def condition_reason(text: str) -> str:
    """``text`` as a reason the API server accepts (metav1 pattern, at most 128 characters): characters
    outside ``[A-Za-z0-9_,:]`` dropped, leading non-letters and trailing separators removed, "Unknown"
    when nothing is left. Reasons can come from a trainer's termination message, so they are never
    trusted to match the schema (a status the server rejects would hide every other field)."""
    kept = re.sub(r"[^A-Za-z0-9_,:]", "", text)
    kept = re.sub(r"^[^A-Za-z]+", "", kept)[:128].rstrip(",:")
    return kept if re.fullmatch(REASON_PATTERN, kept) else "Unknown"


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
        reason=condition_reason(reason),
        message=message[:4096],
        last_transition_time=since,
        observed_generation=generation,
    )
