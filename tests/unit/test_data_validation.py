"""validate_ohlcv and CsvSource on bad input: every error names ticker, source/file and the problem."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockops.data import (
    OHLCV_COLUMNS,
    CsvSource,
    DataValidationError,
    normalize_ticker,
    require_min_rows,
    validate_ohlcv,
)

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"


def good_rows(n: int = 5, start: str = "2020-01-02") -> list[str]:
    dates = pd.bdate_range(start, periods=n)
    rows = []
    for i, day in enumerate(dates):
        close = 100.0 + i
        rows.append(f"{day.date()},{close - 0.5},{close + 1},{close - 1},{close},{close},{1000 + i}")
    return rows


def write_csv(directory: Path, ticker_file: str, rows: list[str], header: str = HEADER) -> Path:
    path = directory / ticker_file
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def fetch_error(tmp_path: Path, rows: list[str], header: str = HEADER) -> tuple[DataValidationError, Path]:
    path = write_csv(tmp_path, "AAPL.csv", rows, header)
    with pytest.raises(DataValidationError) as info:
        CsvSource(tmp_path).fetch("AAPL")
    return info.value, path


def assert_names_where(error: DataValidationError, path: Path) -> None:
    message = str(error)
    assert message.startswith("AAPL (")
    assert str(path.resolve()) in message
    assert error.ticker == "AAPL"
    assert error.file == path.resolve()


def test_valid_csv_becomes_canonical_frame(tmp_path: Path) -> None:
    write_csv(tmp_path, "AAPL.csv", good_rows(5))

    history = CsvSource(tmp_path).fetch("aapl")

    assert history.ticker == "AAPL"
    assert history.synthetic is False
    assert history.source == "csv:AAPL.csv"  # the file's name only: no server-side path leaks
    frame = history.frame
    assert tuple(frame.columns) == OHLCV_COLUMNS
    assert frame.index.name == "date"
    assert frame.index[0] == pd.Timestamp("2020-01-02")
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    assert frame["close"].tolist() == [100.0, 101.0, 102.0, 103.0, 104.0]


def test_duplicate_dates_are_counted_and_first_named(tmp_path: Path) -> None:
    rows = good_rows(4)
    rows = [rows[0], rows[0], rows[0], rows[1], rows[1], rows[2]]

    error, path = fetch_error(tmp_path, rows)

    assert_names_where(error, path)
    assert "3 duplicate date(s), first 2020-01-02" in str(error)


def test_unsorted_dates_name_the_offending_row(tmp_path: Path) -> None:
    rows = good_rows(4)
    rows[1], rows[2] = rows[2], rows[1]

    error, path = fetch_error(tmp_path, rows)

    assert_names_where(error, path)
    assert "not in ascending order: 2020-01-03 (row 3) comes after 2020-01-06" in str(error)


def test_unparsable_date_is_quoted_with_its_row(tmp_path: Path) -> None:
    rows = good_rows(4)
    rows[2] = "yesterday" + rows[2][10:]

    error, path = fetch_error(tmp_path, rows)

    assert_names_where(error, path)
    assert "1 unparsable date(s) (expected YYYY-MM-DD), first 'yesterday' at row 3" in str(error)


def test_missing_values_name_column_count_and_first_date(tmp_path: Path) -> None:
    rows = good_rows(5)
    for i in (1, 3):
        fields = rows[i].split(",")
        fields[4] = ""  # Close
        rows[i] = ",".join(fields)

    error, path = fetch_error(tmp_path, rows)

    assert_names_where(error, path)
    assert "close has 2 missing value(s) (NaN), first on 2020-01-03" in str(error)


def test_text_in_a_number_column_is_reported(tmp_path: Path) -> None:
    rows = good_rows(3)
    fields = rows[2].split(",")
    fields[6] = "n/a-ish"
    rows[2] = ",".join(fields)

    error, path = fetch_error(tmp_path, rows)

    assert_names_where(error, path)
    assert "volume has 1 non-numeric value(s), first 'n/a-ish' on 2020-01-06" in str(error)


def test_non_positive_prices_are_rejected(tmp_path: Path) -> None:
    rows = good_rows(4)
    fields = rows[3].split(",")
    fields[3] = "-1.5"  # Low
    rows[3] = ",".join(fields)

    error, path = fetch_error(tmp_path, rows)

    assert_names_where(error, path)
    assert "low has 1 non-positive value(s), first -1.5 on 2020-01-07" in str(error)


def test_missing_column_lists_what_was_expected_and_found(tmp_path: Path) -> None:
    rows = [",".join(row.split(",")[:6]) for row in good_rows(3)]

    error, path = fetch_error(tmp_path, rows, header="Date,Open,High,Low,Close,Adj Close")

    assert_names_where(error, path)
    assert "missing column(s) volume" in str(error)
    assert "Date,Open,High,Low,Close,Adj Close,Volume" in str(error)


def test_corrupt_file_is_a_validation_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "AAPL.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe garbage")

    with pytest.raises(DataValidationError) as info:
        CsvSource(tmp_path).fetch("AAPL")

    assert_names_where(info.value, path)


def test_empty_file_is_a_validation_error(tmp_path: Path) -> None:
    path = tmp_path / "AAPL.csv"
    path.write_text("")

    with pytest.raises(DataValidationError) as info:
        CsvSource(tmp_path).fetch("AAPL")

    assert_names_where(info.value, path)
    assert "not a readable CSV file" in str(info.value)


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    error, path = fetch_error(tmp_path, [])

    assert_names_where(error, path)
    assert error.problem == "no rows"


def test_too_few_rows_says_how_many_are_needed_and_why(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "AAPL.csv", good_rows(30))
    raw = pd.read_csv(path)

    with pytest.raises(DataValidationError) as info:
        validate_ohlcv(
            raw,
            ticker="AAPL",
            source="csv:somewhere",
            file=path,
            min_rows=120,
            min_rows_reason="context 60 + horizon 5 + splits",
        )

    message = str(info.value)
    assert "AAPL (csv:somewhere, file " in message
    assert (
        "only 30 rows (2020-01-02 to 2020-02-12); needs at least 120 (context 60 + horizon 5 + splits)"
        in message
    )


def test_require_min_rows_passes_when_enough() -> None:
    frame = pd.DataFrame({"close": [1.0, 2.0]}, index=pd.DatetimeIndex(["2020-01-02", "2020-01-03"]))
    require_min_rows(frame, ticker="AAPL", source="x", min_rows=2)
    with pytest.raises(DataValidationError, match="only 2 rows"):
        require_min_rows(frame, ticker="AAPL", source="x", min_rows=3)


def test_isolated_zero_volume_is_imputed_from_the_previous_day(caplog: pytest.LogCaptureFixture) -> None:
    frame = pd.DataFrame(
        {
            "Date": ["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"],
            "Open": [10.0, 10.0, 10.0, 10.0],
            "High": [11.0, 11.0, 11.0, 11.0],
            "Low": [9.0, 9.0, 9.0, 9.0],
            "Close": [10.5, 10.5, 10.5, 10.5],
            "Volume": [500, 700, 0, 900],
        }
    )

    with caplog.at_level(logging.INFO, logger="stockops.data.validation"):
        result = validate_ohlcv(frame, ticker="AAPL", source="test")

    assert result["volume"].tolist() == [500.0, 700.0, 700.0, 900.0]
    assert "imputed 1 isolated zero-volume day(s)" in caplog.text


def test_long_zero_volume_runs_are_left_as_zero() -> None:
    days = pd.bdate_range("1940-01-02", periods=10)
    frame = pd.DataFrame(
        {"open": 10.0, "high": 10.0, "low": 10.0, "close": 10.0, "volume": [0] * 6 + [5, 6, 0, 7]},
        index=days,
    )

    result = validate_ohlcv(frame, ticker="^GSPC", source="test")

    # The leading 6-day run is "no volume recorded"; the single zero after trading resumed is a glitch.
    assert result["volume"].tolist() == [0.0] * 6 + [5.0, 6.0, 6.0, 7.0]


def test_lowercase_yfinance_columns_are_accepted() -> None:
    frame = pd.DataFrame(
        {
            "date": ["2024-03-01", "2024-03-04"],
            "open": [1.0, 2.0],
            "high": [1.5, 2.5],
            "low": [0.5, 1.5],
            "close": [1.2, 2.2],
            "volume": [10, 20],
        }
    )

    result = validate_ohlcv(frame, ticker="AAPL", source="yfinance")

    assert list(result.index) == [pd.Timestamp("2024-03-01"), pd.Timestamp("2024-03-04")]
    assert result["close"].tolist() == [1.2, 2.2]


def test_yfinance_frame_with_tz_aware_date_index_keeps_the_trading_day() -> None:
    index = pd.DatetimeIndex(["2024-03-01", "2024-03-04"], name="Date").tz_localize("America/New_York")
    frame = pd.DataFrame(
        {"Close": [1.2, 2.2], "High": [1.5, 2.5], "Low": [0.5, 1.5], "Open": [1.0, 2.0], "Volume": [10, 20]},
        index=index,
    )

    result = validate_ohlcv(frame, ticker="AAPL", source="yfinance")

    assert result.index.tz is None
    assert list(result.index) == [pd.Timestamp("2024-03-01"), pd.Timestamp("2024-03-04")]
    assert tuple(result.columns) == OHLCV_COLUMNS


def test_separate_adj_close_is_applied_to_all_prices() -> None:
    frame = pd.DataFrame(
        {
            "Date": ["2020-01-02", "2020-01-03"],
            "Open": [100.0, 200.0],
            "High": [110.0, 220.0],
            "Low": [90.0, 180.0],
            "Close": [100.0, 200.0],
            "Adj Close": [50.0, 200.0],
            "Volume": [1, 2],
        }
    )

    result = validate_ohlcv(frame, ticker="AAPL", source="test")

    assert result.loc["2020-01-02", ["open", "high", "low", "close"]].tolist() == [50.0, 55.0, 45.0, 50.0]
    assert result.loc["2020-01-03", "close"] == 200.0
    assert result["volume"].tolist() == [1.0, 2.0]


def test_error_without_file_names_ticker_source_and_problem() -> None:
    frame = pd.DataFrame({"Date": ["2020-01-02"], "Open": [1.0], "High": [1.0], "Low": [1.0], "Close": [0.0]})
    frame["Volume"] = 1

    with pytest.raises(DataValidationError) as info:
        validate_ohlcv(frame, ticker="MSFT", source="yfinance")

    assert (
        str(info.value)
        == "MSFT (yfinance): close has 1 non-positive value(s), first 0.0 on 2020-01-02; prices must be > 0"
    )
    assert info.value.file is None


def test_high_below_low_is_reported_as_swapped_columns(tmp_path: Path) -> None:
    rows = good_rows(3)
    fields = rows[1].split(",")
    fields[2], fields[3] = fields[3], fields[2]
    rows[1] = ",".join(fields)

    error, path = fetch_error(tmp_path, rows)

    assert_names_where(error, path)
    assert "high below low on 1 row(s), first 2020-01-03 (high 100.0 < low 102.0)" in str(error)


def test_errors_survive_pickling_with_file_and_hint(tmp_path: Path) -> None:
    error = DataValidationError("AAPL", "csv:x", "bad", file=tmp_path / "AAPL.csv", hint="fix it")

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is DataValidationError
    assert (copy.ticker, copy.source, copy.problem, copy.file, copy.hint) == (
        "AAPL",
        "csv:x",
        "bad",
        tmp_path / "AAPL.csv",
        "fix it",
    )
    assert str(copy) == str(error) == f"AAPL (csv:x, file {tmp_path / 'AAPL.csv'}): bad. fix it"


@pytest.mark.parametrize("bad", ["", "../etc/passwd", "AA PL", "A" * 21, "a/b"])
def test_invalid_tickers_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid ticker"):
        normalize_ticker(bad)


@pytest.mark.parametrize(("raw", "expected"), [("aapl", "AAPL"), (" ^gspc ", "^GSPC"), ("brk.b", "BRK.B")])
def test_tickers_are_normalised(raw: str, expected: str) -> None:
    assert normalize_ticker(raw) == expected
