"""Outages are named (and found fast) instead of passing for generic errors or slow retries."""

from __future__ import annotations

import socket

import pytest

from stockops.outages import DependencyUnavailableError, check_tracking_server, classify_outage


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_tracking_server_fails_at_once_naming_it() -> None:
    uri = f"http://127.0.0.1:{_dead_port()}"
    with pytest.raises(DependencyUnavailableError) as caught:
        check_tracking_server(uri, timeout=2.0)
    assert caught.value.reason == "MlflowUnavailable" and uri in str(caught.value)
    check_tracking_server(None)  # a local store has nothing to reach
    check_tracking_server("sqlite:///tmp/x.db")


def test_outages_are_found_anywhere_in_the_chain() -> None:
    import redis

    try:
        try:
            raise ConnectionRefusedError("[Errno 111] Connection refused")
        except OSError as inner:
            raise RuntimeError(
                "API request to http://mlflow:5000/api/2.0/mlflow/runs/create failed"
            ) from inner
    except RuntimeError as outer:
        assert classify_outage(outer) == "MlflowUnavailable"
    assert classify_outage(redis.ConnectionError("Error 111")) == "RedisUnavailable"
    assert classify_outage(ConnectionRefusedError("Connection refused")) is None  # not MLflow's
    assert classify_outage(ValueError("bad")) is None


def test_the_trainer_reports_mlflow_unavailable_as_retryable() -> None:
    from stockops.trainer.__main__ import classify_failure

    error = DependencyUnavailableError("MlflowUnavailable", "http://mlflow:5000 unreachable")
    assert classify_failure(error) == ("MlflowUnavailable", 1)
