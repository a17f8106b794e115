"""The CLI's read caches against the real embedded stores: never a stale answer after a write."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from stockops.config import Settings
from stockops.data.sources import CsvSource
from stockops.feature_access import forecast_window, open_feature_store, refresh
from stockops.registry.local_cache import cached_forecast_bundle, cached_metrics

pytestmark = pytest.mark.component


def test_the_production_alias_follows_a_new_registration(register_small_model: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    first = register_small_model("MSFT", home=home)
    bundle, version = cached_forecast_bundle(settings, "stockops-msft")
    assert version == first.model_version
    assert cached_metrics(settings, "stockops-msft")["model_version"] == first.model_version
    assert any((home / "cache" / "registry").iterdir())  # the answer was kept
    again, same = cached_forecast_bundle(settings, "stockops-msft")  # served from the cache
    assert same == version and again.feature_spec == bundle.feature_spec

    second = register_small_model("MSFT", home=home)  # writes the SQLite store: the cache is void
    assert second.model_version != first.model_version
    assert cached_forecast_bundle(settings, "stockops-msft")[1] == second.model_version
    assert cached_metrics(settings, "stockops-msft")["model_version"] == second.model_version
    assert cached_metrics(settings, "stockops-msft", version=first.model_version)["model_version"] == (
        first.model_version
    )


def test_a_cached_window_is_replaced_when_new_prices_are_ingested(ohlcv_dir: Path, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", data_source=f"csv:{ohlcv_dir}")
    store = open_feature_store(settings)
    source = CsvSource(ohlcv_dir)
    refresh("AAPL", source, store, start=date(2022, 1, 1), end=date(2023, 6, 30))
    columns = ("log_return", "rsi_norm")
    early = forecast_window("AAPL", columns, 20, settings)
    assert early.as_of <= date(2023, 6, 30)
    assert forecast_window("AAPL", columns, 20, settings).as_of == early.as_of  # cached, same answer

    refresh("AAPL", source, store, start=date(2022, 1, 1), end=None)
    late = forecast_window("AAPL", columns, 20, settings)
    assert late.as_of > date(2023, 6, 30)
    assert late.data_source == "csv:AAPL.csv" and late.window.shape == (20, 2)


def test_against_a_tracking_server_the_forecast_bundle_is_fetched_every_time(
    register_small_model: Any, mlflow_server: str, tmp_path: Path
) -> None:
    import numpy as np

    from stockops.registry.loading import load_bundle

    home = tmp_path / "home"
    settings = Settings(home=home, mlflow_tracking_uri=mlflow_server)
    summary = register_small_model("AAPL", home=home, tracking_uri=mlflow_server)
    light, version = cached_forecast_bundle(settings, "stockops-aapl")
    assert version == summary.model_version
    assert not (home / "cache" / "registry").exists()  # a server's changes are invisible here: no cache
    full, _ = load_bundle("stockops-aapl", version, tracking_uri=mlflow_server)
    spec = full.feature_spec
    window = np.random.default_rng(0).normal(size=(1, spec.context_days, spec.n_features))
    np.testing.assert_allclose(
        light.predict_log_returns(window), full.predict_log_returns(window), rtol=1e-4, atol=1e-8
    )
