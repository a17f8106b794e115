"""Realised error of served forecasts on hand-made paths whose numbers are known."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from stockops.monitoring.realised import (
    LiveVerdict,
    RecordedForecast,
    latest_per_day,
    realised_error,
)

D0 = date(2024, 1, 1)


def day(i: int) -> date:
    return D0 + timedelta(days=i)


def forecast(
    i: int, closes: tuple[float, ...], *, last: float = 100.0, band: float = 3.0, version: str = "1"
) -> RecordedForecast:
    return RecordedForecast(
        ticker="AAPL",
        model_version=version,
        as_of=day(i),
        last_close=last,
        dates=tuple(day(i + h + 1) for h in range(len(closes))),
        closes=closes,
        lows=tuple(c - band for c in closes),
        highs=tuple(c + band for c in closes),
    )


def test_known_values_on_one_forecast() -> None:
    result = realised_error(
        [forecast(0, (101.0, 102.0), band=1.5)], {day(1): 102.0, day(2): 104.0}, min_forecasts=1
    )
    # model errors 1, 2 -> squares 1, 4; random walk errors 2, 4 -> squares 4, 16
    assert result.rmse == pytest.approx(np.sqrt(5 / 2)) and result.naive_rmse == pytest.approx(np.sqrt(10))
    assert result.skill == pytest.approx(0.5)
    # 102 inside [99.5, 102.5]; 104 outside [100.5, 103.5]
    assert result.coverage == 0.5 and result.coverage_count == 2
    assert result.directional_accuracy == 1.0 and result.directional_count == 2
    assert (result.n_forecasts, result.n_points) == (1, 2)
    assert result.verdict is LiveVerdict.OK


def test_only_matured_steps_count() -> None:
    result = realised_error([forecast(0, (101.0, 102.0))], {day(1): 102.0}, min_forecasts=1)
    assert result.n_points == 1 and result.skill == pytest.approx(0.5)  # |101-102| vs |100-102|


def test_a_forecast_served_twice_counts_once_with_its_last_answer() -> None:
    kept = latest_per_day([forecast(0, (150.0,)), forecast(0, (101.0,)), forecast(1, (99.0,))])
    assert [f.closes for f in kept] == [(101.0,), (99.0,)]
    result = realised_error([forecast(0, (150.0,)), forecast(0, (101.0,))], {day(1): 102.0}, min_forecasts=1)
    assert result.n_forecasts == 1 and result.rmse == pytest.approx(1.0)


def test_the_longest_answer_of_a_day_is_kept() -> None:
    kept = latest_per_day([forecast(0, (101.0, 102.0)), forecast(0, (101.0,))])
    assert [f.closes for f in kept] == [(101.0, 102.0)]


def test_only_the_named_version_is_scored() -> None:
    forecasts = [forecast(0, (101.0,), version="1"), forecast(1, (150.0,), version="2")]
    actual = {day(1): 102.0, day(2): 102.0}
    result = realised_error(forecasts, actual, model_version="1", min_forecasts=1)
    assert result.n_forecasts == 1 and result.rmse == pytest.approx(1.0)


def test_direction_is_scored_only_where_the_model_calls_a_move() -> None:
    forecasts = [forecast(0, (100.0,)), forecast(1, (101.0,)), forecast(2, (99.0,))]
    actual = {day(1): 105.0, day(2): 95.0, day(3): 98.0}  # no call, wrong, right
    result = realised_error(forecasts, actual, min_forecasts=1)
    assert result.directional_count == 2 and result.directional_accuracy == 0.5


def test_window_keeps_the_newest_matured_forecasts() -> None:
    forecasts = [forecast(i, (101.0,)) for i in range(20)]
    actual = {day(i + 1): 101.0 for i in range(20)}
    result = realised_error(forecasts, actual, window=5, min_forecasts=1)
    assert result.n_forecasts == 5 and result.first_as_of == day(15).isoformat()
    assert result.last_as_of == day(19).isoformat()


def _series(n: int, model_error: float, seed: int) -> tuple[list[RecordedForecast], dict[date, float]]:
    rng = np.random.default_rng(seed)
    actual = 100.0 + np.cumsum(rng.normal(0, 1, n + 2))
    forecasts, closes = [], {}
    for i in range(n):
        last, nxt = float(actual[i]), float(actual[i + 1])
        closes[day(i + 1)] = nxt
        predicted = nxt + model_error * rng.normal()  # error scale relative to a unit random-walk step
        forecasts.append(forecast(i, (predicted,), last=last, band=1.3 * max(model_error, 0.1)))
    return forecasts, closes


def test_a_model_far_worse_than_the_walk_is_degraded() -> None:
    forecasts, closes = _series(120, model_error=3.0, seed=1)
    result = realised_error(forecasts, closes, window=120, reps=500)
    assert result.skill is not None and result.skill < 0
    assert result.skill_ci_high is not None and result.skill_ci_high < 0
    assert result.verdict is LiveVerdict.DEGRADED and result.degraded
    assert result.to_dict()["degraded"] is True


def test_a_model_better_than_the_walk_is_not_degraded() -> None:
    forecasts, closes = _series(120, model_error=0.3, seed=2)
    result = realised_error(forecasts, closes, window=120, reps=500)
    assert result.skill_ci_low is not None and result.skill_ci_low > 0
    assert result.verdict is LiveVerdict.OK
    assert 0.5 < (result.coverage or 0) <= 1.0


def test_too_few_matured_forecasts_is_insufficient_data() -> None:
    forecasts = [forecast(i, (101.0,)) for i in range(15)]
    actual = {day(i + 1): 101.0 for i in range(3)}  # only three have matured
    result = realised_error(forecasts, actual)
    assert result.verdict is LiveVerdict.INSUFFICIENT_DATA and result.skill is None
    assert result.message == "3 matured forecasts (at least 10 needed)"


def test_a_predictor_answer_reads_back_as_a_recorded_forecast() -> None:
    from stockops.predictor.responses import AnswerContext, build_answer

    answer = build_answer(
        AnswerContext("AAPL", "stockops-aapl", "3", synthetic=False, data_source="csv"),
        as_of=day(0),
        last_close=100.0,
        dates=[day(1), day(2)],
        closes=[101.0, 102.0],
        risk=None,
        realized_volatility=None,
        lows=[99.0, None],
        highs=[103.0, None],
    )
    recorded = RecordedForecast.from_answer(answer)
    assert recorded.model_version == "3" and recorded.as_of == day(0)
    assert recorded.dates == (day(1), day(2)) and recorded.closes == (101.0, 102.0)
    assert recorded.lows == (99.0, None) and recorded.highs == (103.0, None)
