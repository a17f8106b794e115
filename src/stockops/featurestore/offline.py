"""The trainer's path: the training frame from the offline store, point in time, through Feast.

`training_frame` builds an entity dataframe of (ticker, trading day) rows and lets Feast's historical
retrieval join the daily feature view onto it. Each row therefore holds exactly the features that were
known as of that day, which is what the model will see when it serves from the online window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from stockops.data.features import FEATURE_SET_VERSION
from stockops.data.validation import normalize_ticker
from stockops.featurestore.errors import FeatureStoreEmpty, UnusableFeaturesError
from stockops.featurestore.layout import StoreLayout
from stockops.featurestore.store import StockFeatureStore
from stockops.featurestore.tables import (
    CLOSE,
    CREATED,
    DAILY_FEATURES,
    DATA_SOURCE,
    ENTITY,
    EVENT_TIMESTAMP,
    FEATURE_SET_VERSION_COLUMN,
    SYNTHETIC,
    date_to_timestamp,
)


@dataclass(frozen=True)
class StoredFeatures:
    """What the offline store holds for one ticker: its span, provenance and feature set."""

    ticker: str
    rows: int
    first_date: date
    as_of: date
    data_source: str
    synthetic: bool
    feature_set_version: str
    ingested_at: datetime


def stored_features(ticker: str, *, store: StockFeatureStore) -> StoredFeatures:
    """The as-of date and provenance of a ticker's stored rows (no Feast call: file metadata only).

    Raises `FeatureStoreEmpty` when the ticker was never ingested into this store.
    """
    ticker = normalize_ticker(ticker)
    path = store.layout.daily_file(ticker)
    if not path.is_file():
        raise FeatureStoreEmpty(ticker, store.root)
    table = pq.read_table(
        path, columns=[EVENT_TIMESTAMP, CREATED, FEATURE_SET_VERSION_COLUMN, DATA_SOURCE, SYNTHETIC]
    )
    if table.num_rows == 0:
        raise FeatureStoreEmpty(ticker, store.root)
    stamps = table.column(EVENT_TIMESTAMP).to_pylist()
    return StoredFeatures(
        ticker=ticker,
        rows=table.num_rows,
        first_date=min(stamps).date(),
        as_of=max(stamps).date(),
        data_source=str(table.column(DATA_SOURCE)[0]),
        synthetic=bool(table.column(SYNTHETIC)[0].as_py()),
        feature_set_version=str(table.column(FEATURE_SET_VERSION_COLUMN)[0]),
        ingested_at=max(table.column(CREATED).to_pylist()),
    )


def stored_closes(ticker: str, sessions: int, *, layout: StoreLayout, until: date) -> pd.Series:
    """The last ``sessions`` stored closes of ``ticker`` up to ``until`` (inclusive), oldest first.

    For charts beside a forecast (its history part): one parquet read of two columns, no Feast, so a
    `stockops predict --plot` stays as quick as the forecast itself. The closes are the rows the window
    was cut from, so the last one is the window's ``last_close`` when ``until`` is its as-of date.
    Raises `FeatureStoreEmpty` when nothing is stored up to ``until``.
    """
    if sessions < 1:
        raise ValueError(f"sessions must be at least 1, got {sessions}")
    ticker = normalize_ticker(ticker)
    path = layout.daily_file(ticker)
    if not path.is_file():
        raise FeatureStoreEmpty(ticker, layout.root)
    table = pq.read_table(path, columns=[EVENT_TIMESTAMP, CLOSE])
    stamps = pd.DatetimeIndex(table.column(EVENT_TIMESTAMP).to_pandas())
    index = pd.DatetimeIndex(stamps.tz_convert("UTC").tz_localize(None).normalize(), name="date")
    closes = pd.Series(table.column(CLOSE).to_numpy(), index=index, name=CLOSE).sort_index()
    closes = closes[closes.index <= pd.Timestamp(until)]
    if closes.empty:
        raise FeatureStoreEmpty(ticker, layout.root, f"no closes stored up to {until}")
    return closes.iloc[-sessions:]


def list_stored(*, store: StockFeatureStore) -> list[StoredFeatures]:
    """Every ticker in the offline store, for `stockops features` status output."""
    return [stored_features(ticker, store=store) for ticker in store.layout.stored_tickers()]


def entity_rows(ticker: str, stamps: pd.DatetimeIndex, start: date | None, end: date | None) -> pd.DataFrame:
    """The entity dataframe: one (ticker, event_timestamp) row per stored trading day in [start, end]."""
    selected = stamps
    if start is not None:
        selected = selected[selected >= date_to_timestamp(start)]
    if end is not None:
        selected = selected[selected <= date_to_timestamp(end)]
    return pd.DataFrame({ENTITY: ticker, EVENT_TIMESTAMP: selected.sort_values()})


def frame_from_historical(ticker: str, retrieved: pd.DataFrame, *, store_path: object) -> pd.DataFrame:
    """Feast's joined rows -> the `compute_features` layout: date index, `close` + MODEL_FEATURES.

    A missing value means the point-in-time join found no row for a requested day, which would be a
    store defect (the entity days come from the stored rows); it is reported, never filled.
    """
    ordered = retrieved.sort_values(EVENT_TIMESTAMP)
    index = pd.DatetimeIndex(ordered[EVENT_TIMESTAMP]).tz_convert("UTC").tz_localize(None).normalize()
    frame = pd.DataFrame(
        {name: ordered[name].to_numpy(dtype="float64") for name in DAILY_FEATURES},
        index=pd.DatetimeIndex(index, name="date"),
    )
    bad = ~np.isfinite(frame.to_numpy())
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise UnusableFeaturesError(
            ticker,
            str(store_path),
            f"point-in-time retrieval returned no features for {frame.index[row].date()}; "
            f"re-run `stockops features ingest {ticker}`",
        )
    return frame


def training_frame(
    ticker: str, start: date | None = None, end: date | None = None, *, store: StockFeatureStore
) -> pd.DataFrame:
    """Features of `ticker` for every stored trading day in [start, end], as the trainer consumes them.

    Same layout as `compute_features` restricted to `close` + MODEL_FEATURES: a tz-naive DatetimeIndex
    named "date", ascending, float64 columns. The last index value is the data's as-of date.
    Raises `FeatureStoreEmpty` (nothing stored, or nothing in the range) and `UnusableFeaturesError`
    (stored under another feature-set version: re-ingest).
    """
    from stockops.featurestore.definitions import DAILY_VIEW

    summary = stored_features(ticker, store=store)
    ticker = summary.ticker
    if summary.feature_set_version != FEATURE_SET_VERSION:
        raise UnusableFeaturesError(
            ticker,
            store.root,
            f"stored features are version {summary.feature_set_version!r}, this code computes "
            f"{FEATURE_SET_VERSION!r}; re-run `stockops features ingest {ticker}`",
        )
    stamps = pd.DatetimeIndex(
        pq.read_table(store.layout.daily_file(ticker), columns=[EVENT_TIMESTAMP])
        .column(EVENT_TIMESTAMP)
        .to_pandas()
    )
    entities = entity_rows(ticker, stamps, start, end)
    if entities.empty:
        raise FeatureStoreEmpty(
            ticker,
            store.root,
            f"no features stored between {start or 'the beginning'} and {end or 'the end'}; the store "
            f"holds {summary.first_date} to {summary.as_of}",
        )
    retrieved = store.feast.get_historical_features(
        entity_df=entities, features=[f"{DAILY_VIEW}:{name}" for name in DAILY_FEATURES]
    ).to_df()
    if len(retrieved) != len(entities):
        raise UnusableFeaturesError(
            ticker,
            store.root,
            f"point-in-time retrieval returned {len(retrieved)} rows for {len(entities)} requested days",
        )
    return frame_from_historical(ticker, retrieved, store_path=store.root)


def recent_frame(ticker: str, sessions: int, *, store: StockFeatureStore) -> pd.DataFrame:
    """The newest ``sessions`` stored trading days of ``ticker``, through `training_frame` (the trainer's
    point-in-time path, so a drift check compares like with like). Raises as `training_frame` does."""
    if sessions < 1:
        raise ValueError(f"sessions must be at least 1, got {sessions}")
    path = store.layout.daily_file(normalize_ticker(ticker))
    if not path.is_file():
        raise FeatureStoreEmpty(normalize_ticker(ticker), store.root)
    stamps = pd.DatetimeIndex(
        pq.read_table(path, columns=[EVENT_TIMESTAMP]).column(EVENT_TIMESTAMP).to_pandas()
    )
    if stamps.empty:
        raise FeatureStoreEmpty(normalize_ticker(ticker), store.root)
    days = stamps.tz_convert("UTC").tz_localize(None).normalize().sort_values()
    return training_frame(ticker, days[-sessions].date(), None, store=store)
