"""The predictor's latest-window source against real parts: the Feast store (SQLite online store) filled
by the real ingestion from real CSV prices. Serving must see exactly the features training computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stockops.config import Settings
from stockops.data.features import MODEL_FEATURES, compute_features
from stockops.data.sources import source_from_string
from stockops.predictor.windows import FeatureStoreWindowProvider, WindowUnavailableError

pytestmark = pytest.mark.component

CONTEXT = 60
COLUMNS = tuple(MODEL_FEATURES)


@pytest.fixture(scope="module")
def settings(ohlcv_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """An empty store under a temp home; the provider ingests what it has not seen."""
    return Settings(home=tmp_path_factory.mktemp("feast-home"), data_source=f"csv:{ohlcv_dir}")


def test_window_of_a_new_ticker_is_ingested_and_equals_features_from_prices(settings: Settings) -> None:
    found = FeatureStoreWindowProvider(settings).latest_window("AAPL", COLUMNS, CONTEXT)
    history = source_from_string(settings.data_source).fetch("AAPL")
    expected = compute_features(history.frame).iloc[-CONTEXT:]
    assert found.as_of == expected.index[-1].date()
    assert found.last_close == pytest.approx(float(expected["close"].iloc[-1]))
    np.testing.assert_allclose(found.window, expected[list(COLUMNS)].to_numpy(), rtol=1e-5, atol=1e-6)
    assert found.window.dtype == np.float64 and found.window.shape == (CONTEXT, len(COLUMNS))
    assert found.source.endswith("AAPL.csv") and found.synthetic is False


def test_window_columns_follow_the_model_feature_order(settings: Settings) -> None:
    provider = FeatureStoreWindowProvider(settings)
    reordered = tuple(reversed(COLUMNS))
    straight = provider.latest_window("AAPL", COLUMNS, CONTEXT).window
    backwards = provider.latest_window("AAPL", reordered, CONTEXT).window
    np.testing.assert_array_equal(backwards, straight[:, ::-1])


def test_ticker_without_prices_is_an_unavailable_window_naming_it(settings: Settings) -> None:
    with pytest.raises(WindowUnavailableError, match="NOPE"):
        FeatureStoreWindowProvider(settings).latest_window("NOPE", COLUMNS, CONTEXT)


def test_malformed_data_source_fails_when_the_provider_is_built(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="csv"):
        FeatureStoreWindowProvider(Settings(home=tmp_path, data_source="ftp://prices"))
