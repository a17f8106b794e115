"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
from pathlib import Path

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
