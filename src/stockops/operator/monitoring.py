"""Monitoring of a served TickerModel, decided purely: when a check Job runs, what its result means for
``status.monitoring`` and the ``Drifted``/``Degraded`` conditions, and when a verdict starts a training.

A check runs for the version being served (``status.mlflow.servingVersion``): on each firing of
``spec.monitoring.schedule`` (read in ``timeZone``, as CronJob does) after the previous answered firing
(the first after the training that produced the served model), and when the ``stockops.io/monitor``
annotation takes a value the status has not answered. One check at a time: while one is in flight
(``jobName`` set, ``lastCheckTime`` not yet), nothing else starts. The check's Job name is a pure
function of the owner and the firing/annotation value, so a restarted operator finds it again.

A verdict starts a training (``retrain.onDrift`` / ``retrain.onDegraded``) only when it is about the
version being served, was computed after the latest training finished (a check of the old version
cannot retrain the new one again), and at least ``minIntervalMinutes`` have passed since that training
finished, so drift that persists (or flaps) retrains at most once per interval. The new version passes
the same promotion gate; the InferenceService rolls only when it does.

The conditions say what the latest check knows: ``Drifted``/``Degraded`` True or False from its
verdicts, Unknown with ``InsufficientData`` when there was too little to test, ``NotChecked`` before the
first check, and the failure reason (``MlflowUnavailable``, ``NoReference``, ...) when the latest check
failed, while ``status.monitoring.drift``/``live`` keep the last verdicts that were computed (each with
its ``checkedAt``). Neither condition touches ``Ready``: a drifted model still serves.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from stockops.crd.status_blocks import (
    Condition,
    DriftStatus,
    LiveStatus,
    ModelStatus,
    MonitoringStatus,
    TickerModelStatus,
)
from stockops.crd.ticker_model import TickerModelSpec
from stockops.operator.conditions import make_condition, parse_rfc3339, rfc3339
from stockops.operator.naming import monitor_job_name
from stockops.operator.observations import JobObservation, JobState
from stockops.operator.schedule import CronError, CronSchedule

DRIFTED = "Drifted"
DEGRADED = "Degraded"
MONITOR_CONDITIONS = (DRIFTED, DEGRADED)
DEFAULT_MIN_INTERVAL_MINUTES = 24 * 60


class MonitorResult(BaseModel):
    """The check Job's termination message (`stockops.monitoring.job`)."""

    model_config = ConfigDict(extra="ignore", frozen=True, protected_namespaces=())

    ok: bool
    ticker: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    run_id: str | None = None
    drift: dict[str, Any] | None = None
    live: dict[str, Any] | None = None
    reason: str | None = None
    message: str | None = None


def parse_monitor_message(text: str | None) -> MonitorResult | None:
    """The last JSON object line of ``text`` (log lines may precede it); None when there is no text,
    an ``Error`` result quoting the tail when nothing parses (a crash is never read as a verdict)."""
    if text is None or not text.strip():
        return None
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return MonitorResult.model_validate(json.loads(line))
            except (ValueError, ValidationError):
                continue
    return MonitorResult(ok=False, reason="Error", message=f"unparseable result: {text.strip()[-300:]}")


@dataclass(frozen=True)
class DesiredCheck:
    """The check Job the resource needs now, and what it answers."""

    job_name: str
    scheduled_at: str | None
    request: str | None
    in_flight: bool = False  # started earlier, not finished when last seen


def _serving_version(status: ModelStatus) -> str | None:
    return status.mlflow.serving_version if status.mlflow else None


def desired_check(
    name: str,
    uid: str,
    spec: TickerModelSpec,
    status: TickerModelStatus,
    request: str | None,
    now: dt.datetime,
) -> DesiredCheck | None:
    """Which check Job should exist now (None: no check is due or nothing is served)."""
    if _serving_version(status) is None:
        return None
    mon = status.monitoring or MonitoringStatus()
    if mon.job_name and mon.last_check_time is None:
        return DesiredCheck(mon.job_name, mon.scheduled_at, mon.request, in_flight=True)
    if request and request != mon.request:
        return DesiredCheck(monitor_job_name(name, uid, f"m{request}"), mon.scheduled_at, request)
    fired = _last_fire(spec, now)
    if fired is None:
        return None
    since = parse_rfc3339(mon.scheduled_at) or parse_rfc3339(
        status.training.completion_time if status.training else None
    )
    if since is None or fired <= since:
        return None
    token = rfc3339(fired)
    return DesiredCheck(monitor_job_name(name, uid, f"s{token}"), token, mon.request)


def _last_fire(spec: TickerModelSpec, now: dt.datetime) -> dt.datetime | None:
    monitoring = spec.monitoring
    if monitoring is None or not monitoring.schedule:
        return None
    try:
        return CronSchedule.parse(monitoring.schedule).last_fire(now, time_zone=monitoring.time_zone)
    except CronError:  # the CRD pattern admits it, croniter or the zone database does not: never run
        return None


def monitoring_after(
    previous: MonitoringStatus | None,
    check: DesiredCheck | None,
    job: JobObservation | None,
    result: MonitorResult | None,
    now: dt.datetime,
) -> MonitoringStatus | None:
    """status.monitoring after this pass: a started check clears the last one's outcome fields; a
    finished one records its verdicts (success) or its failure (kept verdicts stay)."""
    if check is None:
        return previous
    current = previous or MonitoringStatus()
    if current.job_name != check.job_name:
        current = current.model_copy(
            update={
                "job_name": check.job_name,
                "last_check_time": None,
                "failure": None,
                "scheduled_at": check.scheduled_at,
                "request": check.request,
            }
        )
    if job is None or not job.finished or current.last_check_time is not None:
        return current
    finished = job.completion_time or rfc3339(now)
    if result is not None and result.ok and job.state is JobState.SUCCEEDED:
        extra = {"modelVersion": result.model_version}
        drift = DriftStatus.model_validate({**(result.drift or {}), **extra, "runId": result.run_id})
        live = LiveStatus.model_validate({**(result.live or {}), **extra})
        return current.model_copy(update={"last_check_time": finished, "drift": drift, "live": live})
    if result is None:
        failure = f"NoResult: check Job {job.name} wrote no result; see the pod logs"
    elif result.ok:
        failure = f"{job.failure_reason or 'JobFailed'}: {job.failure_message or 'check Job failed'}"
    else:
        failure = f"{result.reason or 'Error'}: {result.message or 'check failed'}"
    return current.model_copy(update={"last_check_time": finished, "failure": failure[:1024]})


def monitoring_conditions(
    monitoring: MonitoringStatus | None,
    previous: list[Condition] | None,
    *,
    now: dt.datetime,
    generation: int,
) -> list[Condition]:
    """The Drifted and Degraded conditions for ``monitoring`` (lastTransitionTime kept while unchanged)."""
    mon = monitoring or MonitoringStatus()
    drift, live = mon.drift, mon.live
    if mon.failure and mon.last_check_time:
        reason, _, message = mon.failure.partition(": ")
        drift_state = live_state = ("Unknown", reason, f"latest check failed: {message}")
    else:
        drift_state = _drift_state(drift)
        live_state = _live_state(live)
    if mon.job_name and mon.last_check_time is None and drift is None and live is None:
        drift_state = live_state = ("Unknown", "Checking", f"check Job {mon.job_name} is running")
    return [
        make_condition(previous, DRIFTED, *drift_state, now=now, generation=generation),
        make_condition(previous, DEGRADED, *live_state, now=now, generation=generation),
    ]


def _drift_state(drift: DriftStatus | None) -> tuple[Any, str, str]:
    if drift is None or drift.verdict is None:
        return "Unknown", "NotChecked", "no drift check has run for the served version"
    where = f"v{drift.model_version}, checked {drift.checked_at}"
    if drift.verdict == "InsufficientData":
        return "Unknown", "InsufficientData", f"{drift.message or 'too little data to test'} ({where})"
    share = f"{(drift.share or 0.0):.0%}"
    names = ", ".join(drift.drifted_features or []) or "none"
    detail = f"{share} of {drift.tested_features or 0} features drifted ({names}; {where})"
    if drift.verdict == "Drifted":
        return "True", "InputDrift", detail
    return "False", "NoDrift", detail


def _live_state(live: LiveStatus | None) -> tuple[Any, str, str]:
    if live is None or live.verdict is None:
        return "Unknown", "NotChecked", "no live-error check has run for the served version"
    where = f"v{live.model_version}, {live.forecasts or 0} forecasts, checked {live.checked_at}"
    if live.verdict == "InsufficientData":
        return "Unknown", "InsufficientData", f"{live.message or 'too few matured forecasts'} ({where})"
    skill = f"live skill {_num(live.skill)} [{_num(live.skill_low)}, {_num(live.skill_high)}]"
    if live.verdict == "Degraded":
        return "True", "LiveSkillNegative", f"{skill}: worse than the random walk ({where})"
    return "False", "LiveSkillOk", f"{skill} ({where})"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def monitor_retrain(
    spec: TickerModelSpec, status: TickerModelStatus, now: dt.datetime
) -> tuple[str, str] | None:
    """(reason, checkedAt) of a verdict that should start a training now, else None (pure)."""
    retrain = spec.retrain
    if retrain is None or not (retrain.on_drift or retrain.on_degraded) or status.monitoring is None:
        return None
    finished = parse_rfc3339(status.training.completion_time if status.training else None)
    serving = _serving_version(status)
    if finished is None or serving is None:
        return None
    minutes = retrain.min_interval_minutes or DEFAULT_MIN_INTERVAL_MINUTES
    if now < finished + dt.timedelta(minutes=minutes):
        return None
    candidates = (
        (retrain.on_drift, status.monitoring.drift, "Drifted", "Drift"),
        (retrain.on_degraded, status.monitoring.live, "Degraded", "Degraded"),
    )
    for enabled, block, verdict, reason in candidates:
        if not enabled or block is None or block.verdict != verdict or block.model_version != serving:
            continue
        checked = parse_rfc3339(block.checked_at)
        if checked is not None and checked > finished:
            return reason, block.checked_at or ""
    return None
