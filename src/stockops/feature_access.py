"""Features for training and forecasting, always through the Feast store (one path, no skew).

Training: prices are ingested into the offline store (and the window published online), then the
training frame comes back through Feast's point-in-time retrieval. Forecasting: the newest window comes
from the online store. When the price source cannot be reached, both use what the store already holds
and say so ("data as of D"); with nothing stored the original data error stands.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stockops.config import Settings
from stockops.data.errors import DataError
from stockops.data.history import PriceHistory
from stockops.data.sources import AutoSource, OhlcvSource, source_from_string

if TYPE_CHECKING:
    from stockops.featurestore.store import StockFeatureStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingData:
    ticker: str
    features: pd.DataFrame  # index date; `close` + MODEL_FEATURES
    data_source: str
    synthetic: bool
    as_of: date
    note: str | None  # set when stored features stood in for an unreachable source


@dataclass(frozen=True)
class ForecastWindow:
    ticker: str
    window: np.ndarray  # (context_days, n_features), columns in the model's order
    as_of: date
    last_close: float
    data_source: str
    synthetic: bool
    note: str | None


class _AfterFailure:
    """`auto`'s synthetic fallback for a ticker whose real source has just failed (not tried again)."""

    synthetic = True

    def __init__(self, source: AutoSource, failure: DataError) -> None:
        self.name = source.name
        self._source = source
        self._failure = failure

    def fetch(self, ticker: str, start: date | None = None, end: date | None = None) -> PriceHistory:
        return self._source.fallback_fetch(self._failure, start, end)


def open_feature_store(settings: Settings) -> StockFeatureStore:
    from stockops.featurestore.store import store_from_settings

    return store_from_settings(settings)


def refresh(
    ticker: str, source: OhlcvSource, store: StockFeatureStore, *, start: date | None, end: date | None
) -> str | None:
    """Ingest fresh prices; on an unreachable/empty source keep the stored rows and return a note.

    With `auto`, the real source is tried first; a ticker already in the store keeps its stored (real)
    features rather than being overwritten by the synthetic fallback.
    """
    from stockops.featurestore.errors import FeatureIngestionError, FeatureStoreEmpty
    from stockops.featurestore.ingestion import ingest
    from stockops.featurestore.offline import stored_features

    primary = source.primary if isinstance(source, AutoSource) else source
    try:
        ingest(ticker, primary, store, start=start, end=end)
        return None
    except FeatureIngestionError as exc:
        try:
            stored = stored_features(ticker, store=store)
        except FeatureStoreEmpty:
            cause = exc.__cause__
            if isinstance(source, AutoSource) and isinstance(cause, DataError):
                ingest(ticker, _AfterFailure(source, cause), store, start=start, end=end)
                return None
            raise (cause if isinstance(cause, DataError) else exc) from None
        note = (
            f"price source unavailable ({exc.problem}); using features stored in the feature store, "
            f"data as of {stored.as_of}"
        )
        log.warning("%s: %s", ticker, note)
        return note


def training_data(
    ticker: str, source_spec: str, settings: Settings, *, start: date | None, end: date | None
) -> TrainingData:
    """Ingest, then read the training frame back through Feast (point in time)."""
    from stockops.featurestore.offline import stored_features, training_frame

    store = open_feature_store(settings)
    note = refresh(ticker, source_from_string(source_spec), store, start=start, end=end)
    frame = training_frame(ticker, start, end, store=store)
    info = stored_features(ticker, store=store)
    return TrainingData(
        ticker=info.ticker,
        features=frame,
        data_source=info.data_source,
        synthetic=info.synthetic,
        as_of=frame.index[-1].date(),
        note=note,
    )


def forecast_window(
    ticker: str,
    columns: tuple[str, ...],
    context_days: int,
    settings: Settings,
    *,
    source_spec: str | None = None,
) -> ForecastWindow:
    """The newest window from the online store; with `source_spec`, ingest fresh prices first.

    On the local SQLite online store a window read without ingesting is cached until the store file
    changes (`stockops.stamped_cache`), so a repeated `stockops predict` does not import Feast at all.
    """
    if source_spec is None and settings.redis_url is None:
        return _cached_window(ticker, columns, context_days, settings)
    return _read_window(ticker, columns, context_days, settings, source_spec=source_spec)


def recent_closes(ticker: str, sessions: int, settings: Settings, *, until: date) -> pd.Series:
    """The last ``sessions`` closes up to ``until`` from the offline store the window was cut from (for
    the fan chart's history; a file read, no Feast)."""
    from stockops.featurestore.layout import StoreLayout
    from stockops.featurestore.offline import stored_closes
    from stockops.featurestore.store import store_dir_from_settings

    layout = StoreLayout(store_dir_from_settings(settings))
    return stored_closes(ticker, sessions, layout=layout, until=until)


def _cached_window(
    ticker: str, columns: tuple[str, ...], context_days: int, settings: Settings
) -> ForecastWindow:
    import hashlib
    import json

    from stockops.featurestore.layout import ONLINE_DB_PATH, ticker_file_stem
    from stockops.featurestore.store import store_dir_from_settings
    from stockops.stamped_cache import ANSWER, StampedCache, file_stamp

    online_db = store_dir_from_settings(settings) / ONLINE_DB_PATH
    cache = StampedCache(root=settings.cache_dir / "windows", stamp=file_stamp(online_db))
    digest = hashlib.sha256(repr(columns).encode()).hexdigest()[:12]
    key = f"{ticker_file_stem(ticker)}-{context_days}-{digest}"  # ^GSPC and GSPC stay apart
    entry = cache.lookup(key)
    if entry is not None:
        meta = json.loads((entry / ANSWER).read_text())
        return ForecastWindow(
            ticker=meta["ticker"],
            window=np.load(entry / "window.npy"),
            as_of=date.fromisoformat(meta["as_of"]),
            last_close=float(meta["last_close"]),
            data_source=meta["data_source"],
            synthetic=bool(meta["synthetic"]),
            note=meta["note"],
        )
    found = _read_window(ticker, columns, context_days, settings, source_spec=None)
    if found.note is None:  # a read that had to ingest first changed the store: nothing to keep

        def fill(tmp: Path) -> None:
            np.save(tmp / "window.npy", found.window)
            meta = {
                "ticker": found.ticker,
                "as_of": found.as_of.isoformat(),
                "last_close": found.last_close,
                "data_source": found.data_source,
                "synthetic": found.synthetic,
                "note": found.note,
            }
            (tmp / ANSWER).write_text(json.dumps(meta))

        cache.store(key, fill)
    return found


def _read_window(
    ticker: str,
    columns: tuple[str, ...],
    context_days: int,
    settings: Settings,
    *,
    source_spec: str | None,
) -> ForecastWindow:
    from stockops.featurestore.errors import FeatureStoreEmpty
    from stockops.featurestore.online import latest_window

    store = open_feature_store(settings)
    note = None
    if source_spec is not None:
        note = refresh(ticker, source_from_string(source_spec), store, start=None, end=None)
    try:
        online = latest_window(ticker, context_days, store=store)
    except FeatureStoreEmpty:
        if source_spec is not None:
            raise
        note = refresh(ticker, source_from_string(settings.data_source), store, start=None, end=None)
        online = latest_window(ticker, context_days, store=store)
    return ForecastWindow(
        ticker=online.ticker,
        window=online.select(columns).astype(np.float32),
        as_of=online.as_of,
        last_close=online.last_close,
        data_source=online.data_source,
        synthetic=online.synthetic,
        note=note,
    )
