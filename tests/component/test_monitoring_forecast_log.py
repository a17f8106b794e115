"""Served answers recorded in a real Redis stream, read back for realised-error monitoring; a dead Redis
never fails a forecast."""

from __future__ import annotations

import uuid
from datetime import date

import numpy as np
import pytest
import torch

from stockops.data.features import FEATURE_SET_VERSION, MODEL_FEATURES
from stockops.model.bundle import FeatureSpec, ModelBundle
from stockops.model.config import ModelConfig
from stockops.model.network import LSTMForecaster
from stockops.model.scaling import StandardScaler
from stockops.monitoring.forecast_log import RedisForecastLog, stream_key
from stockops.monitoring.realised import RecordedForecast, realised_error
from stockops.predictor.forecaster import Forecaster
from stockops.predictor.requests import LatestQuery, WindowQuery
from stockops.predictor.windows import FeatureWindow

pytestmark = pytest.mark.component

CONTEXT, HORIZON = 8, 3
AS_OF = date(2024, 5, 31)  # a Friday


def tiny_bundle() -> ModelBundle:
    torch.manual_seed(0)
    config = ModelConfig(hidden_size=4, num_layers=1, context_days=CONTEXT, horizon_days=HORIZON)
    n = len(MODEL_FEATURES)
    rng = np.random.default_rng(0)
    return ModelBundle(
        ticker="AAPL",
        model_config=config,
        feature_spec=FeatureSpec(MODEL_FEATURES, FEATURE_SET_VERSION, CONTEXT, HORIZON),
        feature_scaler=StandardScaler.fit(rng.normal(size=(50, n))),
        target_scaler=StandardScaler.fit(rng.normal(scale=0.01, size=(50, HORIZON))),
        state_dict=LSTMForecaster(n, config).state_dict(),
        synthetic=False,
    )


def window() -> np.ndarray:
    return np.random.default_rng(1).normal(scale=0.01, size=(CONTEXT, len(MODEL_FEATURES)))


class StoredWindow:
    def __init__(self) -> None:
        self.as_of = AS_OF

    def latest_window(self, ticker: str, columns: tuple[str, ...], context_days: int) -> FeatureWindow:
        return FeatureWindow(window(), self.as_of, 100.0, "csv:AAPL.csv", False)


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return tiny_bundle()


def served(bundle: ModelBundle, log: RedisForecastLog, name: str) -> tuple[Forecaster, StoredWindow]:
    provider = StoredWindow()
    core = Forecaster(
        bundle, model_name=name, model_version="7", provider=provider, cache=None, forecast_log=log
    )
    return core, provider


def test_each_days_forecast_is_recorded_once_and_reads_back(
    bundle: ModelBundle, running_redis: object
) -> None:
    import redis

    name = f"stockops-test-{uuid.uuid4().hex[:8]}"
    log = RedisForecastLog(running_redis.url)  # type: ignore[attr-defined]
    core, provider = served(bundle, log, name)
    (first,), _ = core.answer([LatestQuery(days=3)])
    core.answer([LatestQuery(days=3)])  # same day again: not recorded twice
    core.answer([WindowQuery(days=3, window=window(), as_of=AS_OF, last_close=100.0)])  # a what-if
    provider.as_of = date(2024, 6, 3)
    (second,), _ = core.answer([LatestQuery(days=3)])

    assert redis.Redis.from_url(running_redis.url).xlen(stream_key(name)) == 2  # type: ignore[attr-defined]
    recorded = log.forecasts(name)
    assert recorded == [RecordedForecast.from_answer(first), RecordedForecast.from_answer(second)]
    assert recorded[0].as_of == AS_OF and len(recorded[0].dates) == 3
    assert log.forecasts(name, model_version="8") == []


def test_realised_error_from_the_stream_matches_the_served_paths(
    bundle: ModelBundle, running_redis: object
) -> None:
    name = f"stockops-test-{uuid.uuid4().hex[:8]}"
    log = RedisForecastLog(running_redis.url)  # type: ignore[attr-defined]
    core, provider = served(bundle, log, name)
    answers = []
    for offset in range(12):
        provider.as_of = date(2024, 1, 1 + offset)
        (answer,), _ = core.answer([LatestQuery(days=3)])
        answers.append(answer)
    actual = {date(2024, 1, 2 + d): 100.0 + d for d in range(29)}
    from_stream = realised_error(log.forecasts(name), actual, reps=200)
    in_memory = realised_error([RecordedForecast.from_answer(a) for a in answers], actual, reps=200)
    assert from_stream == in_memory and from_stream.n_forecasts == 12


def test_a_dead_redis_skips_recording_and_never_fails_a_forecast(
    bundle: ModelBundle, running_redis: object
) -> None:
    now = [0.0]
    name = f"stockops-test-{uuid.uuid4().hex[:8]}"
    log = RedisForecastLog(running_redis.url, retry_after_seconds=5.0, clock=lambda: now[0])  # type: ignore[attr-defined]
    core, _ = served(bundle, log, name)
    running_redis.kill()  # type: ignore[attr-defined]
    try:
        (answer,), _ = core.answer([LatestQuery(days=2)])
        assert len(answer["forecast"]) == 2
        assert log.record(answer) is False  # within the retry pause: not even tried
    finally:
        running_redis.start()  # type: ignore[attr-defined]
    now[0] = 10.0
    (answer,), _ = core.answer([LatestQuery(days=2)])  # this day was never recorded: tried again
    assert [f.as_of for f in log.forecasts(name)] == [AS_OF]
