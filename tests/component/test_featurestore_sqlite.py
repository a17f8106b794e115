"""The feature store for real: Feast with the parquet offline store and the SQLite online store.

Prices are the real CSVs (AAPL, MSFT, ^GSPC); short ranges keep each ingestion around a second.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockops.data.features import MODEL_FEATURES, compute_features
from stockops.data.sources import CsvSource
from stockops.featurestore.definitions import FEAST_OBJECTS
from stockops.featurestore.errors import FeatureIngestionError, FeatureStoreEmpty
from stockops.featurestore.ingestion import ingest, ingest_tickers, materialize
from stockops.featurestore.offline import list_stored, stored_features, training_frame
from stockops.featurestore.online import latest_window
from stockops.featurestore.store import (
    StockFeatureStore,
    definitions_fingerprint,
    online_store_config,
    open_store,
)

pytestmark = pytest.mark.component

START = date(2023, 6, 1)
D = date(2024, 6, 28)  # a Friday: the "today" of the serving side
CONTEXT = 60


@pytest.fixture(scope="module")
def source(ohlcv_dir: Path) -> CsvSource:
    return CsvSource(ohlcv_dir)


@pytest.fixture(scope="module")
def store_at_d(tmp_path_factory: pytest.TempPathFactory, source: CsvSource) -> StockFeatureStore:
    """A store that ingested AAPL up to D (what the world looked like on D)."""
    store = open_store(tmp_path_factory.mktemp("features-at-d"))
    ingest("AAPL", source, store, start=START, end=D)
    return store


def test_predictor_window_for_d_equals_the_trainers_last_rows_for_d(
    store_at_d: StockFeatureStore, source: CsvSource
) -> None:
    frame = training_frame("AAPL", end=D, store=store_at_d)
    window = latest_window("AAPL", CONTEXT, store=store_at_d)

    assert window.as_of == D == frame.index[-1].date()
    assert window.columns == MODEL_FEATURES
    np.testing.assert_array_equal(window.window, frame[list(MODEL_FEATURES)].iloc[-CONTEXT:].to_numpy())
    assert window.dates == tuple(d.date() for d in frame.index[-CONTEXT:])
    assert window.last_close == frame["close"].iloc[-1]
    assert window.synthetic is False and "AAPL.csv" in window.data_source

    # ... and both are exactly the one feature implementation applied to the prices up to D.
    expected = compute_features(source.fetch("AAPL", START, D).frame)[["close", *MODEL_FEATURES]]
    pd.testing.assert_frame_equal(frame, expected, check_freq=False)


def test_rows_for_d_do_not_change_when_later_data_arrives(
    tmp_path: Path, store_at_d: StockFeatureStore, source: CsvSource
) -> None:
    later = open_store(tmp_path / "features-later")
    ingest("AAPL", source, later, start=START, end=date(2024, 9, 30))

    frame_for_d = training_frame("AAPL", end=D, store=later)
    served_on_d = latest_window("AAPL", CONTEXT, store=store_at_d)

    assert frame_for_d.index[-1].date() == D
    np.testing.assert_array_equal(
        served_on_d.window, frame_for_d[list(MODEL_FEATURES)].iloc[-CONTEXT:].to_numpy()
    )
    assert latest_window("AAPL", CONTEXT, store=later).as_of == date(2024, 9, 30)


def test_training_frame_respects_the_requested_range(store_at_d: StockFeatureStore) -> None:
    frame = training_frame("AAPL", date(2024, 1, 2), date(2024, 1, 31), store=store_at_d)
    assert frame.index[0] == pd.Timestamp("2024-01-02")
    assert frame.index[-1] == pd.Timestamp("2024-01-31")
    assert frame.index.is_unique and frame.index.is_monotonic_increasing

    with pytest.raises(FeatureStoreEmpty, match="no features stored between 2030-01-01"):
        training_frame("AAPL", date(2030, 1, 1), store=store_at_d)


def test_reingesting_is_idempotent_and_replaces_the_tickers_rows(tmp_path: Path, source: CsvSource) -> None:
    store = open_store(tmp_path / "features")
    first = ingest("AAPL", source, store, start=date(2024, 1, 1), end=D)
    again = ingest("AAPL", source, store, start=date(2024, 1, 1), end=D)

    frame = training_frame("AAPL", store=store)
    assert first.rows == again.rows == len(frame)
    assert frame.index.is_unique
    assert sorted(p.name for p in store.layout.daily_dir.iterdir()) == ["AAPL.parquet"]  # no temp files left

    # Corrected history that ends earlier replaces the rows, offline and online.
    ingest("AAPL", source, store, start=date(2024, 1, 1), end=date(2024, 5, 31))
    assert training_frame("AAPL", store=store).index[-1] == pd.Timestamp("2024-05-31")
    assert latest_window("AAPL", 20, store=store).as_of == date(2024, 5, 31)


def test_unreachable_source_leaves_the_store_serving_what_it_holds(tmp_path: Path, source: CsvSource) -> None:
    store = open_store(tmp_path / "features")
    ingest("AAPL", source, store, start=START, end=D)
    stored_bytes = store.layout.daily_file("AAPL").read_bytes()
    window_bytes = store.layout.window_file("AAPL").read_bytes()

    down = CsvSource(tmp_path / "no-prices-here")  # every fetch fails like an unreachable source
    with pytest.raises(FeatureIngestionError) as info:
        ingest("AAPL", down, store, start=START)
    message = str(info.value)
    assert "AAPL" in message and str(store.root) in message and "left unchanged" in message

    assert store.layout.daily_file("AAPL").read_bytes() == stored_bytes
    assert store.layout.window_file("AAPL").read_bytes() == window_bytes
    assert latest_window("AAPL", CONTEXT, store=store).as_of == D
    assert stored_features("AAPL", store=store).as_of == D


def test_empty_store_errors_name_the_ticker_and_the_store(tmp_path: Path) -> None:
    store = open_store(tmp_path / "features")
    for read in (
        lambda: training_frame("TSLA", store=store),
        lambda: latest_window("TSLA", CONTEXT, store=store),
    ):
        with pytest.raises(FeatureStoreEmpty) as info:
            read()
        assert "TSLA" in str(info.value) and str(store.root) in str(info.value)
    with pytest.raises(FeatureStoreEmpty, match="no features stored for any ticker"):
        materialize(store)


def test_ingesting_several_tickers_reports_failures_and_stores_the_rest(
    tmp_path: Path, source: CsvSource
) -> None:
    store = open_store(tmp_path / "features")
    summary = ingest_tickers(["^GSPC", "MSFT", "NOPE"], source, store, start=date(2024, 1, 1), end=D)

    assert [r.ticker for r in summary.results] == ["^GSPC", "MSFT"]
    assert [f.ticker for f in summary.failures] == ["NOPE"] and not summary.ok
    assert summary.materialized == {"MSFT": D, "^GSPC": D}
    assert [s.ticker for s in list_stored(store=store)] == ["MSFT", "^GSPC"]

    msft = training_frame("MSFT", store=store)
    expected = compute_features(source.fetch("MSFT", date(2024, 1, 1), D).frame)[["close", *MODEL_FEATURES]]
    pd.testing.assert_frame_equal(msft, expected, check_freq=False)
    gspc = latest_window("^GSPC", 20, store=store)
    assert gspc.ticker == "^GSPC" and gspc.as_of == D
    with pytest.raises(FeatureStoreEmpty):
        latest_window("AAPL", 20, store=store)


def test_definitions_are_applied_once_per_store_directory(tmp_path: Path) -> None:
    specs_before = [obj.to_proto().spec.SerializeToString() for obj in FEAST_OBJECTS]
    fingerprint = definitions_fingerprint(online_store_config(None))
    store = open_store(tmp_path / "features")
    # Applying must not alter the shared definitions, or another process's fingerprint would differ.
    assert [obj.to_proto().spec.SerializeToString() for obj in FEAST_OBJECTS] == specs_before
    assert store.layout.applied_marker.read_text().strip() == fingerprint
    registry_mtime = store.layout.registry.stat().st_mtime_ns

    open_store(tmp_path / "features")
    assert store.layout.registry.stat().st_mtime_ns == registry_mtime

    store.layout.applied_marker.write_text("definitions changed\n")
    open_store(tmp_path / "features")
    assert store.layout.registry.stat().st_mtime_ns != registry_mtime
    assert store.layout.applied_marker.read_text() != "definitions changed\n"
