"""The predictor's path: the latest feature window of a ticker from the online store.

One key lookup (SQLite locally, Redis in a cluster) returns the flattened window that ingestion cut
from the same rows the trainer reads offline, so serving sees exactly the features training saw.
The window carries its as-of date and provenance, so a forecast can say "data as of D" and flag
synthetic data, also when the price source is down and the store is all there is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from stockops.data.features import FEATURE_SET_VERSION
from stockops.data.validation import normalize_ticker
from stockops.featurestore.errors import FeatureStoreEmpty, UnusableFeaturesError
from stockops.featurestore.store import StockFeatureStore
from stockops.featurestore.tables import (
    DATA_SOURCE,
    ENTITY,
    FEATURE_SET_VERSION_COLUMN,
    LAST_CLOSE,
    SYNTHETIC,
    WINDOW_COLUMNS,
    WINDOW_DATES,
    WINDOW_FEATURES,
    WINDOW_VALUES,
)


@dataclass(frozen=True, eq=False)
class OnlineWindow:
    """The newest `context_days` rows of model features for one ticker, as a forecast starts from them.

    `window` is (context_days, len(columns)) float64 raw (unscaled) features, oldest row first;
    `dates[i]` is the trading day of row i; `as_of == dates[-1]`; `last_close` is that day's close.
    """

    ticker: str
    window: np.ndarray
    as_of: date
    last_close: float
    columns: tuple[str, ...]
    dates: tuple[date, ...]
    feature_set_version: str
    data_source: str
    synthetic: bool

    def select(self, columns: Sequence[str]) -> np.ndarray:
        """The window with its columns in the order a model's feature spec lists them."""
        missing = [name for name in columns if name not in self.columns]
        if missing:
            raise ValueError(
                f"{self.ticker}: the stored window lacks feature columns {missing} "
                f"(it has {list(self.columns)}); re-ingest with the model's feature set"
            )
        positions = [self.columns.index(name) for name in columns]
        return self.window[:, positions]


def window_from_online(
    ticker: str,
    context_days: int,
    values: Mapping[str, object],
    *,
    store_path: Path | str,
    online: str,
) -> OnlineWindow:
    """Turn one entity's online feature values into an `OnlineWindow` (pure; checks every invariant)."""
    if context_days < 1:
        raise ValueError(f"context_days must be at least 1, got {context_days}")
    if values.get(WINDOW_VALUES) is None:
        raise FeatureStoreEmpty(ticker, store_path, online=online)
    version = str(values.get(FEATURE_SET_VERSION_COLUMN))
    if version != FEATURE_SET_VERSION:
        raise UnusableFeaturesError(
            ticker,
            store_path,
            f"the online window is feature set {version!r}, this code uses {FEATURE_SET_VERSION!r}; "
            f"re-run `stockops features ingest {ticker}`",
            online=online,
        )
    columns = tuple(str(c) for c in values[WINDOW_COLUMNS])  # type: ignore[union-attr]
    dates = tuple(date.fromisoformat(str(d)) for d in values[WINDOW_DATES])  # type: ignore[union-attr]
    flat = np.asarray(values[WINDOW_VALUES], dtype="float64")
    if not columns or flat.size != len(dates) * len(columns):
        raise UnusableFeaturesError(
            ticker,
            store_path,
            f"corrupt online window: {flat.size} values for {len(dates)} days x {len(columns)} columns; "
            "re-run `stockops features materialize`",
            online=online,
        )
    if len(dates) < context_days:
        raise UnusableFeaturesError(
            ticker,
            store_path,
            f"the online window holds {len(dates)} days, the model needs {context_days}; re-run "
            f"`stockops features ingest {ticker} --window-days {context_days}` (with enough history)",
            online=online,
        )
    window = flat.reshape(len(dates), len(columns))[-context_days:]
    return OnlineWindow(
        ticker=ticker,
        window=window,
        as_of=dates[-1],
        last_close=float(values[LAST_CLOSE]),  # type: ignore[arg-type]
        columns=columns,
        dates=dates[-context_days:],
        feature_set_version=version,
        data_source=str(values.get(DATA_SOURCE)),
        synthetic=bool(values.get(SYNTHETIC)),
    )


def latest_window(ticker: str, context_days: int, *, store: StockFeatureStore) -> OnlineWindow:
    """The last `context_days` rows of `ticker`'s features from the online store.

    Raises `FeatureStoreEmpty` when the online store has no window for the ticker (never ingested or
    never materialized there) and `UnusableFeaturesError` when the window is too short or stale.
    """
    from stockops.featurestore.definitions import WINDOW_VIEW

    ticker = normalize_ticker(ticker)
    response = store.feast.get_online_features(
        features=[f"{WINDOW_VIEW}:{name}" for name in WINDOW_FEATURES],
        entity_rows=[{ENTITY: ticker}],
    ).to_dict()
    values = {name: response[name][0] for name in WINDOW_FEATURES}
    return window_from_online(ticker, context_days, values, store_path=store.root, online=store.online)
