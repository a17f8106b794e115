"""Turn a raw OHLCV table (CSV, yfinance frame) into the one canonical, trusted layout, or say why not.

Every source funnels through `validate_ohlcv`, so the model never sees two dialects of the same data
and every defect is reported the same way: ticker, source, file, the problem, and where it first
occurs. The function is pure (frame in, frame out); reading files and networks happens in `sources`.

Real Yahoo quirks are repaired rather than rejected, because rejecting them would reject most real
files: an isolated zero volume (a Yahoo glitch, e.g. ^GSPC on 2023-05-24) is replaced by the previous
day's volume, while long zero runs (^GSPC before 1950 had no volume data at all) are kept as zero and
the volume feature degrades to 0 there. A separate `Adj Close` that differs from `Close` (an
unadjusted download) is applied to open/high/low/close, as yfinance's `auto_adjust=True` does.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from stockops.data.errors import DataValidationError
from stockops.data.history import OHLCV_COLUMNS

logger = logging.getLogger(__name__)

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
EXPECTED_HEADER = "Date,Open,High,Low,Close,Adj Close,Volume (Adj Close optional)"

# Zero-volume runs at most this long, preceded by a traded day, are data glitches and get imputed;
# longer runs mean "no volume recorded" (an index's early history) and are left as zero.
MAX_IMPUTED_ZERO_VOLUME_RUN = 2

_TICKER_PATTERN = re.compile(r"^\^?[A-Z0-9][A-Z0-9.\-=]{0,19}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")

_Fail = Callable[[str], DataValidationError]


def normalize_ticker(ticker: str) -> str:
    """Upper-case and check a Yahoo-style symbol (`^GSPC`, `BRK.B`, `BTC-USD`, `EURUSD=X`, `7203.T`).

    Rejecting anything else up front keeps tickers safe to use in file names and model names.
    """
    candidate = ticker.strip().upper() if isinstance(ticker, str) else ""
    if not _TICKER_PATTERN.fullmatch(candidate):
        raise ValueError(
            f"invalid ticker {ticker!r}: expected a Yahoo symbol such as AAPL, ^GSPC, BRK.B or BTC-USD "
            "(letters, digits, '.', '-', '=', optional leading '^', at most 20 characters)"
        )
    return candidate


def validate_ohlcv(
    frame: pd.DataFrame,
    *,
    ticker: str,
    source: str,
    file: Path | str | None = None,
    min_rows: int | None = None,
    min_rows_reason: str = "",
) -> pd.DataFrame:
    """Return `frame` as canonical OHLCV or raise `DataValidationError` naming the first defect.

    Accepts the Yahoo CSV layout (`Date,Open,High,Low,Close,Adj Close,Volume`, any letter case),
    yfinance's lower-case export (`date,open,...`) and yfinance frames with the dates in the index.
    Output: DatetimeIndex "date" (tz-naive, ascending, unique), float64 open, high, low, close, volume.
    `min_rows`/`min_rows_reason` let the caller state how much history it needs and why, so the error
    can say e.g. "needs at least 180 rows (context 60 + horizon 5 + splits)".
    """

    def fail(problem: str) -> DataValidationError:
        return DataValidationError(ticker, source, problem, file=file)

    columns = _canonical_columns(frame)
    table = frame.copy()
    table.columns = columns
    if "date" not in columns:
        if isinstance(frame.index, pd.DatetimeIndex):
            table = table.reset_index(names="date")
        else:
            raise fail(
                f"missing column 'date'; expected header {EXPECTED_HEADER}, found {list(frame.columns)}"
            )
    missing = [name for name in OHLCV_COLUMNS if name not in table.columns]
    if missing:
        raise fail(
            f"missing column(s) {', '.join(missing)}; expected header {EXPECTED_HEADER}, "
            f"found {list(frame.columns)}"
        )
    if len(table.columns) != len(set(table.columns)):
        raise fail(f"duplicate column names after normalising case: {list(frame.columns)}")
    if table.empty:
        raise fail("no rows")

    dates = _parse_dates(table["date"], fail)
    values = {name: _parse_numbers(table[name], name, dates, fail) for name in OHLCV_COLUMNS}
    adjusted_close = (
        _parse_numbers(table["adj_close"], "adj close", dates, fail) if "adj_close" in table.columns else None
    )
    _check_order(dates, fail)

    for name in (*PRICE_COLUMNS, "adj close"):
        column = adjusted_close if name == "adj close" else values[name]
        if column is None:
            continue
        bad = column <= 0
        if bad.any():
            first = int(np.argmax(bad))
            raise fail(
                f"{name} has {int(bad.sum())} non-positive value(s), first {float(column[first])!r} on "
                f"{_day(dates[first])}; prices must be > 0"
            )
    negative = values["volume"] < 0
    if negative.any():
        first = int(np.argmax(negative))
        raise fail(f"volume has {int(negative.sum())} negative value(s), first on {_day(dates[first])}")
    inverted = values["high"] < values["low"] * (1 - 1e-6)
    if inverted.any():
        first = int(np.argmax(inverted))
        raise fail(
            f"high below low on {int(inverted.sum())} row(s), first {_day(dates[first])} "
            f"(high {float(values['high'][first])!r} < low {float(values['low'][first])!r}); "
            "are the columns swapped?"
        )

    if adjusted_close is not None and not np.allclose(adjusted_close, values["close"], rtol=1e-9, atol=0.0):
        # An unadjusted download: scale OHLC by the adjustment factor, exactly as auto_adjust=True does.
        ratio = adjusted_close / values["close"]
        for name in PRICE_COLUMNS:
            values[name] = values[name] * ratio
        logger.info("%s (%s): applied Adj Close adjustment factors to open/high/low/close", ticker, source)

    values["volume"] = _impute_isolated_zero_volume(values["volume"], dates, ticker=ticker, source=source)

    result = pd.DataFrame(values, index=pd.DatetimeIndex(dates, name="date"), columns=list(OHLCV_COLUMNS))
    if min_rows is not None:
        require_min_rows(
            result, ticker=ticker, source=source, min_rows=min_rows, reason=min_rows_reason, file=file
        )
    return result


def require_min_rows(
    frame: pd.DataFrame,
    *,
    ticker: str,
    source: str,
    min_rows: int,
    reason: str = "",
    file: Path | str | None = None,
) -> None:
    """Raise `DataValidationError` if `frame` is shorter than `min_rows`, saying how many and why."""
    if len(frame) >= min_rows:
        return
    span = ""
    if len(frame) and isinstance(frame.index, pd.DatetimeIndex):
        span = f" ({_day(frame.index[0])} to {_day(frame.index[-1])})"
    why = f" ({reason})" if reason else ""
    raise DataValidationError(
        ticker,
        source,
        f"only {len(frame)} rows{span}; needs at least {min_rows}{why}. Use an earlier start date or "
        "a ticker with longer history",
        file=file,
    )


def _canonical_columns(frame: pd.DataFrame) -> list[str]:
    """Lower-case, underscore-separated names; flattens yfinance's (Price, Ticker) column MultiIndex."""
    names: list[str] = []
    for column in frame.columns:
        if isinstance(column, tuple):
            # yfinance multi-level columns: pick the level that holds the field name.
            known = [
                str(part) for part in column if str(part).strip().lower() in {*OHLCV_COLUMNS, "adj close"}
            ]
            column = known[0] if known else column[0]
        names.append(re.sub(r"[\s_]+", "_", str(column).strip().lower()))
    return names


def _parse_dates(raw: pd.Series, fail: _Fail) -> np.ndarray:
    """Calendar dates (datetime64[ns], midnight). Timezones are dropped keeping the local trading day."""
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        parsed = pd.DatetimeIndex(raw)
        if parsed.tz is not None:
            parsed = parsed.tz_localize(None)
        bad = parsed.isna()
        if bad.any():
            raise fail(f"{int(bad.sum())} missing date(s), first at row {int(np.argmax(bad)) + 1}")
        return parsed.normalize().to_numpy(dtype="datetime64[ns]")
    text = raw.astype("string").str.strip()
    # The first 10 characters of an ISO timestamp are the exchange-local date, whatever the offset.
    iso = text.str.match(_ISO_DATE).fillna(False).to_numpy(dtype=bool)
    parsed = pd.to_datetime(text.str.slice(0, 10).where(iso), format="%Y-%m-%d", errors="coerce")
    bad = np.asarray(parsed.isna())
    if bad.any():
        first = int(np.argmax(bad))
        raise fail(
            f"{int(bad.sum())} unparsable date(s) (expected YYYY-MM-DD), first {raw.iloc[first]!r} "
            f"at row {first + 1}"
        )
    return parsed.to_numpy(dtype="datetime64[ns]")


def _parse_numbers(raw: pd.Series, name: str, dates: np.ndarray, fail: _Fail) -> np.ndarray:
    blank = raw.isna().to_numpy()
    numbers = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64")
    not_finite = ~np.isfinite(numbers)
    text = not_finite & ~blank
    if blank.any():
        first = int(np.argmax(blank))
        raise fail(f"{name} has {int(blank.sum())} missing value(s) (NaN), first on {_day(dates[first])}")
    if text.any():
        first = int(np.argmax(text))
        raise fail(
            f"{name} has {int(text.sum())} non-numeric value(s), first {raw.iloc[first]!r} "
            f"on {_day(dates[first])}"
        )
    return numbers


def _check_order(dates: np.ndarray, fail: _Fail) -> None:
    duplicated = pd.Index(dates).duplicated(keep="first")
    if duplicated.any():
        first = int(np.argmax(duplicated))
        raise fail(f"{int(duplicated.sum())} duplicate date(s), first {_day(dates[first])}")
    backwards = np.flatnonzero(dates[1:] < dates[:-1])
    if backwards.size:
        row = int(backwards[0]) + 1
        raise fail(
            f"dates are not in ascending order: {_day(dates[row])} (row {row + 1}) comes after "
            f"{_day(dates[row - 1])}; sort the file by date"
        )


def _impute_isolated_zero_volume(
    volume: np.ndarray, dates: np.ndarray, *, ticker: str, source: str
) -> np.ndarray:
    zero = volume == 0
    if not zero.any():
        return volume
    run_id = np.cumsum(np.r_[True, zero[1:] != zero[:-1]])
    run_length = np.bincount(run_id)[run_id]
    starts_at_top = run_id == run_id[0]
    glitch = zero & (run_length <= MAX_IMPUTED_ZERO_VOLUME_RUN) & ~starts_at_top
    if not glitch.any():
        return volume
    repaired = pd.Series(np.where(glitch, np.nan, volume)).ffill().to_numpy(dtype="float64")
    first = int(np.argmax(glitch))
    logger.info(
        "%s (%s): imputed %d isolated zero-volume day(s) with the previous day's volume, first %s",
        ticker,
        source,
        int(glitch.sum()),
        _day(dates[first]),
    )
    return repaired


def _day(value: object) -> str:
    return str(pd.Timestamp(value).date())
