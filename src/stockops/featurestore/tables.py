"""The offline tables the feature views read, and the pure conversions into them.

Two tables per ticker, both written by ingestion from one `compute_features` frame:

- daily: one row per trading day, `close` + MODEL_FEATURES, keyed by (ticker, event_timestamp). The
  trainer reads it back through Feast's point-in-time join.
- window: one row per ticker, the last `window_days` rows of MODEL_FEATURES flattened row-major, with
  their column names and dates. Feast materializes it to the online store for the predictor.

Because the window is cut from the very rows written to the daily table, training and serving cannot
disagree on what a feature value is. `event_timestamp` is the trading date at 00:00 UTC: the features
of day D (known after D's close) are "as of D" in both paths.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from stockops.data.features import FEATURE_SET_VERSION, MODEL_FEATURES
from stockops.data.validation import normalize_ticker

ENTITY = "ticker"
EVENT_TIMESTAMP = "event_timestamp"
CREATED = "created"
CLOSE = "close"
FEATURE_SET_VERSION_COLUMN = "feature_set_version"
DATA_SOURCE = "data_source"
SYNTHETIC = "synthetic"

# Columns the daily feature view serves: the frame `compute_features` returns, reduced to what the
# model and the target need (close for the target and the price forecast, MODEL_FEATURES as inputs).
DAILY_FEATURES: tuple[str, ...] = (CLOSE, *MODEL_FEATURES)

WINDOW_VALUES = "window_values"
WINDOW_COLUMNS = "window_columns"
WINDOW_DATES = "window_dates"
LAST_CLOSE = "last_close"
WINDOW_FEATURES: tuple[str, ...] = (
    WINDOW_VALUES,
    WINDOW_COLUMNS,
    WINDOW_DATES,
    LAST_CLOSE,
    FEATURE_SET_VERSION_COLUMN,
    DATA_SOURCE,
    SYNTHETIC,
)

_TIMESTAMP = pa.timestamp("us", tz="UTC")

DAILY_SCHEMA = pa.schema(
    [
        pa.field(ENTITY, pa.string(), nullable=False),
        pa.field(EVENT_TIMESTAMP, _TIMESTAMP, nullable=False),
        pa.field(CREATED, _TIMESTAMP, nullable=False),
        *(pa.field(name, pa.float64(), nullable=False) for name in DAILY_FEATURES),
        pa.field(FEATURE_SET_VERSION_COLUMN, pa.string(), nullable=False),
        pa.field(DATA_SOURCE, pa.string(), nullable=False),
        pa.field(SYNTHETIC, pa.bool_(), nullable=False),
    ]
)

WINDOW_SCHEMA = pa.schema(
    [
        pa.field(ENTITY, pa.string(), nullable=False),
        pa.field(EVENT_TIMESTAMP, _TIMESTAMP, nullable=False),
        pa.field(CREATED, _TIMESTAMP, nullable=False),
        pa.field(WINDOW_VALUES, pa.list_(pa.float64()), nullable=False),
        pa.field(WINDOW_COLUMNS, pa.list_(pa.string()), nullable=False),
        pa.field(WINDOW_DATES, pa.list_(pa.string()), nullable=False),
        pa.field(LAST_CLOSE, pa.float64(), nullable=False),
        pa.field(FEATURE_SET_VERSION_COLUMN, pa.string(), nullable=False),
        pa.field(DATA_SOURCE, pa.string(), nullable=False),
        pa.field(SYNTHETIC, pa.bool_(), nullable=False),
    ]
)


def date_to_timestamp(day: date | pd.Timestamp) -> pd.Timestamp:
    """A trading date as the event timestamp both paths use: 00:00 UTC of that date."""
    return pd.Timestamp(pd.Timestamp(day).date()).tz_localize("UTC")


def utc_timestamp(moment: datetime) -> pd.Timestamp:
    """`moment` in UTC; a naive datetime is taken to be UTC already."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")


def check_features_frame(ticker: str, features: pd.DataFrame) -> pd.DataFrame:
    """`close` + MODEL_FEATURES of a `compute_features` frame, after checking what the store relies on.

    Raises ValueError naming the ticker and the defect; a frame that passes has a tz-naive ascending
    unique DatetimeIndex and finite float64 values (warm-up rows already dropped by compute_features).
    """
    missing = [name for name in DAILY_FEATURES if name not in features.columns]
    if missing:
        raise ValueError(f"{ticker}: features frame lacks columns {missing}")
    index = features.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is not None:
        raise ValueError(f"{ticker}: features frame needs a tz-naive DatetimeIndex")
    if not (index.is_monotonic_increasing and index.is_unique):
        raise ValueError(f"{ticker}: features frame dates must be ascending and unique")
    selected = features.loc[:, list(DAILY_FEATURES)].astype("float64")
    bad = ~np.isfinite(selected.to_numpy())
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{ticker}: non-finite {DAILY_FEATURES[col]} on {index[row].date()} in the features frame"
        )
    return selected


def daily_table(
    ticker: str,
    features: pd.DataFrame,
    *,
    data_source: str,
    synthetic: bool,
    ingested_at: datetime,
) -> pa.Table:
    """The daily rows of one ticker in DAILY_SCHEMA (the whole file that replaces the ticker's rows)."""
    ticker = normalize_ticker(ticker)
    selected = check_features_frame(ticker, features)
    n = len(selected)
    columns: dict[str, object] = {
        ENTITY: [ticker] * n,
        EVENT_TIMESTAMP: selected.index.tz_localize("UTC").normalize(),
        CREATED: [utc_timestamp(ingested_at)] * n,
        **{name: selected[name].to_numpy() for name in DAILY_FEATURES},
        FEATURE_SET_VERSION_COLUMN: [FEATURE_SET_VERSION] * n,
        DATA_SOURCE: [data_source] * n,
        SYNTHETIC: [synthetic] * n,
    }
    return pa.Table.from_pydict(columns, schema=DAILY_SCHEMA)


def window_table(
    ticker: str,
    features: pd.DataFrame,
    window_days: int,
    *,
    data_source: str,
    synthetic: bool,
    ingested_at: datetime,
) -> pa.Table:
    """One row: the last `window_days` days of MODEL_FEATURES (fewer if the history is shorter)."""
    if window_days < 1:
        raise ValueError(f"window_days must be at least 1, got {window_days}")
    ticker = normalize_ticker(ticker)
    selected = check_features_frame(ticker, features)
    if selected.empty:
        raise ValueError(f"{ticker}: features frame is empty, there is no window to store")
    tail = selected.iloc[-window_days:]
    values = tail.loc[:, list(MODEL_FEATURES)].to_numpy(dtype="float64")
    row: dict[str, list[object]] = {
        ENTITY: [ticker],
        EVENT_TIMESTAMP: [date_to_timestamp(tail.index[-1])],
        CREATED: [utc_timestamp(ingested_at)],
        WINDOW_VALUES: [values.reshape(-1).tolist()],
        WINDOW_COLUMNS: [list(MODEL_FEATURES)],
        WINDOW_DATES: [[d.date().isoformat() for d in tail.index]],
        LAST_CLOSE: [float(tail[CLOSE].iloc[-1])],
        FEATURE_SET_VERSION_COLUMN: [FEATURE_SET_VERSION],
        DATA_SOURCE: [data_source],
        SYNTHETIC: [synthetic],
    }
    return pa.Table.from_pydict(row, schema=WINDOW_SCHEMA)
