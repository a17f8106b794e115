"""The forecast fan chart: paths joined at the as-of close, the no-edge title, and a real PNG."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockops.model.forecasting import Forecast, ForecastPoint
from stockops.model.plots_forecast import fan_chart_title, fan_paths, plot_forecast_fan

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FORECAST_DATES = (date(2024, 3, 28), date(2024, 4, 1), date(2024, 4, 2))  # Good Friday skipped


def _history(last_close: float = 100.0, n: int = 80) -> pd.Series:
    index = pd.bdate_range(end="2024-03-27", periods=n)
    walk = np.exp(np.cumsum(np.random.default_rng(1).normal(0.0, 0.01, n)))
    return pd.Series(last_close * walk / walk[-1], index=index)


def _forecast(*, interval: bool = True, synthetic: bool = False) -> Forecast:
    closes = (101.0, 102.0, 103.0)
    points = [
        ForecastPoint(
            date=d, close=c, low=c - 2.0 * k if interval else None, high=c + 2.0 * k if interval else None
        )
        for k, (d, c) in enumerate(zip(FORECAST_DATES, closes, strict=True), start=1)
    ]
    return Forecast(
        ticker="AAPL",
        as_of=date(2024, 3, 27),
        last_close=100.0,
        points=points,
        naive=[ForecastPoint(date=d, close=100.0) for d in FORECAST_DATES],
        synthetic=synthetic,
    )


def test_every_path_starts_at_the_as_of_close_on_one_session_axis() -> None:
    history = _history()
    fan = fan_paths(history, _forecast())
    assert fan.n_history == 80 and len(fan.dates) == 83
    assert fan.dates[-3:] == FORECAST_DATES and fan.dates[79] == date(2024, 3, 27)
    np.testing.assert_allclose(fan.median, [100.0, 101.0, 102.0, 103.0])
    np.testing.assert_allclose(fan.naive, [100.0] * 4)
    assert fan.low is not None and fan.high is not None
    np.testing.assert_allclose(fan.low, [100.0, 99.0, 98.0, 97.0])
    np.testing.assert_allclose(fan.high - fan.low, [0.0, 4.0, 8.0, 12.0])  # the band opens from zero
    np.testing.assert_array_equal(fan.forecast_x, [79, 80, 81, 82])


def test_a_model_without_interval_has_no_band() -> None:
    fan = fan_paths(_history(), _forecast(interval=False))
    assert fan.low is None and fan.high is None


def test_history_must_end_where_the_forecast_starts() -> None:
    with pytest.raises(ValueError, match="history ends on 2024-03-26"):
        fan_paths(_history().iloc[:-1], _forecast())
    with pytest.raises(ValueError, match="no closes"):
        fan_paths(_history().iloc[:0], _forecast())


def test_title_says_no_edge_and_synthetic() -> None:
    plain = fan_chart_title(_forecast(), no_edge=False, version="4")
    assert plain.startswith("AAPL v4: 3-session forecast from 2024-03-27")
    assert "no edge" not in plain and "SYNTHETIC" not in plain
    flagged = fan_chart_title(_forecast(synthetic=True), no_edge=True)
    assert "no edge over the random walk" in flagged and "SYNTHETIC DATA" in flagged


@pytest.mark.parametrize("interval", [True, False])
def test_fan_chart_is_a_png(tmp_path: Path, interval: bool) -> None:
    path = plot_forecast_fan(
        _history(), _forecast(interval=interval), tmp_path / "deep" / "fan.png", no_edge=not interval
    )
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 20_000
    assert [p.name for p in path.parent.iterdir()] == ["fan.png"]  # no temp file left behind
