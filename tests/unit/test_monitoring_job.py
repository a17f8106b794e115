"""The check Job's termination payload: status-shaped, under the kubelet's 4096 bytes, honest reasons."""

from __future__ import annotations

import json

from stockops.monitoring.job import classify_failure, drift_block, fit_message, live_block
from stockops.monitoring.live_check import ForecastLogUnavailableError
from stockops.monitoring.reference import ReferenceMissingError
from stockops.registry.loading import ModelNotFoundError


def test_blocks_use_the_status_field_names() -> None:
    summary = {
        "checked_at": "2026-03-10T21:31:00+00:00",
        "verdict": "Drifted",
        "share": 0.6,
        "drift_share": 0.5,
        "drifted_features": ["a", "b", "c"],
        "features": [{"column": c, "stattest": "K-S p_value"} for c in "abcde"],
        "untestable": [{"column": "z", "reason": "constant"}],
        "current_rows": 60,
        "current_start": "2025-12-01",
        "current_end": "2026-03-10",
        "message": "",
    }
    block = drift_block(summary, "mlflow-artifacts:/1/r/artifacts/monitoring/drift.html")
    assert block == {
        "checkedAt": "2026-03-10T21:31:00+00:00",
        "verdict": "Drifted",
        "share": 0.6,
        "driftShareThreshold": 0.5,
        "driftedFeatures": ["a", "b", "c"],
        "testedFeatures": 5,
        "untestableFeatures": ["z"],
        "method": "K-S p_value",
        "window": 60,
        "currentStart": "2025-12-01",
        "currentEnd": "2026-03-10",
        "reportUri": "mlflow-artifacts:/1/r/artifacts/monitoring/drift.html",
    }
    live = live_block({"verdict": "InsufficientData", "n_forecasts": 3, "n_points": 9, "message": "3"}, "t")
    assert live == {
        "checkedAt": "t",
        "verdict": "InsufficientData",
        "forecasts": 3,
        "points": 9,
        "message": "3",
    }


def test_long_payloads_are_cut_to_fit_the_termination_message() -> None:
    names = [f"feature_with_a_long_name_{i:03d}" for i in range(200)]
    payload = {"ok": True, "drift": {"driftedFeatures": names, "message": "x" * 5000}, "live": {}}
    line = fit_message(payload)
    assert len(line.encode()) < 4096
    parsed = json.loads(line)
    assert parsed["ok"] is True and parsed["drift"]["driftedFeatures"] == names[:4]


def test_failures_are_classified_for_retry_or_fail_fast() -> None:
    assert classify_failure(ModelNotFoundError("no production alias")) == ("NoProductionVersion", 2)
    assert classify_failure(ReferenceMissingError("no reference")) == ("NoReference", 2)
    assert classify_failure(ForecastLogUnavailableError("redis down")) == ("ForecastLogUnavailable", 1)
    try:
        try:
            raise ConnectionRefusedError("[Errno 111] Connection refused")
        except OSError as inner:
            raise RuntimeError("API request to http://mlflow:5000/api/2.0/mlflow/runs failed") from inner
    except RuntimeError as outer:
        assert classify_failure(outer) == ("MlflowUnavailable", 1)
    assert classify_failure(RuntimeError("boom")) == ("Error", 1)
    assert classify_failure(ConnectionRefusedError("Connection refused")) == ("Error", 1)  # not MLflow's

    import redis

    assert classify_failure(redis.ConnectionError("Error 111 connecting")) == ("RedisUnavailable", 1)
