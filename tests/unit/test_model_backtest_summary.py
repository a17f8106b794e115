"""The walk-forward summary maths on a case small enough to check by hand."""

from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from stockops.model.backtest_summary import (
    FoldResult,
    WalkForwardSummary,
    aggregate_skill,
    trading_backtest,
)
from stockops.model.evaluation import SplitPredictions
from stockops.model.trading import performance

DAYS = pd.bdate_range("2024-01-01", periods=5)


def _predictions(rows: range, predicted: list[float], actual: list[float]) -> SplitPredictions:
    pred = np.array(predicted)[:, None]
    return SplitPredictions(
        anchor_dates=DAYS[rows.start : rows.stop],
        target_dates=DAYS.to_numpy()[[min(i + 1, 4) for i in rows]][:, None],
        last_close=np.full(len(rows), 100.0),
        predicted=pred,
        actual=np.array(actual)[:, None],
        low=pred - 1.5,
        high=pred + 1.5,
    )


# Three folds, horizon 1, every last close 100. Moves predicted: +1, -1 | 0, +1 | 0; realised: +2, +1 |
# -1, 0 | 0.
FORECASTS = [
    _predictions(range(0, 2), [101.0, 99.0], [102.0, 101.0]),
    _predictions(range(2, 4), [100.0, 101.0], [99.0, 100.0]),
    _predictions(range(4, 5), [100.0], [100.0]),
]


def _fold(number: int, skill: float) -> FoldResult:
    day = date(2024, 1, number)
    return FoldResult(
        fold=number, data_start=day, train_end=day, val_end=day, test_start=day, test_end=day,
        last_target=day, train_windows=100, n_windows=2, skill=skill, skill_vs_drift=skill - 0.1,
    )  # fmt: skip


FOLDS = [_fold(1, 0.1), _fold(2, -0.2), _fold(3, 0.0)]


def test_fold_statistics_and_pooled_skill_by_hand() -> None:
    agg = aggregate_skill(FOLDS, FORECASTS, seed=0, reps=200)

    assert agg.median_skill == 0.0 and agg.mean_skill == pytest.approx(-0.1 / 3)
    assert (agg.min_skill, agg.max_skill) == (-0.2, 0.1)
    assert agg.positive_fraction == pytest.approx(2 / 3)  # a skill of exactly 0 counts: not worse
    assert agg.median_skill_vs_drift == pytest.approx(-0.1)
    # squared errors: model 1 + 4 + 1 + 1 + 0 = 7, random walk 4 + 1 + 1 + 0 + 0 = 6
    assert agg.pooled_skill == pytest.approx(1 - math.sqrt(7 / 6))
    assert agg.pooled_skill_ci_low is not None and agg.pooled_skill_ci_high is not None
    assert agg.pooled_skill_ci_low <= agg.pooled_skill_ci_high
    # coverage of [pred - 1.5, pred + 1.5]: 102 in, 101 out, 99 in, 100 in, 100 in
    assert agg.interval_coverage == pytest.approx(4 / 5)
    # direction scored where both moves are non-zero: windows 1 (hit) and 2 (miss)
    assert (agg.directional_accuracy, agg.directional_count) == (0.5, 2)
    assert agg.up_rate == pytest.approx(2 / 3)  # moves +2, +1, -1 (two unmoved windows not counted)
    assert agg.n_windows == 5


def test_long_flat_trading_over_the_folds_by_hand() -> None:
    trading = trading_backtest(FORECASTS, cost=0.001)

    positions = np.array([1.0, 0.0, 0.0, 1.0, 0.0])  # long only after an up forecast
    # day returns +2 %, +1 %, -1 %, 0, 0; a trade costs 0.1 % on each of the 4 position changes
    strategy = np.array([0.019, -0.001, 0.0, -0.001, -0.001])
    buy_hold = np.array([0.019, 0.01, -0.01, 0.0, 0.0])
    assert trading.strategy.model_dump() == pytest.approx(performance(strategy, positions).model_dump())
    assert trading.buy_hold.model_dump() == pytest.approx(performance(buy_hold, np.ones(5)).model_dump())
    assert trading.exposure == pytest.approx(0.4)
    assert (trading.start, trading.end) == (DAYS[0].date(), DAYS[-1].date())
    assert trading.strategy.days == 5


def test_a_model_without_edge_stays_flat_and_has_no_sharpe() -> None:
    flat = [_predictions(range(0, 5), [100.0] * 5, [101.0, 102.0, 99.0, 100.0, 103.0])]
    trading = trading_backtest(flat, cost=0.001)
    assert trading.exposure == 0.0 and trading.strategy.sharpe is None
    assert trading.strategy.annual_return == 0.0 and trading.buy_hold.sharpe is not None


def test_folds_out_of_order_are_refused() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        trading_backtest([FORECASTS[1], FORECASTS[0]], cost=0.0)
    with pytest.raises(ValueError, match="one forecast set per fold"):
        aggregate_skill(FOLDS[:2], FORECASTS, seed=0)


def test_compact_summary_is_small_and_rounded() -> None:
    summary = WalkForwardSummary(
        ticker="AAPL", kind="scratch", synthetic=False, folds=3, tail_fraction=0.5, fold_windows=2,
        context_days=60, horizon_days=1, seed=0, per_fold=FOLDS,
        aggregate=aggregate_skill(FOLDS, FORECASTS, seed=0, reps=200),
        trading=trading_backtest(FORECASTS, cost=0.001),
    )  # fmt: skip
    compact = summary.compact()
    assert compact["folds"] == 3 and compact["positive_fraction"] == 0.6667
    assert compact["median_skill"] == 0.0 and compact["test_start"] == "2024-01-01"
    assert compact["pooled_skill"] == round(1 - math.sqrt(7 / 6), 4)
    assert "sharpe" in compact and "buy_hold_sharpe" in compact
    from stockops.operator import termination

    status_keys = {
        **termination._BACKTEST_KEYS,
        **termination._BACKTEST_COUNTS,
        **termination._BACKTEST_DATES,
    }
    assert set(compact) == set(status_keys)  # every figure of the message reaches the CR status
    assert len(json.dumps(compact, separators=(",", ":"))) < 700
    fold_rows = summary.fold_metrics()
    assert [r["skill"] for r in fold_rows] == [0.1, -0.2, 0.0]
    flat = summary.summary_metrics()
    assert flat["strategy_sharpe"] == summary.trading.strategy.sharpe
    assert flat["folds"] == 3.0 and all(isinstance(v, float) for v in flat.values())
