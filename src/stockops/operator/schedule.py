"""A small cron evaluator for `spec.retrain.schedule` (UTC, five fields or an @shortcut).

Only one question is asked of a schedule: "when did it last fire at or before now?". The answer is
compared with the last training's completion time; pure, so it is unit-tested with fixed clocks.
Supported per field: `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, lists `x,y`. Day-of-month
and day-of-week combine like Vixie cron: if both are restricted, either may match.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

SHORTCUTS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
}
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")


class CronError(ValueError):
    """A schedule that cannot be parsed; the message names the field."""


def _parse_field(text: str, index: int) -> frozenset[int]:
    low, high = _BOUNDS[index]
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if base == "*":
                start, end = low, high
            elif "-" in base:
                start, end = (int(x) for x in base.split("-", 1))
            else:
                start = end = int(base)
        except ValueError as exc:
            raise CronError(f"cron {_NAMES[index]} field {text!r} is not a number, range or step") from exc
        if step < 1 or start < low or end > high or start > end:
            raise CronError(f"cron {_NAMES[index]} field {text!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    if index == 4 and 7 in values:  # 7 and 0 both mean Sunday
        values = (values - {7}) | {0}
    return frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        text = SHORTCUTS.get(expression.strip(), expression.strip())
        fields = text.split()
        if len(fields) != 5:
            raise CronError(f"cron schedule {expression!r} needs five fields (minute hour day month weekday)")
        parsed = [_parse_field(f, i) for i, f in enumerate(fields)]
        return cls(*parsed, days_restricted=fields[2] != "*", weekdays_restricted=fields[4] != "*")

    def _day_matches(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays

    def last_fire(self, now: dt.datetime) -> dt.datetime | None:
        """The latest fire time <= now (UTC, minute precision), looking back at most ~4 years."""
        moment = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
        for _ in range(4 * 366 + 2):
            if self._day_matches(moment.date()):
                for hour in sorted((h for h in self.hours if h <= moment.hour), reverse=True):
                    limit = moment.minute if hour == moment.hour else 59
                    minutes = [m for m in self.minutes if m <= limit]
                    if minutes:
                        return moment.replace(hour=hour, minute=max(minutes))
            moment = (moment - dt.timedelta(days=1)).replace(hour=23, minute=59)
        return None
