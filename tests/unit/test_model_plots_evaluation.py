"""The test-split charts write real PNGs, for informative, constant and short forecasts alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockops.model.evaluation import SplitPredictions
from stockops.model.plots_evaluation import plot_return_scatter, plot_rolling_skill

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _split(n: int, horizon: int, *, constant: bool = False) -> SplitPredictions:
    rng = np.random.default_rng(7)
    true = np.cumsum(rng.normal(0.0, 0.01, (n, horizon)), axis=1)
    pred = np.zeros_like(true) if constant else 0.4 * true + rng.normal(0.0, 0.003, true.shape)
    last = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    anchors = pd.bdate_range("2021-06-01", periods=n)
    targets = np.stack([anchors.shift(k + 1).to_numpy() for k in range(horizon)], axis=1)
    return SplitPredictions(
        anchors, targets, last, last[:, None] * np.exp(pred), last[:, None] * np.exp(true)
    )


def _assert_png(path: Path, min_bytes: int = 20_000) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > min_bytes
    assert not list(path.parent.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("n", "horizon", "constant"), [(300, 5, False), (300, 7, False), (120, 1, False), (150, 5, True)]
)
def test_return_scatter_is_a_png(tmp_path: Path, n: int, horizon: int, constant: bool) -> None:
    path = plot_return_scatter(_split(n, horizon, constant=constant), tmp_path / "a" / "s.png", title="T")
    _assert_png(path)


@pytest.mark.parametrize(("n", "horizon", "constant"), [(300, 5, False), (40, 1, False), (200, 3, True)])
def test_rolling_skill_is_a_png(tmp_path: Path, n: int, horizon: int, constant: bool) -> None:
    path = plot_rolling_skill(
        _split(n, horizon, constant=constant), tmp_path / "r.png", title="T", train_drift=0.0003, window=60
    )
    _assert_png(path)
