"""Turning stored rows back into what the trainer and the predictor consume (pure functions)."""

from __future__ import annotations

import pickle
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockops.data.errors import DataError, DataUnavailableError
from stockops.data.features import FEATURE_SET_VERSION, MODEL_FEATURES
from stockops.featurestore.errors import FeatureIngestionError, FeatureStoreEmpty, UnusableFeaturesError
from stockops.featurestore.offline import entity_rows, frame_from_historical
from stockops.featurestore.online import window_from_online
from stockops.featurestore.tables import DAILY_FEATURES

STORE = Path("store-dir")


def online_values(days: int = 8, version: str = FEATURE_SET_VERSION) -> dict[str, object]:
    dates = [d.date().isoformat() for d in pd.bdate_range("2024-06-03", periods=days)]
    values = np.arange(days * len(MODEL_FEATURES), dtype="float64") / 3.0
    return {
        "window_values": values.tolist(),
        "window_columns": list(MODEL_FEATURES),
        "window_dates": dates,
        "last_close": 123.5,
        "feature_set_version": version,
        "data_source": "csv:AAPL.csv",
        "synthetic": False,
    }


def test_online_values_become_the_last_context_days_rows() -> None:
    values = online_values(days=8)
    window = window_from_online("AAPL", 5, values, store_path=STORE, online="sqlite")

    full = np.asarray(values["window_values"]).reshape(8, len(MODEL_FEATURES))
    np.testing.assert_array_equal(window.window, full[-5:])
    assert window.window.shape == (5, len(MODEL_FEATURES))
    assert window.as_of == date(2024, 6, 12)
    assert window.dates[0] == date(2024, 6, 6) and window.dates[-1] == window.as_of
    assert window.last_close == 123.5
    assert window.columns == MODEL_FEATURES


def test_select_reorders_columns_for_a_model_spec_and_names_missing_ones() -> None:
    window = window_from_online("AAPL", 3, online_values(), store_path=STORE, online="sqlite")
    picked = window.select([MODEL_FEATURES[2], MODEL_FEATURES[0]])
    np.testing.assert_array_equal(picked, window.window[:, [2, 0]])
    with pytest.raises(ValueError, match="no_such_feature"):
        window.select(["no_such_feature"])


def test_missing_online_window_is_a_clear_empty_store_error() -> None:
    values = dict.fromkeys(online_values())
    with pytest.raises(FeatureStoreEmpty) as info:
        window_from_online("MSFT", 5, values, store_path=STORE, online="redis://localhost:6379/0")
    message = str(info.value)
    assert "MSFT" in message and "store-dir" in message and "redis://localhost:6379/0" in message
    assert "stockops features ingest MSFT" in message
    assert isinstance(info.value, DataUnavailableError)


def test_window_shorter_than_the_model_context_is_refused() -> None:
    with pytest.raises(UnusableFeaturesError, match="holds 8 days, the model needs 60"):
        window_from_online("AAPL", 60, online_values(days=8), store_path=STORE, online="sqlite")


def test_window_of_another_feature_set_is_refused() -> None:
    with pytest.raises(UnusableFeaturesError, match="old-features-v0"):
        window_from_online(
            "AAPL", 5, online_values(version="old-features-v0"), store_path=STORE, online="sqlite"
        )


def test_corrupt_window_is_refused() -> None:
    values = online_values()
    values["window_values"] = values["window_values"][:-1]  # type: ignore[index]
    with pytest.raises(UnusableFeaturesError, match="corrupt online window"):
        window_from_online("AAPL", 5, values, store_path=STORE, online="sqlite")


def test_context_days_must_be_positive() -> None:
    with pytest.raises(ValueError, match="context_days"):
        window_from_online("AAPL", 0, online_values(), store_path=STORE, online="sqlite")


def test_entity_rows_select_stored_days_inclusively_in_order() -> None:
    stamps = pd.DatetimeIndex(pd.bdate_range("2024-01-01", periods=10, tz="UTC")[::-1])
    rows = entity_rows("AAPL", stamps, date(2024, 1, 3), date(2024, 1, 9))
    assert list(rows["ticker"].unique()) == ["AAPL"]
    assert [t.date() for t in rows["event_timestamp"]] == [
        date(2024, 1, 3),
        date(2024, 1, 4),
        date(2024, 1, 5),
        date(2024, 1, 8),
        date(2024, 1, 9),
    ]


def retrieved_rows(days: int = 4) -> pd.DataFrame:
    stamps = pd.bdate_range("2024-01-01", periods=days, tz="UTC")
    data = {name: np.arange(days, dtype="float64") + i for i, name in enumerate(DAILY_FEATURES)}
    return pd.DataFrame({"ticker": "AAPL", "event_timestamp": stamps, **data}).iloc[::-1]


def test_historical_rows_become_a_date_indexed_features_frame() -> None:
    frame = frame_from_historical("AAPL", retrieved_rows(), store_path=STORE)
    assert list(frame.columns) == list(DAILY_FEATURES)
    assert frame.index.name == "date" and frame.index.tz is None
    assert frame.index.is_monotonic_increasing
    assert frame.index[0] == pd.Timestamp("2024-01-01")
    assert frame["close"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_a_day_without_features_in_the_join_is_reported_not_filled() -> None:
    rows = retrieved_rows()
    rows.loc[rows.index[0], "log_return"] = np.nan
    with pytest.raises(UnusableFeaturesError, match="2024-01-04"):
        frame_from_historical("AAPL", rows, store_path=STORE)


def test_errors_survive_pickling_with_their_message() -> None:
    errors: list[DataError] = [
        FeatureStoreEmpty("AAPL", STORE, online="sqlite"),
        UnusableFeaturesError("AAPL", STORE, "too short", online="sqlite"),
        FeatureIngestionError("AAPL", "csv:dir", "file missing", STORE),
    ]
    for error in errors:
        restored = pickle.loads(pickle.dumps(error))
        assert type(restored) is type(error)
        assert str(restored) == str(error)


def test_ingestion_error_says_the_store_was_left_unchanged() -> None:
    message = str(FeatureIngestionError("AAPL", "yfinance", "Yahoo unreachable", STORE))
    assert message.startswith("AAPL (yfinance): Yahoo unreachable")
    assert "feature store store-dir left unchanged" in message
