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
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import lru_cache
from typing import Any

import pandas as pd
from pandas.tseries.offsets import BDay

log = logging.getLogger(__name__)

EXCHANGE = "XNYS"
CALENDAR_START = "1990-01-02"


@lru_cache(maxsize=1)
def nyse_calendar() -> Any:
    import exchange_calendars as xcals

    return xcals.get_calendar(EXCHANGE, start=CALENDAR_START)


def trading_sessions_after(as_of: dt.date, days: int) -> list[dt.date]:
    """The next ``days`` NYSE sessions strictly after ``as_of``."""
    if days < 1:
        return []
    calendar = nyse_calendar()
    start = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    stop = pd.Timestamp(as_of) + pd.Timedelta(days=2 * days + 14)
    first, last = calendar.first_session, calendar.last_session
    if start >= first and stop <= last:
        sessions = calendar.sessions_in_range(start, stop)
        if len(sessions) >= days:
            return [s.date() for s in sessions[:days]]
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
