"""The feature store with a real redis-server as the online store (the cluster configuration).

Uses the session `redis_server` from conftest, in its own database number so that flushing it here
never touches what other tests keep in database 0.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
import redis

from stockops.data.features import MODEL_FEATURES
from stockops.data.sources import CsvSource
from stockops.featurestore.errors import FeatureStoreEmpty
from stockops.featurestore.ingestion import ingest, ingest_tickers, materialize
from stockops.featurestore.offline import training_frame
from stockops.featurestore.online import latest_window
from stockops.featurestore.store import open_store

pytestmark = pytest.mark.component

FEATURES_DB = 5
START = date(2023, 6, 1)
D = date(2024, 6, 28)
CONTEXT = 60


@pytest.fixture
def redis_url(running_redis) -> str:
    """A URL for an empty database of the session Redis."""
    url = f"redis://127.0.0.1:{running_redis.port}/{FEATURES_DB}"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="module")
def source(ohlcv_dir: Path) -> CsvSource:
    return CsvSource(ohlcv_dir)


def test_window_served_from_redis_equals_the_trainers_rows_for_d(
    tmp_path: Path, redis_url: str, source: CsvSource
) -> None:
    store = open_store(tmp_path / "features", redis_url=redis_url)
    ingest("AAPL", source, store, start=START, end=D)

    window = latest_window("AAPL", CONTEXT, store=store)
    frame = training_frame("AAPL", end=D, store=store)

    assert window.as_of == D == frame.index[-1].date()
    np.testing.assert_array_equal(window.window, frame[list(MODEL_FEATURES)].iloc[-CONTEXT:].to_numpy())
    assert window.last_close == frame["close"].iloc[-1]
    # The read really came from Redis: no SQLite online store exists, and emptying Redis empties it.
    assert not store.layout.online_db.exists()
    client = redis.Redis.from_url(redis_url)
    assert client.dbsize() >= 1
    client.flushdb()
    with pytest.raises(FeatureStoreEmpty) as info:
        latest_window("AAPL", CONTEXT, store=store)
    assert f"redis://127.0.0.1:{client.connection_pool.connection_kwargs['port']}/{FEATURES_DB}" in str(
        info.value
    )


def test_redis_takes_corrected_history_that_ends_earlier(
    tmp_path: Path, redis_url: str, source: CsvSource
) -> None:
    store = open_store(tmp_path / "features", redis_url=redis_url)
    ingest("AAPL", source, store, start=START, end=D)
    ingest("AAPL", source, store, start=START, end=date(2024, 5, 31))

    window = latest_window("AAPL", CONTEXT, store=store)
    assert window.as_of == date(2024, 5, 31)
    frame = training_frame("AAPL", store=store)
    np.testing.assert_array_equal(window.window, frame[list(MODEL_FEATURES)].iloc[-CONTEXT:].to_numpy())


def test_materialize_publishes_a_local_store_to_redis(
    tmp_path: Path, redis_url: str, source: CsvSource
) -> None:
    local = open_store(tmp_path / "features")
    ingest_tickers(["AAPL", "MSFT"], source, local, start=START, end=D)

    clustered = open_store(tmp_path / "features", redis_url=redis_url)
    with pytest.raises(FeatureStoreEmpty):
        latest_window("MSFT", CONTEXT, store=clustered)

    assert materialize(clustered) == {"AAPL": D, "MSFT": D}
    for ticker in ("AAPL", "MSFT"):
        served = latest_window(ticker, CONTEXT, store=clustered)
        np.testing.assert_array_equal(served.window, latest_window(ticker, CONTEXT, store=local).window)
