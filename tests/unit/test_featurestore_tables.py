"""The offline tables ingestion writes: layout, contents and the checks that guard them (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockops.data.features import FEATURE_SET_VERSION, MODEL_FEATURES
from stockops.featurestore.layout import StoreLayout, ticker_file_stem, ticker_from_file_stem
from stockops.featurestore.tables import (
    DAILY_FEATURES,
    DAILY_SCHEMA,
    WINDOW_SCHEMA,
    daily_table,
    date_to_timestamp,
    window_table,
)

INGESTED = datetime(2024, 7, 1, 12, 30, tzinfo=UTC)


def features_frame(days: int = 30, start: str = "2024-01-02") -> pd.DataFrame:
    """A frame shaped like compute_features output: close + MODEL_FEATURES, distinct values per cell."""
    index = pd.bdate_range(start, periods=days, name="date")
    values = np.arange(days * len(DAILY_FEATURES), dtype="float64").reshape(days, len(DAILY_FEATURES))
    return pd.DataFrame(values / 7.0, index=index, columns=list(DAILY_FEATURES))


def test_daily_table_holds_every_day_with_utc_midnight_timestamps_and_provenance() -> None:
    frame = features_frame()
    table = daily_table("aapl", frame, data_source="csv:x/AAPL.csv", synthetic=False, ingested_at=INGESTED)

    assert table.schema == DAILY_SCHEMA
    assert table.num_rows == len(frame)
    assert set(table.column("ticker").to_pylist()) == {"AAPL"}
    stamps = table.column("event_timestamp").to_pylist()
    assert stamps[0] == datetime(2024, 1, 2, tzinfo=UTC)
    assert [s.date() for s in stamps] == [d.date() for d in frame.index]
    for name in DAILY_FEATURES:
        np.testing.assert_array_equal(table.column(name).to_numpy(), frame[name].to_numpy())
    assert set(table.column("feature_set_version").to_pylist()) == {FEATURE_SET_VERSION}
    assert set(table.column("data_source").to_pylist()) == {"csv:x/AAPL.csv"}


def test_window_table_is_the_tail_of_model_features_flattened_row_major() -> None:
    frame = features_frame(days=30)
    table = window_table("^gspc", frame, 10, data_source="synthetic", synthetic=True, ingested_at=INGESTED)

    assert table.schema == WINDOW_SCHEMA
    assert table.num_rows == 1
    row = table.to_pylist()[0]
    tail = frame.iloc[-10:]
    assert row["ticker"] == "^GSPC"
    assert row["event_timestamp"] == date_to_timestamp(tail.index[-1]).to_pydatetime()
    assert row["window_columns"] == list(MODEL_FEATURES)
    assert row["window_dates"] == [d.date().isoformat() for d in tail.index]
    restored = np.array(row["window_values"]).reshape(10, len(MODEL_FEATURES))
    np.testing.assert_array_equal(restored, tail[list(MODEL_FEATURES)].to_numpy())
    assert row["last_close"] == tail["close"].iloc[-1]
    assert row["synthetic"] is True


def test_window_table_keeps_what_exists_when_history_is_shorter_than_the_window() -> None:
    table = window_table(
        "AAPL", features_frame(days=5), 60, data_source="s", synthetic=False, ingested_at=INGESTED
    )
    assert len(table.to_pylist()[0]["window_dates"]) == 5


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["volume_z"]), "lacks columns"),
        (
            lambda f: f.assign(rsi_norm=np.where(np.arange(len(f)) == 3, np.nan, f["rsi_norm"])),
            "non-finite rsi_norm",
        ),
        (lambda f: f.iloc[::-1], "ascending"),
        (lambda f: f.tz_localize("UTC"), "tz-naive"),
    ],
)
def test_bad_features_frames_are_refused_with_the_defect_named(mutate, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        daily_table("AAPL", mutate(features_frame()), data_source="s", synthetic=False, ingested_at=INGESTED)
    assert "AAPL" in str(info.value)


def test_non_finite_value_is_reported_with_its_date() -> None:
    frame = features_frame()
    frame.iloc[4, frame.columns.get_loc("log_return")] = np.inf
    with pytest.raises(ValueError, match=f"log_return on {frame.index[4].date()}"):
        window_table("AAPL", frame, 10, data_source="s", synthetic=False, ingested_at=INGESTED)


def test_naive_ingestion_time_is_taken_as_utc() -> None:
    table = daily_table(
        "AAPL", features_frame(3), data_source="s", synthetic=False, ingested_at=datetime(2024, 7, 1, 12)
    )
    assert table.column("created")[0].as_py() == datetime(2024, 7, 1, 12, tzinfo=UTC)


def test_event_timestamp_of_a_trading_day_is_its_utc_midnight() -> None:
    assert date_to_timestamp(date(2024, 6, 28)) == pd.Timestamp("2024-06-28T00:00:00Z")


@pytest.mark.parametrize(("ticker", "stem"), [("AAPL", "AAPL"), ("^GSPC", "%5EGSPC"), ("brk.b", "BRK.B")])
def test_ticker_file_names_are_reversible_and_never_hidden(ticker: str, stem: str) -> None:
    assert ticker_file_stem(ticker) == stem
    assert ticker_from_file_stem(stem) == ticker.upper()
    assert not stem.startswith((".", "_"))


def test_stored_tickers_ignores_temp_files(tmp_path: Path) -> None:
    layout = StoreLayout(tmp_path)
    layout.make_dirs()
    for name in ("AAPL.parquet", "%5EGSPC.parquet", ".MSFT.parquet.123.tmp", "_meta.parquet"):
        (layout.daily_dir / name).write_bytes(b"")
    assert layout.stored_tickers() == ["AAPL", "^GSPC"]
    assert layout.daily_file("^GSPC").name == "%5EGSPC.parquet"
