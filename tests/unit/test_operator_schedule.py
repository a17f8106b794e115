"""The cron evaluator behind spec.retrain.schedule."""

from __future__ import annotations

import datetime as dt

import pytest

from stockops.operator.schedule import CronError, CronSchedule

NOW = dt.datetime(2024, 5, 15, 10, 30, 20, tzinfo=dt.UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("@daily", dt.datetime(2024, 5, 15, 0, 0)),
        ("@hourly", dt.datetime(2024, 5, 15, 10, 0)),
        ("*/15 * * * *", dt.datetime(2024, 5, 15, 10, 30)),
        ("0 3 * * 1", dt.datetime(2024, 5, 13, 3, 0)),
        ("0 3 * * 7", dt.datetime(2024, 5, 12, 3, 0)),
        ("45 10 * * *", dt.datetime(2024, 5, 14, 10, 45)),
        ("0 0 1 1 *", dt.datetime(2024, 1, 1, 0, 0)),
        ("5 4 29 2 *", dt.datetime(2024, 2, 29, 4, 5)),
        ("0 12 1 * 1-5", dt.datetime(2024, 5, 15, 0, 0).replace(hour=12, day=14)),
    ],
)
def test_last_fire(expression: str, expected: dt.datetime) -> None:
    assert CronSchedule.parse(expression).last_fire(NOW) == expected.replace(tzinfo=dt.UTC)


@pytest.mark.parametrize("expression", ["* * *", "61 * * * *", "a * * * *", "5-1 * * * *", "*/0 * * * *"])
def test_bad_schedules_name_the_field(expression: str) -> None:
    with pytest.raises(CronError, match="cron"):
        CronSchedule.parse(expression)


def test_a_fire_exactly_now_counts() -> None:
    at = dt.datetime(2024, 5, 15, 10, 30, tzinfo=dt.UTC)
    assert CronSchedule.parse("30 10 * * *").last_fire(at) == at


def test_a_schedule_that_never_fires_has_no_last_fire() -> None:
    assert CronSchedule.parse("0 0 30 2 *").last_fire(NOW) is None


def test_names_are_accepted_as_croniter_reads_them() -> None:
    assert CronSchedule.parse("0 3 * * mon").last_fire(NOW) == dt.datetime(2024, 5, 13, 3, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # 10:30 UTC is 06:30 EDT: the last 09:00 New York was the day before, 13:00 UTC (summer time)
        (NOW, dt.datetime(2024, 5, 14, 13, 0)),
        # in winter 09:00 New York is 14:00 UTC
        (dt.datetime(2024, 1, 15, 16, 0, tzinfo=dt.UTC), dt.datetime(2024, 1, 15, 14, 0)),
    ],
)
def test_a_time_zone_evaluates_the_fields_there_and_answers_in_utc(
    now: dt.datetime, expected: dt.datetime
) -> None:
    fired = CronSchedule.parse("0 9 * * *").last_fire(now, time_zone="America/New_York")
    assert fired == expected.replace(tzinfo=dt.UTC)


def test_an_unknown_time_zone_is_a_cron_error() -> None:
    with pytest.raises(CronError, match="unknown time zone"):
        CronSchedule.parse("@daily").last_fire(NOW, time_zone="Mars/Olympus")
