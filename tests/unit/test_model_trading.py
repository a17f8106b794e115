"""Long/flat on the forecast sign with costs, against hand-computed series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stockops.model.trading import long_flat_positions, max_drawdown, performance, strategy_returns


def test_positions_are_long_only_on_an_up_forecast_and_flat_without_one() -> None:
    np.testing.assert_array_equal(long_flat_positions(np.array([0.01, 0.0, -0.02, 1e-9])), [1, 0, 0, 1])


def test_net_returns_charge_the_cost_on_every_position_change() -> None:
    positions = np.array([1.0, 1.0, 0.0, 1.0])
    realised = np.array([0.02, -0.01, 0.05, 0.01])
    # enter (cost), hold, exit (cost, flat so no return), re-enter (cost)
    expected = [0.02 - 0.001, -0.01, -0.001, 0.01 - 0.001]
    np.testing.assert_allclose(strategy_returns(positions, realised, cost=0.001), expected)


def test_max_drawdown_of_a_hand_computed_equity_curve() -> None:
    # equity 1.1, 0.99, 1.188, 0.9504: the worst fall is from 1.188 to 0.9504 (-20 %)
    assert max_drawdown(np.array([0.1, -0.1, 0.2, -0.2])) == pytest.approx(-0.2)
    assert max_drawdown(np.array([0.01, 0.02])) == 0.0


def test_performance_annualises_return_volatility_sharpe_and_turnover() -> None:
    r = np.array([0.01, -0.01, 0.02, 0.0])
    m = performance(r, positions=np.array([1.0, 1.0, 0.0, 0.0]), periods=4)

    assert m.annual_return == pytest.approx(1.01 * 0.99 * 1.02 - 1.0)  # 4 days = one "year" here
    sd = float(np.std(r, ddof=1))
    assert m.annual_volatility == pytest.approx(sd * 2.0)
    assert m.sharpe == pytest.approx(np.mean(r) * 4 / (sd * 2.0))
    assert m.turnover == pytest.approx((1 + 0 + 1 + 0) / 4 * 4)  # one entry, one exit
    assert m.days == 4 and m.max_drawdown == pytest.approx(-0.01)


def test_an_always_flat_strategy_has_no_sharpe_and_no_return() -> None:
    m = performance(strategy_returns(np.zeros(5), np.full(5, 0.01)), positions=np.zeros(5))
    assert m.sharpe is None and m.annual_return == 0.0 and m.turnover == 0.0
    assert math.isclose(m.annual_volatility, 0.0)
