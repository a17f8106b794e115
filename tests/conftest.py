"""Fixtures shared by every test tier.

``register_small_model`` (session): a function that trains a tiny model (one epoch, 8 LSTM units,
recent data) through the real pipeline (`stockops.pipeline.train_and_register`) into a given registry
and promotes it to ``production``; returns the `TrainingSummary`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _ohlcv_dir() -> Path:
    configured = os.environ.get("STOCKOPS_TEST_DATA_DIR")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data" / "ohlcv"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def ohlcv_dir() -> Path:
    """Real daily OHLCV (Yahoo, adjusted), read in place; never copied into the repo."""
    path = _ohlcv_dir()
    if not (path / "GSPC.csv").is_file():
        pytest.fail(
            f"real OHLCV data not found in {path}: set STOCKOPS_TEST_DATA_DIR to the folder with GSPC.csv"
        )
    return path


@pytest.fixture
def stockops_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated STOCKOPS_HOME so no test touches the user's ~/.stockops."""
    home = tmp_path / "stockops-home"
    monkeypatch.setenv("STOCKOPS_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return home


@pytest.fixture(scope="session")
def register_small_model(ohlcv_dir: Path) -> Callable[..., Any]:
    """``register(ticker, *, home, tracking_uri=None, context_days=20, horizon_days=5)`` -> summary.

    ``tracking_uri`` None registers into the embedded SQLite store under ``home`` (what `stockops serve`
    reads); otherwise into that server. Real AAPL-style CSV data from ``ohlcv_dir``, from 2021 on.
    """

    def register(
        ticker: str = "AAPL",
        *,
        home: Path,
        tracking_uri: str | None = None,
        context_days: int = 20,
        horizon_days: int = 5,
    ) -> Any:
        from stockops.config import Settings
        from stockops.model.config import ModelConfig, TrainingConfig
        from stockops.pipeline import TrainRequest, train_and_register

        source = f"csv:{ohlcv_dir}"
        settings = Settings(home=home, data_source=source, mlflow_tracking_uri=tracking_uri)
        request = TrainRequest(
            ticker=ticker,
            kind="parent",
            source=source,
            start=date(2021, 1, 1),
            model=ModelConfig(
                hidden_size=8, num_layers=1, context_days=context_days, horizon_days=horizon_days
            ),
            training=TrainingConfig(epochs=1, batch_size=64, num_threads=1, refit=False),
            min_skill=-100.0,
        )
        summary = train_and_register(request, settings, output_dir=home / "outputs")
        assert summary.promoted, summary.promotion_reason
        return summary

    return register
