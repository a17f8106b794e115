"""The NYSE trading calendar (``exchange-calendars``, exchange code XNYS).

Two uses, both about not pretending a day is what it is not:

* forecast dates are the next trading **sessions** (weekends and exchange holidays skipped), so the k-th
  forecast point is dated on the k-th session ahead, the day the model's k-step target would close;
* a source queried during market hours (Yahoo returns today's bar as it forms) gives an unfinished
  session whose "close" is the last trade so far; :func:`drop_unfinished_session` removes it, so
  features, windows and forecasts only ever use complete sessions.

``exchange_calendars`` is imported on first use (it is not needed by the operator or to import the
package); the calendar is built once per process. Outside the calendar's range (before 1990 or beyond
the year ahead it knows) plain business days are used.

Forecast dates need only the list of sessions, and building the calendar costs about a second of a
one-shot `stockops predict` (import plus 35 years of holiday rules). The list is therefore also kept in
``$STOCKOPS_HOME/cache/calendar/`` under the exchange-calendars version that computed it (its rules are
fixed per release); a date past the stored list's end rebuilds it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from functools import lru_cache
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.offsets import BDay

log = logging.getLogger(__name__)

EXCHANGE = "XNYS"
CALENDAR_START = "1990-01-02"


@lru_cache(maxsize=1)
def nyse_calendar() -> Any:
    import exchange_calendars as xcals

    return xcals.get_calendar(EXCHANGE, start=CALENDAR_START)


def _sessions_file() -> Path:
    from stockops.config import load_settings

    release = package_version("exchange-calendars")
    return load_settings().cache_dir / "calendar" / f"{EXCHANGE}-{release}.json"


def _sessions_from_calendar() -> np.ndarray:
    calendar = nyse_calendar()
    return np.asarray(calendar.sessions.values.astype("datetime64[D]"))


@lru_cache(maxsize=2)
def _stored_sessions(fresh: bool = False) -> tuple[dt.date, np.ndarray]:
    """(the day it was computed, every session from 1990 to a year after that day)."""
    path = _sessions_file()
    if not fresh:
        try:
            stored = json.loads(path.read_text())
            return dt.date.fromisoformat(stored["built"]), np.asarray(
                stored["sessions"], dtype="datetime64[D]"
            )
        except (OSError, ValueError, KeyError, TypeError):
            pass
    built, sessions = dt.date.today(), _sessions_from_calendar()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"built": built.isoformat(), "sessions": [str(d) for d in sessions]}))
    os.replace(tmp, path)  # never a half-written list
    return built, sessions


def sessions_after(sessions: np.ndarray, as_of: dt.date, days: int) -> list[dt.date] | None:
    """The next ``days`` of ``sessions`` (sorted datetime64[D]) after ``as_of``; None if out of range."""
    day = np.datetime64(as_of, "D")
    if len(sessions) == 0 or day < sessions[0]:
        return None
    start = int(np.searchsorted(sessions, day, side="right"))
    chosen = sessions[start : start + days]
    if len(chosen) < days:
        return None
    return [d.astype(dt.date) for d in chosen]


def trading_sessions_after(as_of: dt.date, days: int) -> list[dt.date]:
    """The next ``days`` NYSE sessions strictly after ``as_of``."""
    if days < 1:
        return []
    built, sessions = _stored_sessions()
    found = sessions_after(sessions, as_of, days)
    if found is None and built < dt.date.today():  # past an old list's end: a newer one reaches further
        built, sessions = _stored_sessions(fresh=True)
        found = sessions_after(sessions, as_of, days)
    if found is not None:
        return found
    first, last = (str(sessions[0]), str(sessions[-1])) if len(sessions) else ("-", "-")
    log.info("%s is outside the %s calendar (%s..%s); using business days", as_of, EXCHANGE, first, last)
    base = pd.Timestamp(as_of)
    return [(base + BDay(k)).date() for k in range(1, days + 1)]


def session_is_unfinished(day: dt.date, now: pd.Timestamp) -> bool:
    """True when ``day`` is a session that has not closed yet at ``now`` (tz-aware)."""
    calendar = nyse_calendar()
    stamp = pd.Timestamp(day)
    if not (calendar.first_session <= stamp <= calendar.last_session) or not calendar.is_session(stamp):
        return False
    return bool(now < calendar.session_close(stamp))


def drop_unfinished_session(frame: pd.DataFrame, now: pd.Timestamp | None = None) -> pd.DataFrame:
    """``frame`` (date-indexed daily bars) without a last row for a session still trading at ``now``
    (default: the current time)."""
    if frame.empty:
        return frame
    now = pd.Timestamp.now(tz="UTC") if now is None else now
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    last = frame.index[-1].date()
    if session_is_unfinished(last, now):
        log.info("dropping the unfinished %s session of %s (market still open)", last, EXCHANGE)
        return frame.iloc[:-1]
    return frame
