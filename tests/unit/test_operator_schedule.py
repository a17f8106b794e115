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
