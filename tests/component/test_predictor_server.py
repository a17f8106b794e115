"""The predictor as a real process: `python -m stockops.predictor` (KServe) on loopback, serving a small
model registered in a real MLflow server, caching in a real redis-server, reading real AAPL prices."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.component

TICKER = "AAPL"
MODEL = "stockops-aapl"
CONTEXT_DAYS = 20
HORIZON = 5


@dataclass
class Predictor:
    process: subprocess.Popen
    url: str
    log: Path
    loopback: Any

    def wait_until_ok(self, path: str, what: str) -> None:
        self.loopback.wait_until(
            lambda: httpx.get(f"{self.url}{path}", timeout=2).status_code == 200,
            timeout=240,
            what=what,
            process=self.process,
            log=self.log,
        )

    def stop(self) -> None:
        self.loopback.stop_process(self.process)

    def tail(self) -> str:
        return str(self.loopback.tail(self.log))

    def metric(self, name: str, **labels: str) -> float:
        """One sample from /metrics (0 when absent)."""
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            head, _, value = line.rpartition(" ")
            got_name, _, label_text = head.partition("{")
            found = dict(re.findall(r'(\w+)="([^"]*)"', label_text))
            if got_name == name and all(found.get(k) == v for k, v in labels.items()):
                return float(value)
        return 0.0


def start_predictor(
    loopback: Any, env_overrides: dict[str, str], log: Path, args: list[str], unset: tuple[str, ...] = ()
) -> Predictor:
    port = loopback.free_port()
    env = {**os.environ, **env_overrides, "PORT": str(port)}
    for name in unset:
        env.pop(name, None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "stockops.predictor", *args], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    return Predictor(process, f"http://127.0.0.1:{port}", log, loopback)


@pytest.fixture(scope="module")
def model_version(
    mlflow_server: str, register_small_model: Any, tmp_path_factory: pytest.TempPathFactory
) -> str:
    home = tmp_path_factory.mktemp("register-home")
    summary = register_small_model(TICKER, home=home, tracking_uri=mlflow_server, context_days=CONTEXT_DAYS)
    return str(summary.model_version)


@pytest.fixture(scope="module")
def predictor(
    model_version: str,
    mlflow_server: str,
    redis_server: Any,
    ohlcv_dir: Path,
    loopback: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Predictor]:
    root = tmp_path_factory.mktemp("predictor")
    env = {
        "MLFLOW_TRACKING_URI": mlflow_server,
        "STOCKOPS_HOME": str(root / "home"),
        "STOCKOPS_DATA_SOURCE": f"csv:{ohlcv_dir}",
        "STOCKOPS_REDIS_URL": redis_server.url,
        "STOCKOPS_MODEL_ALIAS": "production",
        "STOCKOPS_CACHE_TTL_SECONDS": "600",
        # No in-process tier: every cache lookup goes to Redis, so these tests pin Redis's behaviour (the
        # tier in front is covered in tests/unit/test_predictor_forecaster.py).
        "STOCKOPS_LOCAL_CACHE_SECONDS": "0",
    }
    server = start_predictor(loopback, env, root / "predictor.log", ["--model-name", MODEL])
    try:
        server.wait_until_ok(f"/v1/models/{MODEL}", "predictor")
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Window:
    window: np.ndarray
    as_of: date
    last_close: float


@pytest.fixture(scope="module")
def latest(ohlcv_dir: Path) -> Window:
    """The latest feature window computed here from the CSV prices, independently of the server."""
    from stockops.data.features import MODEL_FEATURES, compute_features
    from stockops.data.sources import source_from_string

    features = compute_features(source_from_string(f"csv:{ohlcv_dir}").fetch(TICKER).frame).iloc[
        -CONTEXT_DAYS:
    ]
    return Window(
        features[list(MODEL_FEATURES)].to_numpy(dtype=np.float64),
        features.index[-1].date(),
        float(features["close"].iloc[-1]),
    )


def predict_v1(server: Predictor, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/models/{MODEL}:predict", json=body, timeout=30, **kwargs)


def infer_v2(server: Predictor, inputs: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(f"{server.url}/v2/models/{MODEL}/infer", json={"inputs": inputs}, timeout=30)


def explicit_instance(latest: Window, last_close: float | None = None, days: int = HORIZON) -> dict[str, Any]:
    return {
        "window": np.asarray(latest.window, dtype=np.float64).tolist(),
        "as_of": latest.as_of.isoformat(),
        "last_close": latest.last_close if last_close is None else last_close,
        "days": days,
    }


# -- answers ---------------------------------------------------------------------------------------


def test_v1_latest_window_forecast_has_dates_baseline_version_and_risk(
    predictor: Predictor, model_version: str, ohlcv_dir: Path
) -> None:
    response = predict_v1(predictor, {"instances": [{"days": HORIZON}, {"days": 2, "ticker": "aapl"}]})
    assert response.status_code == 200, response.text
    first, second = response.json()["predictions"]
    last_row = pd.read_csv(ohlcv_dir / "AAPL.csv").iloc[-1]
    assert first["ticker"] == TICKER and first["model_name"] == MODEL
    assert first["model_version"] == model_version
    assert first["as_of"] == last_row["Date"]
    dates = [date.fromisoformat(p["date"]) for p in first["forecast"]]
    assert len(dates) == HORIZON and dates == sorted(dates)
    assert dates[0] > date.fromisoformat(first["as_of"]) and all(d.weekday() < 5 for d in dates)
    assert [p["date"] for p in first["naive"]] == [p["date"] for p in first["forecast"]]
    assert all(p["close"] == pytest.approx(last_row["Close"], rel=1e-6) for p in first["naive"])
    assert all(math.isfinite(p["close"]) and p["close"] > 0 for p in first["forecast"])
    assert first["risk"] in {"low", "medium", "high"} and first["realized_volatility"] > 0
    assert first["synthetic"] is False and first["data_source"] == "csv:AAPL.csv"  # no server path
    assert second["days"] == 2 and second["forecast"] == first["forecast"][:2]


def test_explicit_window_of_the_latest_data_gives_the_same_forecast(
    predictor: Predictor, latest: Window
) -> None:
    from_store = predict_v1(predictor, {"instances": [{"days": HORIZON}]}).json()["predictions"][0]
    response = predict_v1(predictor, {"instances": [explicit_instance(latest)]})
    assert response.status_code == 200, response.text
    sent = response.json()["predictions"][0]
    assert sent["data_source"] == "request" and sent["as_of"] == from_store["as_of"]
    assert [p["close"] for p in sent["forecast"]] == pytest.approx(
        [p["close"] for p in from_store["forecast"]]
    )
    assert sent["risk"] == from_store["risk"]


def test_v2_days_tensor_answers_named_output_tensors(predictor: Predictor, model_version: str) -> None:
    response = infer_v2(predictor, [{"name": "days", "datatype": "INT32", "shape": [2], "data": [3, 3]}])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == MODEL and body["model_version"] == model_version
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["forecast_close"]["shape"] == [2, 3] and len(outputs["forecast_close"]["data"]) == 6
    assert outputs["forecast_date"]["datatype"] == "BYTES" and len(outputs["forecast_date"]["data"]) == 6
    assert outputs["naive_close"]["data"][:3] == [outputs["last_close"]["data"][0]] * 3
    assert outputs["ticker"]["data"] == [TICKER, TICKER]
    assert set(outputs["risk"]["data"]) <= {"low", "medium", "high"}


def test_v2_window_tensors_match_v1_for_the_same_window(predictor: Predictor, latest: Window) -> None:
    window = np.asarray(latest.window, dtype=np.float64)
    inputs = [
        {"name": "window", "datatype": "FP64", "shape": [1, *window.shape], "data": window.ravel().tolist()},
        {"name": "as_of", "datatype": "BYTES", "shape": [1], "data": [latest.as_of.isoformat()]},
        {"name": "last_close", "datatype": "FP64", "shape": [1], "data": [latest.last_close]},
        {"name": "days", "datatype": "INT64", "shape": [1], "data": [HORIZON]},
    ]
    response = infer_v2(predictor, inputs)
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    v1 = predict_v1(predictor, {"instances": [explicit_instance(latest)]}).json()["predictions"][0]
    assert outputs["forecast_close"]["data"] == pytest.approx([p["close"] for p in v1["forecast"]])
    assert outputs["data_source"]["data"] == ["request"]


# -- readiness and routing ------------------------------------------------------------------------


def test_readiness_endpoints_report_ready(predictor: Predictor) -> None:
    assert httpx.get(f"{predictor.url}/v1/models/{MODEL}").json() == {"name": MODEL, "ready": True}
    assert httpx.get(f"{predictor.url}/v2/health/ready").json() == {"ready": True}
    assert httpx.get(f"{predictor.url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{predictor.url}/v2/models/{MODEL}/ready").json()["ready"] is True
    metadata = httpx.get(f"{predictor.url}/v2/models/{MODEL}").json()
    window_input = next(i for i in metadata["inputs"] if i["name"] == "window")
    assert window_input["shape"] == [-1, CONTEXT_DAYS, 12]


def test_unknown_model_is_404_on_both_protocols(predictor: Predictor) -> None:
    v1 = httpx.post(f"{predictor.url}/v1/models/stockops-nope:predict", json={"instances": [{"days": 1}]})
    v2 = httpx.post(f"{predictor.url}/v2/models/stockops-nope/infer", json={"inputs": []})
    assert (v1.status_code, v2.status_code) == (404, 404)
    assert "stockops-nope" in v1.json()["error"]


# -- malformed requests --------------------------------------------------------------------------

V1_PATH = f"/v1/models/{MODEL}:predict"
V2_PATH = f"/v2/models/{MODEL}/infer"
JSON = {"content-type": "application/json"}
TEXT = {"content-type": "text/plain"}
GOOD_WINDOW = [[0.01] * 12 for _ in range(CONTEXT_DAYS)]


def v1(instance: dict[str, Any]) -> bytes:
    return json.dumps({"instances": [instance]}).encode()


def with_window(**overrides: Any) -> dict[str, Any]:
    return {"window": GOOD_WINDOW, "as_of": "2024-05-31", "last_close": 100.0, **overrides}


def v2(*inputs: dict[str, Any]) -> bytes:
    return json.dumps({"inputs": list(inputs)}).encode()


def days_tensor(data: list[Any], datatype: str = "INT32", shape: list[int] | None = None) -> dict[str, Any]:
    return {"name": "days", "datatype": datatype, "shape": shape or [len(data)], "data": data}


# (id, path, headers, body, expected status, text the answer must contain)
MALFORMED: list[tuple[str, str, dict[str, str], bytes, int, str]] = [
    ("v1 not json", V1_PATH, JSON, b"{days: 5", 400, "Unrecognized request format"),
    ("v1 not json as text", V1_PATH, TEXT, b"days=5", 400, "body: is not valid JSON"),
    ("v1 body a list", V1_PATH, JSON, b'[{"days": 5}]', 400, "body: must be a JSON object"),
    ("v1 no instances", V1_PATH, JSON, b"{}", 400, "instances: missing"),
    (
        "v1 instances an object",
        V1_PATH,
        JSON,
        b'{"instances": {"days": 5}}',
        400,
        "instances: must be a list",
    ),
    ("v1 instances empty", V1_PATH, JSON, b'{"instances": []}', 400, "instances: must hold at least one"),
    ("v1 unknown top field", V1_PATH, JSON, b'{"instances": [{"days": 1}], "x": 1}', 400, "x: unknown"),
    ("v1 instance a number", V1_PATH, JSON, b'{"instances": [5]}', 400, "instances[0]: must be an object"),
    ("v1 unknown field", V1_PATH, JSON, v1({"days": 1, "horizon": 2}), 400, "instances[0].horizon: unknown"),
    ("v1 days a string", V1_PATH, JSON, v1({"days": "5"}), 400, "instances[0].days: must be an integer"),
    ("v1 days a float", V1_PATH, JSON, v1({"days": 2.5}), 400, "instances[0].days: must be an integer"),
    ("v1 days zero", V1_PATH, JSON, v1({"days": 0}), 400, "instances[0].days: must be from 1 to 5"),
    ("v1 days past horizon", V1_PATH, JSON, v1({"days": 6}), 400, "instances[0].days: must be from 1 to 5"),
    ("v1 days boolean", V1_PATH, JSON, v1({"days": True}), 400, "instances[0].days"),
    (
        "v1 other ticker",
        V1_PATH,
        JSON,
        v1({"ticker": "MSFT"}),
        400,
        "instances[0].ticker: this server serves AAPL",
    ),
    (
        "v1 as_of alone",
        V1_PATH,
        JSON,
        v1({"as_of": "2024-05-31"}),
        400,
        "instances[0].as_of: is only accepted",
    ),
    (
        "v1 window short",
        V1_PATH,
        JSON,
        v1(with_window(window=GOOD_WINDOW[:5])),
        400,
        "instances[0].window: must",
    ),
    (
        "v1 window row short",
        V1_PATH,
        JSON,
        v1(with_window(window=[[0.1]] * 20)),
        400,
        "instances[0].window[0]",
    ),
    (
        "v1 window string value",
        V1_PATH,
        JSON,
        v1(with_window(window=[["x"] * 12] * 20)),
        400,
        "instances[0].window[0][0]: feature 'log_return' must be a number",
    ),
    (
        "v1 window NaN",
        V1_PATH,
        TEXT,
        json.dumps({"instances": [with_window(window=[[math.nan] * 12] * 20)]}).encode(),
        400,
        "instances[0].window: value at row 0, feature 'log_return' is nan",
    ),
    ("v1 as_of bad", V1_PATH, JSON, v1(with_window(as_of="2024-02-30")), 400, "instances[0].as_of"),
    ("v1 last_close negative", V1_PATH, JSON, v1(with_window(last_close=-1)), 400, "instances[0].last_close"),
    (
        "v1 last_close missing",
        V1_PATH,
        JSON,
        v1({"window": GOOD_WINDOW, "as_of": "2024-05-31"}),
        400,
        "last_close",
    ),
    ("v2 no inputs field", V2_PATH, JSON, b"{}", 422, "inputs"),
    ("v2 not json", V2_PATH, JSON, b'{"inputs": [', 422, "json"),
    ("v2 inputs empty", V2_PATH, JSON, v2(), 400, "inputs: at least one input"),
    ("v2 unknown input", V2_PATH, JSON, v2({**days_tensor([1]), "name": "horizon"}), 400, "inputs.horizon"),
    ("v2 days as FP32", V2_PATH, JSON, v2(days_tensor([1.0], "FP32")), 400, "inputs.days.datatype"),
    ("v2 days differ", V2_PATH, JSON, v2(days_tensor([1, 2])), 400, "inputs.days: all rows"),
    ("v2 days count", V2_PATH, JSON, v2(days_tensor([1], shape=[2])), 400, "inputs.days: shape [2] needs 2"),
    ("v2 days past horizon", V2_PATH, JSON, v2(days_tensor([9])), 400, "inputs.days[0]: must be from 1 to 5"),
    (
        "v2 window wrong shape",
        V2_PATH,
        JSON,
        v2(
            {"name": "window", "datatype": "FP32", "shape": [1, 3, 12], "data": [0.0] * 36},
            {"name": "as_of", "datatype": "BYTES", "shape": [1], "data": ["2024-05-31"]},
            {"name": "last_close", "datatype": "FP64", "shape": [1], "data": [1.0]},
        ),
        400,
        "inputs.window: shape must be [1, 20, 12]",
    ),
    (
        "v2 window NaN",
        V2_PATH,
        JSON,
        json.dumps(
            {
                "inputs": [
                    {"name": "window", "datatype": "FP32", "shape": [1, 20, 12], "data": [math.nan] * 240},
                    {"name": "as_of", "datatype": "BYTES", "shape": [1], "data": ["2024-05-31"]},
                    {"name": "last_close", "datatype": "FP64", "shape": [1], "data": [1.0]},
                ]
            }
        ).encode(),
        400,
        "inputs.window[0]: value at row 0",
    ),
]


def test_malformed_requests_are_4xx_with_the_field_named_and_the_server_survives(
    predictor: Predictor,
) -> None:
    assert len(MALFORMED) >= 20
    invalid_before = predictor.metric(
        "stockops_predictor_request_seconds_count", protocol="v1", outcome="invalid"
    )
    errors_before = predictor.metric(
        "stockops_predictor_errors_total", protocol="v1", kind="invalid", status="400"
    )
    failures = []
    for case, path, headers, body, status, text in MALFORMED:
        response = httpx.post(f"{predictor.url}{path}", content=body, headers=headers, timeout=30)
        if response.status_code != status or text not in response.text:
            failures.append(f"{case}: {response.status_code} {response.text[:300]}")
    assert not failures, "\n".join(failures)
    assert predictor.process.poll() is None
    assert httpx.get(f"{predictor.url}/v2/health/live").status_code == 200
    assert predict_v1(predictor, {"instances": [{"days": 1}]}).status_code == 200
    invalid_after = predictor.metric(
        "stockops_predictor_request_seconds_count", protocol="v1", outcome="invalid"
    )
    assert invalid_after - invalid_before >= 20
    errors_after = predictor.metric(
        "stockops_predictor_errors_total", protocol="v1", kind="invalid", status="400"
    )
    assert errors_after - errors_before == invalid_after - invalid_before  # each 400 counted once, as 400


# -- cache and metrics ------------------------------------------------------------------------------


def test_second_identical_request_is_a_cache_hit(
    predictor: Predictor, latest: Window, running_redis: Any
) -> None:
    body = {"instances": [explicit_instance(latest, last_close=123.456 + time.time() % 1)]}
    hits_before = predictor.metric("stockops_predictor_cache_lookups_total", result="hit")
    misses_before = predictor.metric("stockops_predictor_cache_lookups_total", result="miss")
    first = predict_v1(predictor, body).json()["predictions"][0]
    second = predict_v1(predictor, body).json()["predictions"][0]
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["forecast"] == first["forecast"]
    assert predictor.metric("stockops_predictor_cache_lookups_total", result="miss") == misses_before + 1
    assert predictor.metric("stockops_predictor_cache_lookups_total", result="hit") == hits_before + 1


def test_redis_killed_mid_test_still_answers_and_counts_the_error(
    predictor: Predictor, latest: Window, running_redis: Any
) -> None:
    warm = {"instances": [explicit_instance(latest, last_close=77.7 + time.time() % 1)]}
    assert predict_v1(predictor, warm).json()["predictions"][0]["cached"] is False
    errors_before = predictor.metric("stockops_predictor_cache_errors_total", operation="get")
    running_redis.kill()
    try:
        response = predict_v1(predictor, warm)
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["cached"] is False  # the cached copy is unreachable
        again = predict_v1(predictor, {"instances": [{"days": 2}]})
        assert again.status_code == 200, again.text
        assert predictor.metric("stockops_predictor_cache_errors_total", operation="get") >= errors_before + 1
        assert predictor.process.poll() is None
    finally:
        running_redis.start()
    log = predictor.log.read_text(errors="replace")
    assert log.count("prediction cache unavailable") == 1, predictor.tail()


def test_metrics_expose_model_version_and_latency_by_protocol(
    predictor: Predictor, model_version: str
) -> None:
    served_before = predictor.metric("stockops_predictor_last_forecast_timestamp_seconds", ticker=TICKER)
    assert served_before > 0  # set at load: silence counts from there
    asked = time.time()
    predict_v1(predictor, {"instances": [{"days": 1}]})
    infer_v2(predictor, [days_tensor([1])])
    assert predictor.metric("stockops_predictor_last_forecast_timestamp_seconds", ticker=TICKER) >= asked
    info = predictor.metric(
        "stockops_predictor_model_info", model_name=MODEL, model_version=model_version, ticker=TICKER
    )
    assert info == 1.0
    assert predictor.metric("stockops_predictor_model_ready") == 1.0
    assert predictor.metric("stockops_predictor_request_seconds_count", protocol="v1", outcome="ok") >= 1
    assert predictor.metric("stockops_predictor_request_seconds_count", protocol="v2", outcome="ok") >= 1
    assert predictor.metric("request_predict_seconds_count", model_name=MODEL) >= 2  # KServe's own


# -- load failures ---------------------------------------------------------------------------------


def test_unknown_registered_model_stays_up_not_ready_with_one_clear_log_line(
    mlflow_server: str, ohlcv_dir: Path, loopback: Any, tmp_path: Path
) -> None:
    env = {
        "MLFLOW_TRACKING_URI": mlflow_server,
        "STOCKOPS_HOME": str(tmp_path / "home"),
        "STOCKOPS_DATA_SOURCE": f"csv:{ohlcv_dir}",
        "STOCKOPS_LOAD_RETRY_SECONDS": "0",
    }
    args = ["--model-name", "stockops-zzzz", "--model-version", "3"]
    server = start_predictor(loopback, env, tmp_path / "missing.log", args, unset=("STOCKOPS_REDIS_URL",))
    try:
        server.wait_until_ok("/v2/health/live", "predictor without a model")
        assert httpx.get(f"{server.url}/v1/models/stockops-zzzz").status_code == 503
        assert httpx.get(f"{server.url}/v2/health/ready").status_code == 503
        answer = httpx.post(
            f"{server.url}/v1/models/stockops-zzzz:predict", json={"instances": [{"days": 1}]}
        )
        assert answer.status_code == 503
        assert server.metric("stockops_predictor_model_ready") == 0.0
        # never loaded: no forecast time (StockOpsNoForecastServed stays silent; model_ready 0 shows it)
        assert server.metric("stockops_predictor_last_forecast_timestamp_seconds") == 0.0
        log = server.log.read_text()
        lines = [line for line in log.splitlines() if "model stockops-zzzz not ready:" in line]
        assert len(lines) == 1, server.tail()
        assert "Traceback" not in log, server.tail()  # 503s are logged as one line each
        assert "stockops-zzzz version 3" in lines[0] and mlflow_server in lines[0]
    finally:
        server.stop()
