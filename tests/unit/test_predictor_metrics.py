"""The predictor's error counter classifies what a predict call raised, as KServe maps it to HTTP."""

from __future__ import annotations

import asyncio

import pytest
from kserve.errors import InferenceError, InvalidInput, ModelNotReady
from prometheus_client import REGISTRY

from stockops.predictor import metrics
from stockops.predictor.forecaster import Forecaster
from stockops.predictor.model import StockForecastModel, _error_kind


def errors(kind: str, status: str) -> float:
    value = REGISTRY.get_sample_value(
        "stockops_predictor_errors_total", {"protocol": "v1", "kind": kind, "status": status}
    )
    return value or 0.0


def test_each_failure_has_its_kind_and_the_status_kserve_answers() -> None:
    assert _error_kind(InvalidInput("days: must be 1..5")) == "invalid"
    assert _error_kind(ModelNotReady("m")) == "not_ready"
    assert _error_kind(InferenceError("window unavailable")) == "inference"
    assert _error_kind(RuntimeError("bug")) == "internal"
    assert metrics.ERROR_STATUS == {
        "invalid": "400",
        "not_ready": "503",
        "inference": "500",
        "internal": "500",
    }


def test_a_call_to_a_model_that_is_not_loaded_counts_one_503() -> None:
    def never_loads() -> Forecaster:
        raise RuntimeError("MLflow unreachable")

    model = StockForecastModel("stockops-test", never_loads)
    before = {kind: errors(kind, status) for kind, status in metrics.ERROR_STATUS.items()}
    with pytest.raises(ModelNotReady):
        asyncio.run(model({"instances": [{"days": 1}]}))
    after = {kind: errors(kind, status) for kind, status in metrics.ERROR_STATUS.items()}
    assert after == {**before, "not_ready": before["not_ready"] + 1}
