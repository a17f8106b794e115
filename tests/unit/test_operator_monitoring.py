"""Pure monitoring decisions: when a check runs, what its result writes, when a verdict retrains."""

from __future__ import annotations

import datetime as dt
import json

from stockops.crd.status_blocks import MonitoringStatus, TickerModelStatus
from stockops.crd.ticker_model import TickerModelSpec
from stockops.operator.monitoring import (
    DesiredCheck,
    desired_check,
    monitor_retrain,
    monitoring_after,
    monitoring_conditions,
    parse_monitor_message,
)
from stockops.operator.naming import monitor_job_name
from stockops.operator.observations import JobObservation, JobState

NOW = dt.datetime(2026, 3, 10, 23, 0, tzinfo=dt.UTC)  # 19:00 in New York (EDT from 8 March)
TRAINED_AT = "2026-03-09T12:00:00Z"


def spec(**extra: object) -> TickerModelSpec:
    return TickerModelSpec.model_validate({"ticker": "AAPL", "parentRef": {"name": "gspc"}, **extra})


def status(serving: str | None = "3", **extra: object) -> TickerModelStatus:
    wire: dict[str, object] = {
        "observedGeneration": 1,
        "training": {"jobName": "aapl-g1-x", "completionTime": TRAINED_AT},
        **extra,
    }
    if serving:
        wire["mlflow"] = {"modelName": "stockops-aapl", "modelVersion": serving, "servingVersion": serving}
    return TickerModelStatus.model_validate(wire)


AFTER_CLOSE = {"monitoring": {"schedule": "30 17 * * 1-5", "timeZone": "America/New_York"}}


def test_no_check_while_nothing_is_served() -> None:
    assert desired_check("aapl", "u1", spec(**AFTER_CLOSE), status(serving=None), "now", NOW) is None


def test_schedule_fires_in_its_time_zone_after_the_training() -> None:
    check = desired_check("aapl", "u1", spec(**AFTER_CLOSE), status(), None, NOW)
    assert check is not None
    # 17:30 EDT on 10 March is 21:30 UTC (DST began on 8 March): the zone's offset, not UTC's clock
    assert check.scheduled_at == "2026-03-10T21:30:00Z"
    assert check.job_name == monitor_job_name("aapl", "u1", "s2026-03-10T21:30:00Z")
    early = dt.datetime(2026, 3, 10, 21, 29, tzinfo=dt.UTC)
    answered = status(
        monitoring={"scheduledAt": "2026-03-09T21:30:00Z", "lastCheckTime": "2026-03-09T21:31:00Z"}
    )
    assert desired_check("aapl", "u1", spec(**AFTER_CLOSE), answered, None, early) is None


def test_an_answered_firing_is_not_checked_twice() -> None:
    answered = status(
        monitoring={
            "jobName": "j",
            "scheduledAt": "2026-03-10T21:30:00Z",
            "lastCheckTime": "2026-03-10T21:32:00Z",
        }
    )
    assert desired_check("aapl", "u1", spec(**AFTER_CLOSE), answered, None, NOW) is None


def test_fires_before_the_model_existed_do_not_count() -> None:
    fresh = status(training={"jobName": "t", "completionTime": "2026-03-10T22:00:00Z"})
    assert desired_check("aapl", "u1", spec(**AFTER_CLOSE), fresh, None, NOW) is None


def test_annotation_requests_one_check_per_value_and_in_flight_blocks_others() -> None:
    check = desired_check("aapl", "u1", spec(), status(), "r1", NOW)
    assert check == DesiredCheck(monitor_job_name("aapl", "u1", "mr1"), None, "r1")
    running = status(monitoring={"jobName": check.job_name, "request": "r1"})
    again = desired_check("aapl", "u1", spec(**AFTER_CLOSE), running, "r2", NOW)
    assert again is not None and again.in_flight and again.job_name == check.job_name
    done = status(monitoring={"jobName": check.job_name, "request": "r1", "lastCheckTime": TRAINED_AT})
    assert desired_check("aapl", "u1", spec(), done, "r1", NOW) is None
    assert desired_check("aapl", "u1", spec(), done, "r2", NOW) is not None


def _result(drift_verdict: str = "Drifted", live_verdict: str = "Ok") -> str:
    payload = {
        "ok": True,
        "ticker": "AAPL",
        "model_name": "stockops-aapl",
        "model_version": "3",
        "run_id": "run9",
        "drift": {
            "checkedAt": "2026-03-10T21:31:00+00:00",
            "verdict": drift_verdict,
            "share": 0.6,
            "driftShareThreshold": 0.5,
            "driftedFeatures": ["log_return", "volatility_20"],
            "testedFeatures": 5,
        },
        "live": {"checkedAt": "2026-03-10T21:31:00+00:00", "verdict": live_verdict, "skill": -0.2,
                 "skillLow": -0.3, "skillHigh": -0.1, "forecasts": 40},
    }  # fmt: skip
    return "some log line\n" + json.dumps(payload)


def job(state: JobState, name: str = "chk") -> JobObservation:
    return JobObservation(name=name, namespace="ml", state=state, completion_time="2026-03-10T21:32:00Z")


def test_a_finished_check_records_both_verdicts_and_the_conditions_say_so() -> None:
    check = DesiredCheck("chk", "2026-03-10T21:30:00Z", None)
    started = monitoring_after(None, check, None, None, NOW)
    assert started == MonitoringStatus(job_name="chk", scheduled_at="2026-03-10T21:30:00Z")
    conditions = monitoring_conditions(started, None, now=NOW, generation=1)
    assert [(c.type, c.status, c.reason) for c in conditions] == [
        ("Drifted", "Unknown", "Checking"),
        ("Degraded", "Unknown", "Checking"),
    ]
    done = monitoring_after(started, check, job(JobState.SUCCEEDED), parse_monitor_message(_result()), NOW)
    assert done is not None and done.last_check_time == "2026-03-10T21:32:00Z" and done.failure is None
    assert done.drift is not None and done.drift.model_version == "3" and done.drift.run_id == "run9"
    assert done.drift.drifted_features == ["log_return", "volatility_20"]
    drifted, degraded = monitoring_conditions(done, conditions, now=NOW, generation=1)
    assert (drifted.status, drifted.reason) == ("True", "InputDrift")
    assert "60% of 5 features drifted (log_return, volatility_20" in drifted.message
    assert (degraded.status, degraded.reason) == ("False", "LiveSkillOk")


def test_a_failed_check_keeps_the_last_verdicts_and_says_why() -> None:
    check = DesiredCheck("chk", "2026-03-10T21:30:00Z", None)
    before = monitoring_after(None, DesiredCheck("old", None, "r"), job(JobState.SUCCEEDED, "old"),
                              parse_monitor_message(_result("NoDrift")), NOW)  # fmt: skip
    started = monitoring_after(before, check, None, None, NOW)
    assert started is not None and started.last_check_time is None and started.drift == before.drift
    failure = json.dumps({"ok": False, "reason": "MlflowUnavailable", "message": "connection refused"})
    done = monitoring_after(started, check, job(JobState.FAILED), parse_monitor_message(failure), NOW)
    assert done is not None and done.failure == "MlflowUnavailable: connection refused"
    assert done.drift == before.drift  # the last computed verdict stays, with its checkedAt
    drifted, _ = monitoring_conditions(done, None, now=NOW, generation=1)
    assert (drifted.status, drifted.reason) == ("Unknown", "MlflowUnavailable")
    crashed = monitoring_after(started, check, job(JobState.FAILED), parse_monitor_message("Traceback"), NOW)
    assert crashed is not None and crashed.failure is not None and crashed.failure.startswith("Error:")
    silent = monitoring_after(started, check, job(JobState.SUCCEEDED), None, NOW)
    assert silent is not None and silent.failure is not None and silent.failure.startswith("NoResult")


def _monitored(drift: str = "Drifted", version: str = "3", checked: str = "2026-03-10T21:31:00Z"):
    return status(
        monitoring={
            "lastCheckTime": checked,
            "drift": {"verdict": drift, "modelVersion": version, "checkedAt": checked},
            "live": {"verdict": "Degraded", "modelVersion": version, "checkedAt": checked},
        }
    )


def test_drift_retrains_only_when_asked_fresh_about_the_served_version_and_after_the_interval() -> None:
    on_drift = spec(retrain={"onDrift": True, "minIntervalMinutes": 60})
    assert monitor_retrain(on_drift, _monitored(), NOW) == ("Drift", "2026-03-10T21:31:00Z")
    assert monitor_retrain(spec(), _monitored(), NOW) is None  # not asked
    assert monitor_retrain(on_drift, _monitored(drift="NoDrift"), NOW) is None
    assert monitor_retrain(on_drift, _monitored(version="2"), NOW) is None  # about another version
    stale = _monitored(checked="2026-03-09T11:00:00Z")  # checked before the latest training finished
    assert monitor_retrain(on_drift, stale, NOW) is None
    soon = dt.datetime(2026, 3, 9, 12, 30, tzinfo=dt.UTC)  # 30 minutes after the training, interval 60
    assert monitor_retrain(on_drift, _monitored(checked="2026-03-09T12:20:00Z"), soon) is None
    default = spec(retrain={"onDrift": True})  # a day by default
    assert monitor_retrain(default, _monitored(checked="2026-03-09T13:00:00Z"), soon) is None
    on_degraded = spec(retrain={"onDegraded": True})
    assert monitor_retrain(on_degraded, _monitored(drift="NoDrift"), NOW) == (
        "Degraded",
        "2026-03-10T21:31:00Z",
    )


def test_unparseable_or_missing_results() -> None:
    assert parse_monitor_message(None) is None
    assert parse_monitor_message("  ") is None
    broken = parse_monitor_message("oops {not json}")
    assert broken is not None and not broken.ok and broken.reason == "Error"
