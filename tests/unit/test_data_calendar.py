"""NYSE calendar: forecast dates are sessions; a bar for a session still trading is dropped."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockops.data.calendar import drop_unfinished_session, trading_sessions_after
from stockops.model.forecasting import trading_days_after

NEW_YORK = "America/New_York"


def test_sessions_skip_weekends_and_exchange_holidays() -> None:
    assert trading_sessions_after(date(2024, 12, 24), 3) == [
        date(2024, 12, 26),
        date(2024, 12, 27),
        date(2024, 12, 30),
    ]
    assert trading_sessions_after(date(2024, 3, 28), 1) == [date(2024, 4, 1)]  # Good Friday
    assert trading_days_after(date(2024, 7, 3), 2) == [date(2024, 7, 5), date(2024, 7, 8)]  # 4 July


def _bars(last: str) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.bdate_range(end=last, periods=3), name="date")
    return pd.DataFrame({"close": np.arange(3.0) + 1}, index=index)


def test_todays_bar_is_dropped_while_the_market_is_open_and_kept_after_the_close() -> None:
    bars = _bars("2024-03-08")
    during = pd.Timestamp("2024-03-08 15:00", tz=NEW_YORK)
    after = pd.Timestamp("2024-03-08 16:30", tz=NEW_YORK)

    assert drop_unfinished_session(bars, during).index[-1] == pd.Timestamp("2024-03-07")
    assert drop_unfinished_session(bars, after).equals(bars)
    assert drop_unfinished_session(bars, pd.Timestamp("2024-03-11 10:00", tz=NEW_YORK)).equals(bars)


def test_an_early_close_counts_as_finished_at_one_pm() -> None:
    bars = _bars("2024-11-29")  # day after Thanksgiving: the NYSE closes at 13:00
    assert drop_unfinished_session(bars, pd.Timestamp("2024-11-29 13:30", tz=NEW_YORK)).equals(bars)
    assert len(drop_unfinished_session(bars, pd.Timestamp("2024-11-29 12:30", tz=NEW_YORK))) == 2


def test_a_child_of_a_synthetic_parent_is_marked_synthetic() -> None:
    from stockops.pipeline import inherited_provenance

    assert inherited_provenance(False, None, parent_synthetic=False, parent="stockops-gspc/1") == (
        False,
        None,
    )
    synthetic, note = inherited_provenance(
        False, "data as of 2024-03-08", parent_synthetic=True, parent="stockops-gspc/1"
    )
    assert synthetic and note == "data as of 2024-03-08; parent stockops-gspc/1 was trained on synthetic data"


def test_sessions_after_is_none_outside_the_list() -> None:
    from stockops.data.calendar import sessions_after

    sessions = np.array(["2024-01-02", "2024-01-03", "2024-01-05"], dtype="datetime64[D]")
    assert sessions_after(sessions, date(2024, 1, 2), 2) == [date(2024, 1, 3), date(2024, 1, 5)]
    assert sessions_after(sessions, date(2024, 1, 3), 2) is None  # the list ends too soon
    assert sessions_after(sessions, date(2023, 12, 29), 1) is None  # before the list starts


def test_the_session_list_is_stored_once_and_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from stockops.data import calendar

    monkeypatch.setenv("STOCKOPS_HOME", str(tmp_path))
    calendar._stored_sessions.cache_clear()
    try:
        assert trading_sessions_after(date(2024, 12, 24), 1) == [date(2024, 12, 26)]
        (stored,) = (tmp_path / "cache" / "calendar").glob("XNYS-*.json")
        content = json.loads(stored.read_text())
        assert content["built"] == date.today().isoformat() and "2024-12-26" in content["sessions"]
        assert "2024-12-25" not in content["sessions"]  # Christmas
        # A later process reads the file instead of building the calendar: prove it by editing the list.
        content["sessions"] = ["2024-12-24", "2024-12-31"]
        stored.write_text(json.dumps(content))
        calendar._stored_sessions.cache_clear()
        assert trading_sessions_after(date(2024, 12, 24), 1) == [date(2024, 12, 31)]
    finally:
        calendar._stored_sessions.cache_clear()
