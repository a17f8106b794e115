"""A pooled parent: other tickers train it up to its own cut-off, scaled by their own statistics."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from stockops.model.bundle import ModelBundle
from stockops.model.config import ModelConfig, TrainingConfig
from stockops.model.experiment import ExperimentDataError, run_experiment
from stockops.model.pooling import pooled_part, with_pool

COLUMNS = ("ret", "noise")
MODEL = ModelConfig(hidden_size=6, num_layers=1, dropout=0.0, context_days=10, horizon_days=2)
TRAIN = TrainingConfig(epochs=2, batch_size=64, num_threads=1, refit=False)


def _frame(seed: int, days: int = 360, first_day: str = "2018-01-01", vol: float = 0.01) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ret = rng.normal(0.0003, vol, days)
    index = pd.bdate_range(first_day, periods=days, name="date")
    return pd.DataFrame(
        {"close": 100 * np.exp(np.cumsum(ret)), "ret": ret, "noise": rng.normal(size=days)}, index=index
    )


def test_a_pooled_ticker_contributes_windows_ending_by_the_cutoff_scaled_by_its_own_rows() -> None:
    frame = _frame(3, vol=0.05)  # five times the parent's volatility
    cutoff = date(2018, 6, 29)
    part = pooled_part("TSLA", frame, COLUMNS, 10, 2, cutoff)

    last_targets = frame.index[np.arange(9, 9 + part.refit[0].shape[0]) + 2]
    expected = int(np.sum(np.asarray(last_targets.date) <= cutoff))
    assert part.train[0].shape == (expected, 10, 2) and part.refit[0].shape[0] > expected
    # standardised by its own statistics: unit scale whatever the ticker's volatility
    assert np.std(part.train[1]) == pytest.approx(1.0, rel=0.15)
    assert np.std(part.train[0][:, -1, 0]) == pytest.approx(1.0, rel=0.15)

    own = (np.zeros((4, 10, 2), np.float32), np.zeros((4, 2), np.float32))
    x, y = with_pool(own, [part], "train")
    assert x.shape[0] == 4 + expected and y.dtype == np.float32


def test_a_pooled_parent_keeps_its_split_and_cutoffs_and_records_the_pool(tmp_path: Path) -> None:
    own = _frame(0)
    alone = run_experiment(
        own, ticker="^GSPC", feature_columns=COLUMNS, model_cfg=MODEL, train_cfg=TRAIN, synthetic=True
    )
    pooled = run_experiment(
        own,
        ticker="^GSPC",
        feature_columns=COLUMNS,
        model_cfg=MODEL,
        train_cfg=TRAIN,
        synthetic=True,
        pool={"AAA": _frame(1, days=500, first_day="2017-01-02"), "BBB": _frame(2)},
    )
    assert pooled.split == alone.split  # validation, calibration and test: the parent's own days
    assert pooled.bundle.eval_weights_end == alone.bundle.eval_weights_end
    assert pooled.report.n_windows == alone.report.n_windows
    weights = pooled.bundle.state_dict
    assert not all(torch.equal(weights[k], alone.bundle.state_dict[k]) for k in weights)  # it trained on more
    assert ModelBundle.load(pooled.bundle.save(tmp_path / "b")).pool_tickers == ("AAA", "BBB")
    with pytest.raises(ValueError, match="only a parent can be pooled"):  # refused before any training
        run_experiment(
            own, ticker="AAPL", feature_columns=COLUMNS, synthetic=True, parent=alone.bundle, pool={"X": own}
        )


def test_a_pool_frame_with_nothing_before_the_cutoff_is_named() -> None:
    late = _frame(4, first_day="2024-01-01")  # starts after the parent's training cut-off
    with pytest.raises(ExperimentDataError, match="pooled ticker LATE has no window"):
        run_experiment(
            _frame(0),
            ticker="^GSPC",
            feature_columns=COLUMNS,
            model_cfg=MODEL,
            train_cfg=TRAIN,
            synthetic=True,
            pool={"LATE": late},
        )
