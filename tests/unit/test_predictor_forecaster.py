"""The serving core with a tiny real model: cache tiers, answer contents, windows sent vs stored.

The Redis tier is played by an in-memory dict implementing the cache protocol (real Redis, killed and
restarted, is in tests/component/test_predictor_server.py); the model and the forecast code are real.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np
import pytest
import torch

from stockops.data.features import FEATURE_SET_VERSION, MODEL_FEATURES
from stockops.model.bundle import FeatureSpec, ModelBundle
from stockops.model.config import ModelConfig
from stockops.model.network import LSTMForecaster
from stockops.model.scaling import StandardScaler
from stockops.predictor.cache import LocalPredictionCache
from stockops.predictor.forecaster import Forecaster
from stockops.predictor.requests import LatestQuery, WindowQuery
from stockops.predictor.windows import FeatureWindow

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


def window(seed: int = 1) -> np.ndarray:
    values = np.random.default_rng(seed).normal(scale=0.01, size=(CONTEXT, len(MODEL_FEATURES)))
    values[:, MODEL_FEATURES.index("log_return")] = [0.03, -0.03] * (CONTEXT // 2)  # ~48 % annualised
    return values


class StoredWindow:
    def __init__(self) -> None:
        self.reads = 0

    def latest_window(self, ticker: str, columns: tuple[str, ...], context_days: int) -> FeatureWindow:
        self.reads += 1
        return FeatureWindow(window(), AS_OF, 100.0, "csv:AAPL.csv", False)


class DictCache:
    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}
        self.gets = 0

    def get(self, key: str) -> dict[str, Any] | None:
        self.gets += 1
        return self.data.get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.data[key] = value


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return tiny_bundle()


def forecaster(
    bundle: ModelBundle, cache: DictCache | None, local: LocalPredictionCache | None
) -> Forecaster:
    return Forecaster(
        bundle,
        model_name="stockops-aapl",
        model_version="7",
        provider=StoredWindow(),
        cache=cache,
        local_cache=local,
    )


def test_latest_window_answer_is_dated_with_baseline_and_risk(bundle: ModelBundle) -> None:
    (answer,), (cached,) = forecaster(bundle, None, None).answer([LatestQuery(days=3)])
    assert cached is False
    assert [p["date"] for p in answer["forecast"]] == ["2024-06-03", "2024-06-04", "2024-06-05"]
    assert [p["close"] for p in answer["naive"]] == [100.0] * 3
    assert all(math.isfinite(p["close"]) and p["close"] > 0 for p in answer["forecast"])
    assert (answer["model_version"], answer["as_of"], answer["data_source"]) == (
        "7",
        "2024-05-31",
        "csv:AAPL.csv",
    )
    assert answer["risk"] == "high" and answer["realized_volatility"] == pytest.approx(
        0.03 * math.sqrt(252 * 8 / 7)
    )


def test_sent_window_is_marked_as_from_the_request(bundle: ModelBundle) -> None:
    query = WindowQuery(days=2, window=window(), as_of=AS_OF, last_close=100.0)
    (sent,), _ = forecaster(bundle, None, None).answer([query])
    (stored,), _ = forecaster(bundle, None, None).answer([LatestQuery(days=2)])
    assert sent["data_source"] == "request"
    assert sent["forecast"] == stored["forecast"]  # same window, same numbers


def test_miss_then_local_hit_then_redis_hit_after_the_local_tier_expires(bundle: ModelBundle) -> None:
    now = [0.0]
    redis, local = DictCache(), LocalPredictionCache(ttl_seconds=10, clock=lambda: now[0])
    core = forecaster(bundle, redis, local)
    first = core.answer([LatestQuery(days=2)])
    second = core.answer([LatestQuery(days=2)])
    assert (first[1], second[1]) == ([False], [True])
    assert redis.gets == 1 and len(redis.data) == 1  # the local tier answered the second one
    now[0] = 11.0
    third = core.answer([LatestQuery(days=2)])
    assert third[1] == [True] and redis.gets == 2 and third[0] == first[0]


def test_different_days_windows_or_closes_are_different_entries(bundle: ModelBundle) -> None:
    redis = DictCache()
    core = forecaster(bundle, redis, None)
    core.answer([LatestQuery(days=1), LatestQuery(days=2)])
    core.answer([WindowQuery(days=2, window=window(), as_of=AS_OF, last_close=100.0)])
    core.answer([WindowQuery(days=2, window=window(), as_of=AS_OF, last_close=100.5)])
    core.answer([WindowQuery(days=2, window=window(seed=2), as_of=AS_OF, last_close=100.0)])
    assert len(redis.data) == 5


def test_the_same_question_twice_in_one_request_is_answered_once(bundle: ModelBundle) -> None:
    redis = DictCache()
    answers, cached = forecaster(bundle, redis, None).answer([LatestQuery(days=3)] * 4)
    assert redis.gets == 1 and cached == [False] * 4 and all(a == answers[0] for a in answers)


def test_local_cache_evicts_the_least_recently_used_and_expires() -> None:
    now = [0.0]
    local = LocalPredictionCache(max_entries=2, ttl_seconds=5, clock=lambda: now[0])
    local.put("a", {"v": 1})
    local.put("b", {"v": 2})
    assert local.get("a") == {"v": 1}  # a is now the most recent
    local.put("c", {"v": 3})
    assert local.get("b") is None and local.get("a") == {"v": 1} and len(local) == 2
    now[0] = 5.0
    assert local.get("a") is None and local.get("c") is None


def test_local_cache_rejects_nonsense_sizes() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        LocalPredictionCache(max_entries=0)


def test_answers_carry_the_bundles_interval_around_the_shrunk_forecast() -> None:
    with_interval = tiny_bundle()
    with_interval.interval_offsets = ((-0.02,) * HORIZON, (0.03,) * HORIZON)
    (answer,), _ = forecaster(with_interval, None, None).answer([LatestQuery(days=2)])
    for point in answer["forecast"]:
        assert point["low"] == pytest.approx(point["close"] * math.exp(-0.02), rel=1e-5)
        assert point["high"] == pytest.approx(point["close"] * math.exp(0.03), rel=1e-5)
