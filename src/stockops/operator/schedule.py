"""`spec.retrain.schedule` (five cron fields or an @shortcut), evaluated by `croniter`.

Only one question is asked of a schedule: "when did it last fire at or before now?". The answer is
compared with the last training's completion time; pure, so it is unit-tested with fixed clocks.
croniter is the library users test their cron strings against, so what a user checked is what runs;
day-of-month and day-of-week combine like Vixie cron (either may match when both are restricted).

Two rules are ours on top of croniter: exactly five fields (croniter would also take seconds and years,
which the CRD does not document), and no reversed ranges (``5-1``: croniter wraps them around, Vixie
cron rejects them; a retrain schedule that runs at surprising times is worse than an error).

`CronSchedule.last_fire` answers in UTC by default; ``time_zone`` (an IANA name such as
``America/New_York``) evaluates the fields in that zone, daylight-saving shifts included, and still
returns UTC (for a future ``retrain.timeZone``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SHORTCUTS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
}
_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
_RANGE = re.compile(r"^(\d+)-(\d+)$")
# Every satisfiable five-field schedule fires within 8 years (29 February can skip a leap year).
MAX_YEARS_BETWEEN_FIRES = 8


class CronError(ValueError):
    """A schedule that cannot be parsed; the message names the field."""


def _check_ranges(field: str, index: int) -> None:
    for part in field.split(","):
        found = _RANGE.match(part.partition("/")[0])
        if found and int(found.group(1)) > int(found.group(2)):
            raise CronError(f"cron {_NAMES[index]} field {field!r} is a reversed range (write low-high)")


@dataclass(frozen=True)
class CronSchedule:
    expression: str  # the five fields, shortcuts expanded

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        from croniter import CroniterError, croniter

        text = SHORTCUTS.get(expression.strip(), expression.strip())
        fields = text.split()
        if len(fields) != 5:
            raise CronError(f"cron schedule {expression!r} needs five fields (minute hour day month weekday)")
        for index, field in enumerate(fields):
            _check_ranges(field, index)
        try:
            croniter(" ".join(fields))
        except (CroniterError, ValueError) as exc:
            raise CronError(f"cron schedule {expression!r} is not valid: {exc}") from exc
        return cls(" ".join(fields))

    def last_fire(self, now: dt.datetime, *, time_zone: str | None = None) -> dt.datetime | None:
        """The latest fire time <= now (minute precision, UTC), None when the schedule never fires
        (``0 0 30 2 *``). ``time_zone``: evaluate the fields in that IANA zone instead of UTC."""
        from croniter import CroniterBadDateError, croniter

        try:
            zone = ZoneInfo(time_zone) if time_zone else dt.UTC
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CronError(f"unknown time zone {time_zone!r}") from exc
        # croniter's get_prev is strictly before its start: start one second after now (seconds dropped)
        start = now.astimezone(zone).replace(microsecond=0) + dt.timedelta(seconds=1)
        iterator = croniter(self.expression, start, max_years_between_matches=MAX_YEARS_BETWEEN_FIRES)
        try:
            fired = iterator.get_prev(dt.datetime)
        except CroniterBadDateError:
            return None
        return fired.astimezone(dt.UTC).replace(second=0, microsecond=0)
