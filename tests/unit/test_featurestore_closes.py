"""`stored_closes`: the fan chart's history, read straight from the offline daily file (no Feast)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from stockops.featurestore.errors import FeatureStoreEmpty
from stockops.featurestore.layout import StoreLayout
from stockops.featurestore.offline import stored_closes
from stockops.featurestore.tables import DAILY_FEATURES, daily_table


def _store(tmp_path: Path, ticker: str = "^GSPC", days: int = 30) -> StoreLayout:
    layout = StoreLayout(tmp_path / "features")
    layout.make_dirs()
    index = pd.bdate_range("2024-01-02", periods=days, name="date")
    frame = pd.DataFrame(1.0, index=index, columns=list(DAILY_FEATURES))
    frame["close"] = 100.0 + np.arange(days)
    table = daily_table(
        ticker, frame, data_source="csv:x", synthetic=False, ingested_at=datetime(2024, 3, 1, tzinfo=UTC)
    )
    pq.write_table(table.take(np.arange(days)[::-1]), layout.daily_file(ticker))  # stored out of order
    return layout


def test_the_last_closes_up_to_the_as_of_day_oldest_first(tmp_path: Path) -> None:
    layout = _store(tmp_path)
    closes = stored_closes("^GSPC", 5, layout=layout, until=date(2024, 1, 15))  # a Monday, the 10th row
    assert list(closes.to_numpy()) == [105.0, 106.0, 107.0, 108.0, 109.0]
    assert closes.index[-1] == pd.Timestamp("2024-01-15") and closes.index.tz is None
    every = stored_closes("^GSPC", 1000, layout=layout, until=date(2030, 1, 1))
    assert len(every) == 30 and every.is_monotonic_increasing


def test_nothing_stored_is_feature_store_empty(tmp_path: Path) -> None:
    layout = _store(tmp_path)
    with pytest.raises(FeatureStoreEmpty):
        stored_closes("AAPL", 5, layout=layout, until=date(2024, 2, 1))
    with pytest.raises(FeatureStoreEmpty, match="no closes stored up to 2023-12-29"):
        stored_closes("^GSPC", 5, layout=layout, until=date(2023, 12, 29))
    with pytest.raises(ValueError, match="at least 1"):
        stored_closes("^GSPC", 0, layout=layout, until=date(2024, 2, 1))
