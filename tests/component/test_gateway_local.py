"""The gateway in local mode as a real process (`stockops gateway`, `python -m stockops.gateway`) on
loopback: real trainings through the pipeline (tiny, from a ticker template), real OHLCV CSVs, a real
redis-server for the rate-limit windows, its SQLite task store across a kill and restart.

The tests of this module share one gateway and its trained models and run in file order: the first
auto-train trains the parent ^GSPC and AAPL, later tests read them, the restart and reset tests come
last.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.component

PARENT_TEMPLATE = """\
kind: ParentModel
spec:
  data: {start: "2021-01-01"}
  model: {hiddenSize: 8, numLayers: 1, contextDays: 20, horizonDays: 5}
  training: {epochs: 1, batchSize: 64, patience: 1, numThreads: 1}
  promotion: {minSkill: -1}
"""
CHILD_TEMPLATE = """\
kind: TickerModel
spec:
  parentRef: {name: gspc}
  data: {start: "2021-01-01"}
  transfer: {strategy: fine-tune, epochs: 1}
  training: {epochs: 1, batchSize: 64, patience: 1, numThreads: 1}
  promotion: {minSkill: -1}
"""
QUESTION = "Should I worry about volatility this week?"
TRAINING_TIMEOUT = 600.0
_INHERITED = (
    "MLFLOW_TRACKING_URI",
    "STOCKOPS_MLFLOW_TRACKING_URI",
    "STOCKOPS_REDIS_URL",
    "STOCKOPS_LLM_ENDPOINT",
    "STOCKOPS_QDRANT_URL",
    "STOCKOPS_PREDICTOR_URL",
)


@dataclass
class Gateway:
    """One gateway process and the keys the tests call it with."""

    command: list[str]
    env: dict[str, str]
    log: Path
    loopback: Any
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = self.loopback.free_port()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*self.command, "--port", str(self.port)], stdout=out, stderr=subprocess.STDOUT, env=self.env
            )
        self.loopback.wait_until(
            lambda: httpx.get(f"{self.url}/health", timeout=2).status_code == 200,
            timeout=180,
            what="gateway",
            process=self.process,
            log=self.log,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.loopback.stop_process(self.process)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def call(self, method: str, path: str, key: str | None = "admin", **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {self.keys[key]}"
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kwargs)

    def wait_done(self, task_id: str, timeout: float = TRAINING_TIMEOUT) -> dict[str, Any]:
        """Poll /status until the task is done; returns its last status and every phase it showed."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            response = self.call("GET", f"/status/{task_id}")
            assert response.status_code == 200, response.text
            body = response.json()
            if not seen or seen[-1] != body["phase"]:
                seen.append(body["phase"])
            if body["done"]:
                return {**body, "phases_seen": seen}
            assert self.process is not None and self.process.poll() is None, self.loopback.tail(self.log)
            time.sleep(0.3)
        pytest.fail(
            f"{task_id} not done after {timeout:.0f}s (phases {seen}):\n{self.loopback.tail(self.log)}"
        )

    def metric(self, name: str, key: str = "read", **labels: str) -> float:
        text = self.call("GET", "/metrics", key=key).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            head, _, value = line.rpartition(" ")
            got_name, _, label_text = head.partition("{")
            found = dict(re.findall(r'(\w+)="([^"]*)"', label_text))
            if got_name == name and all(found.get(k) == v for k, v in labels.items()):
                total += float(value)
        return total


def gateway_env(home: Path, ohlcv_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in _INHERITED and not k.startswith("STOCKOPS_GATEWAY_")
    }
    env.update(
        {
            "STOCKOPS_HOME": str(home),
            "STOCKOPS_DATA_SOURCE": f"csv:{ohlcv_dir}",
            "STOCKOPS_NEWS_SOURCE": "none",
            **extra,
        }
    )
    return env


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stockops", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, ohlcv_dir: Path, redis_server: Any, loopback: Any
) -> Iterator[Gateway]:
    """`stockops gateway` on embedded defaults except the tiny templates, the CSV data and Redis; its
    first admin key read from what it prints; a read-only key made with `stockops gateway-key`."""
    root = tmp_path_factory.mktemp("gateway")
    (root / "parent.yaml").write_text(PARENT_TEMPLATE)
    (root / "child.yaml").write_text(CHILD_TEMPLATE)
    env = gateway_env(
        root / "home",
        ohlcv_dir,
        STOCKOPS_GATEWAY_REDIS_URL=redis_server.url,
        STOCKOPS_GATEWAY_PARENT_TEMPLATE=str(root / "parent.yaml"),
        STOCKOPS_GATEWAY_TICKER_TEMPLATE=str(root / "child.yaml"),
        STOCKOPS_GATEWAY_RATE_LIMIT_REQUESTS="100000",
    )
    server = Gateway([sys.executable, "-m", "stockops", "gateway"], env, root / "gateway.log", loopback)
    server.start()
    try:
        printed = server.log.read_text()
        found = re.search(r"first admin key .*\n\s+(sk_\S+)", printed)
        assert found, printed
        server.keys["admin"] = found.group(1)
        made = cli(env, "gateway-key", "create", "--scopes", "read", "--name", "reader", "--json")
        assert made.returncode == 0, made.stderr
        server.keys["read"] = json.loads(made.stdout)["key"]
        made = cli(env, "gateway-key", "create", "--scopes", "train", "--name", "trainer", "--json")
        assert made.returncode == 0, made.stderr
        server.keys["train"] = json.loads(made.stdout)["key"]
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def aapl(gateway: Gateway) -> dict[str, Any]:
    """AAPL trained by asking for its forecast: two concurrent requests, parent ^GSPC first."""
    barrier = threading.Barrier(2)
    answers: list[httpx.Response] = []

    def ask() -> None:
        barrier.wait()
        answers.append(gateway.call("POST", "/predict-child", json={"ticker": "aapl", "days": 5}))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
    first, second = (a.json() for a in answers)
    status = gateway.call("GET", first["status_url"]).json()
    return {"answers": (first, second), "first_status": status, "final": gateway.wait_done(first["task_id"])}


# --- public pages, keys and scopes -----------------------------------------------------------------


def test_public_pages_need_no_key(gateway: Gateway) -> None:
    health = httpx.get(f"{gateway.url}/health", timeout=10).json()
    assert health["status"] == "ok" and health["mode"] == "local" and health["rate_limiter"] == "redis"
    spec = httpx.get(f"{gateway.url}/openapi.json", timeout=10).json()
    for path in (
        "/predict-child",
        "/predict-parent",
        "/train-parent",
        "/train-child",
        "/status/{task_id}",
        "/analyze",
        "/monitor/{ticker}",
        "/monitor/{ticker}/drift",
        "/tickers",
        "/tickers/{ticker}",
        "/tickers/{ticker}/history",
        "/health",
        "/metrics",
        "/system/reset",
    ):
        assert path in spec["paths"], path
    predict = spec["paths"]["/predict-child"]["post"]
    assert {"200", "202", "401", "403", "422", "429"} <= set(predict["responses"])
    for page in ("/docs", "/"):
        response = httpx.get(f"{gateway.url}{page}", timeout=10)
        assert response.status_code == 200 and "text/html" in response.headers["content-type"]
        assert response.headers["x-content-type-options"] == "nosniff"
    # The console (and every API answer) under the strict same-origin policy its browser tests run with.
    for page in ("/", "/health", "/tickers"):
        policy = httpx.get(f"{gateway.url}{page}", timeout=10).headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, page


def test_no_key_or_a_wrong_key_is_401_with_a_challenge(gateway: Gateway) -> None:
    missing = gateway.call("GET", "/tickers", key=None)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert "API key is required" in missing.json()["detail"]
    wrong = gateway.call("GET", "/tickers", key=None, headers={"Authorization": "Bearer sk_not-a-key"})
    assert wrong.status_code == 401 and "invalid_token" in wrong.headers["www-authenticate"]
    basic = gateway.call("GET", "/tickers", key=None, headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert basic.status_code == 401


def test_both_key_headers_work(gateway: Gateway) -> None:
    assert gateway.call("GET", "/tickers", key="read").status_code == 200
    header = {"X-API-Key": gateway.keys["read"]}
    assert gateway.call("GET", "/tickers", key=None, headers=header).status_code == 200


def test_a_missing_scope_is_403_naming_it(gateway: Gateway) -> None:
    train = gateway.call("POST", "/train-parent", key="read", json={})
    assert train.status_code == 403 and "'train' scope" in train.json()["detail"]
    reset = gateway.call("DELETE", "/system/reset?confirm=yes-delete-all-state", key="train")
    assert reset.status_code == 403 and "'admin' scope" in reset.json()["detail"]
    new = gateway.call("POST", "/predict-child", key="read", json={"ticker": "GOOGL"})
    assert new.status_code == 403 and "GOOGL has no model yet" in new.json()["detail"]
    assert gateway.call("GET", "/tickers", key="train").status_code == 403
    assert gateway.metric("stockops_gateway_auth_failures_total", status="403") >= 3


def test_cors_is_closed_by_default(gateway: Gateway) -> None:
    preflight = httpx.options(
        f"{gateway.url}/predict-child",
        headers={"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert "access-control-allow-origin" not in preflight.headers


# --- auto-train, forecasts, tickers ----------------------------------------------------------------


def test_a_new_ticker_trains_once_for_two_concurrent_requests_parent_first(
    gateway: Gateway, aapl: dict[str, Any]
) -> None:
    first, second = aapl["answers"]
    assert first["status"] == second["status"] == "training"
    assert first["task_id"] == second["task_id"] == "tickermodel/aapl/1"
    assert first["status_url"] == "/status/tickermodel/aapl/1"
    waiting = aapl["first_status"]
    assert waiting["parent_task_id"] == "parentmodel/gspc/1"
    assert waiting["phase"] in ("WaitingForParent", "Pending", "Training")
    parent = gateway.wait_done("parentmodel/gspc/1")
    assert parent["phase"] == "Ready", parent
    final = aapl["final"]
    assert final["phase"] == "Ready", final
    assert final["phases_seen"][-1] == "Ready"
    assert final["progress"] == 100 and final["epoch"] >= 1 and final["epochs"] >= final["epoch"]
    types = {c["type"]: c for c in final["conditions"]}
    assert types["ParentReady"]["status"] == types["Ready"]["status"] == "True"
    metrics = final["metrics"]
    assert metrics["skill_ci_low"] <= metrics["skill"] <= metrics["skill_ci_high"]
    assert metrics["naive_rmse"] > 0 and len(metrics["per_horizon"]) == 5
    # one training, one registered version, one training run for AAPL
    assert gateway.call("GET", "/status/tickermodel/aapl/2").status_code == 404
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{gateway.env['STOCKOPS_HOME']}/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert len(client.search_model_versions("name='stockops-aapl'")) == 1
    runs = client.search_runs(
        [client.get_experiment_by_name("stockops").experiment_id],
        filter_string="tags.`stockops.ticker` = 'AAPL' and tags.`stockops.kind` = 'child'",
    )
    assert len(runs) == 1
    assert gateway.metric("stockops_gateway_trainings_started_total", kind="child") == 1
    assert gateway.metric("stockops_gateway_trainings_started_total", kind="parent") == 1


def test_the_forecast_has_intervals_and_the_random_walk_and_is_cached(
    gateway: Gateway, aapl: dict[str, Any]
) -> None:
    response = gateway.call("POST", "/predict-child", key="read", json={"ticker": "AAPL", "days": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["ticker"], body["model_name"], body["model_version"], body["days"]) == (
        "AAPL",
        "stockops-aapl",
        "1",
        3,
    )
    assert body["cached"] is False and body["synthetic"] is False
    assert len(body["forecast"]) == len(body["naive"]) == 3
    assert body["interval"] == {"low_quantile": 0.1, "high_quantile": 0.9}
    for point, naive in zip(body["forecast"], body["naive"], strict=True):
        assert point["low"] < point["close"] < point["high"]
        assert naive == {"date": point["date"], "close": body["last_close"]}
    assert body["forecast"][0]["date"] > body["as_of"]
    again = gateway.call("POST", "/predict-child", key="read", json={"ticker": "aapl", "days": 3}).json()
    assert again["cached"] is True
    assert {**again, "cached": False} == body
    assert gateway.metric("stockops_gateway_forecast_cache_total", result="hit") >= 1
    beyond = gateway.call("POST", "/predict-child", key="read", json={"ticker": "AAPL", "days": 6})
    assert beyond.status_code == 422
    assert beyond.json()["field"] == "days" and "between 1 and 5" in beyond.json()["detail"]


def test_the_parent_forecast(gateway: Gateway, aapl: dict[str, Any]) -> None:
    body = gateway.call("POST", "/predict-parent", key="read", json={"days": 2}).json()
    assert body["ticker"] == "^GSPC" and body["model_name"] == "stockops-gspc" and len(body["forecast"]) == 2


def test_tickers_detail_and_history(gateway: Gateway, aapl: dict[str, Any]) -> None:
    rows = {r["ticker"]: r for r in gateway.call("GET", "/tickers", key="read").json()}
    assert rows["AAPL"]["phase"] == rows["^GSPC"]["phase"] == "Ready"
    assert (rows["AAPL"]["kind"], rows["^GSPC"]["kind"]) == ("child", "parent")
    assert rows["AAPL"]["name"] == "aapl" and rows["^GSPC"]["name"] == "gspc"
    assert rows["AAPL"]["task_id"] == "tickermodel/aapl/1" and rows["AAPL"]["model_version"] == "1"
    assert isinstance(rows["AAPL"]["skill"], float)
    detail = gateway.call("GET", "/tickers/aapl", key="read").json()
    assert detail["phase"] == "Ready" and detail["progress"] == 100 and detail["horizon_days"] == 5
    assert detail["parent"] == "stockops-gspc/1"
    metrics = detail["metrics"]
    assert metrics["skill_ci_low"] <= metrics["skill"] <= metrics["skill_ci_high"]
    assert [row["step"] for row in metrics["per_horizon"]] == [1, 2, 3, 4, 5]
    assert gateway.call("GET", "/tickers/%5EGSPC", key="read").json()["kind"] == "parent"
    history = gateway.call("GET", "/tickers/AAPL/history?days=10", key="read").json()
    forecast = gateway.call("POST", "/predict-child", key="read", json={"ticker": "AAPL", "days": 1}).json()
    assert len(history) == 10
    assert [h["date"] for h in history] == sorted(h["date"] for h in history)
    assert history[-1] == {"date": forecast["as_of"], "close": forecast["last_close"]}


def test_train_endpoints_start_one_task_each_and_a_child_waits_for_a_training_parent(
    gateway: Gateway, aapl: dict[str, Any]
) -> None:
    parent = gateway.call("POST", "/train-parent", key="train", json={"ticker": "spy", "epochs": 1})
    assert parent.status_code == 202, parent.text
    assert parent.json()["task_id"] == "parentmodel/spy/1"
    again = gateway.call("POST", "/train-parent", key="train", json={"ticker": "SPY"})
    assert again.json()["task_id"] == "parentmodel/spy/1"  # running: returned, not a second training
    child = gateway.call(
        "POST", "/train-child", key="train", json={"ticker": "MSFT", "parent": "SPY", "strategy": "freeze"}
    )
    assert child.status_code == 202 and child.json()["task_id"] == "tickermodel/msft/1"
    assert child.json()["phase"] == "WaitingForParent"  # SPY is training: no second parent training
    assert gateway.wait_done("parentmodel/spy/1")["phase"] == "Ready"
    done = gateway.wait_done("tickermodel/msft/1")
    assert done["phase"] == "Ready", done
    assert done["parent_task_id"] == "parentmodel/spy/1"
    detail = gateway.call("GET", "/tickers/MSFT", key="read").json()
    assert detail["parent"] == "stockops-spy/1" and detail["kind"] == "child"


def test_a_ticker_without_prices_fails_its_training_with_no_data(
    gateway: Gateway, aapl: dict[str, Any]
) -> None:
    started = gateway.call("POST", "/predict-child", json={"ticker": "ZZZZ"})  # read + train
    assert started.status_code == 202
    done = gateway.wait_done(started.json()["task_id"])
    assert done["phase"] == "Failed"
    ready = next(c for c in done["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "NoData" and "ZZZZ" in done["message"]
    detail = gateway.call("GET", "/tickers/ZZZZ", key="read").json()
    assert detail["phase"] == "Failed" and detail["task_id"] == done["task_id"]


# --- analysis and monitoring -----------------------------------------------------------------------


def test_an_analysis_answers_then_comes_from_the_cache(gateway: Gateway, aapl: dict[str, Any]) -> None:
    started = gateway.call("POST", "/analyze", key="train", json={"ticker": "aapl", "question": QUESTION})
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "analyzing" and started.json()["task_id"] == "analysis/aapl/1"
    done = gateway.wait_done("analysis/aapl/1")
    assert done["phase"] == "Succeeded", done
    report = done["result"]
    assert report["stance"] and report["confidence"] and report["generator"] == "template"
    assert report["markdown"].startswith("# AAPL") and report["cached"] is False
    assert report["model_version"] == "1"
    second = gateway.call("POST", "/analyze", key="train", json={"ticker": "AAPL", "question": QUESTION})
    again = gateway.wait_done(second.json()["task_id"])
    assert again["task_id"] == "analysis/aapl/2" and again["result"]["cached"] is True
    assert again["result"]["stance"] == report["stance"]
    unknown = gateway.call("POST", "/analyze", key="train", json={"ticker": "GOOGL", "question": QUESTION})
    assert unknown.status_code == 404 and "GOOGL" in unknown.json()["detail"]


def test_monitor_runs_a_drift_check_and_keeps_it(gateway: Gateway, aapl: dict[str, Any]) -> None:
    assert gateway.call("GET", "/monitor/AAPL/drift", key="read").status_code == 404
    response = gateway.call("POST", "/monitor/aapl", key="train")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["ticker"] == "AAPL" and result["model_version"] == "1"
    assert result["verdict"] in ("NoDrift", "Drifted", "InsufficientData")
    assert result["features"] and all("column" in f for f in result["features"])
    assert result["live"]["verdict"] == "InsufficientData"  # no forecast log without STOCKOPS_REDIS_URL
    assert gateway.env["STOCKOPS_HOME"] not in response.text  # no server-side paths
    assert gateway.call("GET", "/monitor/AAPL/drift", key="read").json() == result
    assert gateway.call("GET", "/tickers/AAPL", key="read").json()["drift"]["verdict"] == result["verdict"]
    assert gateway.call("POST", "/monitor/GOOGL", key="train").status_code == 404


# --- malformed requests ----------------------------------------------------------------------------

MALFORMED: list[tuple[str, str, dict[str, Any], int, str]] = [
    # (method, path, httpx kwargs, status, field)
    ("POST", "/predict-child", {"content": b'{"ticker": '}, 400, "body"),
    ("POST", "/predict-child", {"content": b"not json at all"}, 400, "body"),
    ("POST", "/predict-child", {"json": [1, 2]}, 422, "body"),
    ("POST", "/predict-child", {"content": b""}, 422, "body"),
    ("POST", "/predict-child", {"json": {"days": 3}}, 422, "ticker"),
    ("POST", "/predict-child", {"json": {"ticker": 5}}, 422, "ticker"),
    ("POST", "/predict-child", {"json": {"ticker": None}}, 422, "ticker"),
    ("POST", "/predict-child", {"json": {"ticker": "../../etc/passwd"}}, 422, "ticker"),
    ("POST", "/predict-child", {"json": {"ticker": "AAPL; DROP TABLE"}}, 422, "ticker"),
    ("POST", "/predict-child", {"json": {"ticker": "A" * 17}}, 422, "ticker"),
    ("POST", "/predict-child", {"json": {"ticker": "ÄPFEL"}}, 422, "ticker"),
    ("POST", "/predict-child", {"json": {"ticker": "AAPL", "days": 0}}, 422, "days"),
    ("POST", "/predict-child", {"json": {"ticker": "AAPL", "days": -1}}, 422, "days"),
    ("POST", "/predict-child", {"json": {"ticker": "AAPL", "days": 999}}, 422, "days"),
    ("POST", "/predict-child", {"json": {"ticker": "AAPL", "days": "5"}}, 422, "days"),
    ("POST", "/predict-child", {"json": {"ticker": "AAPL", "days": 2.5}}, 422, "days"),
    ("POST", "/predict-child", {"json": {"ticker": "AAPL", "days": True}}, 422, "days"),
    ("POST", "/predict-child", {"json": {"ticker": "AAPL", "days": 1, "window": [1]}}, 422, "window"),
    ("POST", "/predict-child", {"content": b'{"ticker":"' + b"A" * 40_000 + b'"}'}, 413, "body"),
    ("POST", "/predict-parent", {"json": {"ticker": "^^GSPC"}}, 422, "ticker"),
    ("POST", "/train-parent", {"json": {"epochs": 0}}, 422, "epochs"),
    ("POST", "/train-parent", {"json": {"epochs": 100000}}, 422, "epochs"),
    ("POST", "/train-child", {"json": {"ticker": "AAPL", "strategy": "melt"}}, 422, "strategy"),
    ("POST", "/train-child", {"json": {"ticker": "AAPL", "parent": "aapl"}}, 422, "parent"),
    ("POST", "/train-child", {"json": {"ticker": "AAPL", "lr": 1}}, 422, "lr"),
    ("POST", "/analyze", {"json": {"ticker": "AAPL"}}, 422, "question"),
    ("POST", "/analyze", {"json": {"ticker": "AAPL", "question": "  ?  "}}, 422, "question"),
    ("POST", "/analyze", {"json": {"ticker": "AAPL", "question": "x" * 2001}}, 422, "question"),
    ("POST", "/analyze", {"json": {"ticker": "AAPL", "question": ["why"]}}, 422, "question"),
    ("GET", "/status/tickermodel/aapl", {}, 422, "task_id"),
    ("GET", "/status/tickermodel/AAPL/1", {}, 422, "task_id"),
    ("GET", "/status/tickermodel/aapl/0", {}, 422, "task_id"),
    ("GET", "/status/job/aapl/1", {}, 422, "task_id"),
    ("GET", "/status/tickermodel/aapl/1/../../2", {}, 422, "task_id"),
    ("GET", "/status/tickermodel/nothing/9", {}, 404, "task_id"),
    ("GET", "/tickers/..%2F..%2Fetc", {}, 404, ""),
    ("GET", "/tickers/a%20b", {}, 422, "ticker"),
    ("GET", "/tickers/GOOGL", {}, 404, "ticker"),
    ("GET", "/tickers/AAPL/history?days=0", {}, 422, "days"),
    ("GET", "/tickers/AAPL/history?days=lots", {}, 422, "days"),
    ("GET", "/tickers/AAPL/history?days=100000", {}, 422, "days"),
    ("GET", "/tickers/GOOGL/history", {}, 404, "ticker"),
    ("POST", "/monitor/-AAPL", {}, 422, "ticker"),
    ("DELETE", "/system/reset", {}, 422, "confirm"),
    ("DELETE", "/system/reset?confirm=yes", {}, 422, "confirm"),
]


def test_malformed_requests_are_4xx_naming_the_field_and_the_server_stays_up(
    gateway: Gateway, aapl: dict[str, Any]
) -> None:
    assert len(MALFORMED) >= 30
    failures = []
    for method, path, kwargs, status, field_name in MALFORMED:
        headers = {"Content-Type": "application/json"} if "content" in kwargs else {}
        response = gateway.call(method, path, headers=headers, **kwargs)
        body = (
            response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        )
        if response.status_code != status or (field_name and body.get("field") != field_name):
            failures.append(f"{method} {path} {kwargs}: {response.status_code} {response.text[:300]}")
        elif field_name and field_name not in ("body",) and field_name not in body.get("detail", ""):
            failures.append(f"{method} {path}: detail does not name {field_name}: {body}")
    assert not failures, "\n".join(failures)
    assert gateway.process is not None and gateway.process.poll() is None
    assert httpx.get(f"{gateway.url}/health", timeout=10).json()["status"] == "ok"
    ok = gateway.call("POST", "/predict-child", key="read", json={"ticker": "AAPL", "days": 1})
    assert ok.status_code == 200


def test_metrics_count_requests_by_route_template(gateway: Gateway, aapl: dict[str, Any]) -> None:
    assert gateway.call("GET", "/metrics", key=None).status_code == 401
    assert gateway.metric("stockops_gateway_requests_total", route="/predict-child", status="200") >= 2
    assert (
        gateway.metric("stockops_gateway_requests_total", route="/status/{task_id:path}", status="422") >= 4
    )
    assert gateway.metric("stockops_gateway_request_seconds_count", route="/predict-child") >= 2
    text = gateway.call("GET", "/metrics", key="read").text
    assert "tickermodel/aapl" not in text  # routes by template: no series per task id


# --- restart and reset (last: they change the shared state) ----------------------------------------


def test_a_restart_keeps_tasks_and_marks_the_interrupted_one(gateway: Gateway, aapl: dict[str, Any]) -> None:
    started = gateway.call("POST", "/train-child", key="train", json={"ticker": "TSLA", "epochs": 50})
    assert started.status_code == 202
    task_id = started.json()["task_id"]
    deadline = time.monotonic() + TRAINING_TIMEOUT
    while gateway.call("GET", f"/status/{task_id}").json()["phase"] != "Training":
        assert time.monotonic() < deadline, gateway.loopback.tail(gateway.log)
        time.sleep(0.05)
    gateway.kill()
    gateway.start()
    interrupted = gateway.call("GET", f"/status/{task_id}").json()
    assert interrupted["phase"] == "Failed" and interrupted["done"]
    assert next(c for c in interrupted["conditions"] if c["type"] == "Ready")["reason"] == "Interrupted"
    kept = gateway.call("GET", "/status/tickermodel/aapl/1").json()
    assert kept["phase"] == "Ready" and kept["metrics"] == aapl["final"]["metrics"]
    assert gateway.call("GET", "/status/analysis/aapl/1").json()["result"]["stance"]
    assert httpx.get(f"{gateway.url}/health", timeout=10).json()["backend"]["interrupted_at_start"] == 1
    retried = gateway.call("POST", "/train-child", key="train", json={"ticker": "TSLA"})
    assert retried.json()["task_id"] == "tickermodel/tsla/2"


def test_reset_refuses_while_training_then_clears_every_local_store(gateway: Gateway) -> None:
    busy = gateway.call("DELETE", "/system/reset?confirm=yes-delete-all-state")
    assert busy.status_code == 409 and "tickermodel/tsla/2" in busy.json()["detail"]
    assert gateway.wait_done("tickermodel/tsla/2")["done"]
    reset = gateway.call("DELETE", "/system/reset?confirm=yes-delete-all-state")
    assert reset.status_code == 200, reset.text
    body = reset.json()
    assert {"mlflow.db", "mlartifacts", "features", "cache"} <= set(body["removed"])
    assert body["tasks_removed"] >= 6 and body["mode"] == "local"
    assert gateway.call("GET", "/tickers").json() == []
    assert gateway.call("GET", "/status/tickermodel/aapl/1").status_code == 404
    assert gateway.call("GET", "/monitor/AAPL/drift").status_code == 404
    # the stores work again from scratch: a new training registers version 1
    started = gateway.call("POST", "/train-parent", key="train", json={"ticker": "SPY"})
    assert started.json()["task_id"] == "parentmodel/spy/1"
    assert gateway.wait_done("parentmodel/spy/1")["phase"] == "Ready"
    rows = gateway.call("GET", "/tickers").json()
    assert [(r["ticker"], r["model_version"]) for r in rows] == [("SPY", "1")]


# --- rate limits (their own gateways: low limits) --------------------------------------------------


@pytest.fixture(scope="module")
def limited(
    tmp_path_factory: pytest.TempPathFactory, ohlcv_dir: Path, redis_server: Any, loopback: Any
) -> Iterator[Gateway]:
    """`python -m stockops.gateway` allowing 3 requests per key per minute, windows in Redis, CORS open
    to one origin."""
    from stockops.gateway.auth import add_key

    root = tmp_path_factory.mktemp("gateway-limited")
    keys = root / "keys.json"
    env = gateway_env(
        root / "home",
        ohlcv_dir,
        STOCKOPS_REDIS_URL=redis_server.url,
        STOCKOPS_GATEWAY_KEYS_FILE=str(keys),
        STOCKOPS_GATEWAY_RATE_LIMIT_REQUESTS="3",
        STOCKOPS_GATEWAY_RATE_LIMIT_WINDOW_SECONDS="60",
        STOCKOPS_GATEWAY_CORS_ORIGINS="http://console.example",
    )
    server = Gateway([sys.executable, "-m", "stockops.gateway"], env, root / "gateway.log", loopback)
    server.keys = {"a": add_key(keys, "a", frozenset({"read"})), "b": add_key(keys, "b", frozenset({"read"}))}
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_fourth_request_in_a_minute_is_429_with_retry_after(limited: Gateway, redis_server: Any) -> None:
    redis_server.start()
    statuses = [limited.call("GET", "/status/analysis/none/1", key="a").status_code for _ in range(3)]
    assert statuses == [404, 404, 404]
    refused = limited.call("GET", "/status/analysis/none/1", key="a")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "rate limit of 3 requests per 60s" in refused.json()["detail"]
    assert limited.call("GET", "/status/analysis/none/1", key="b").status_code == 404  # per key
    import redis

    from stockops.gateway.auth import digest

    client = redis.Redis.from_url(redis_server.url)
    assert (
        client.zcard(f"stockops:gateway:rl:{digest(limited.keys['a'])[:16]}") == 3
    )  # the window is in Redis
    assert limited.metric("stockops_gateway_rate_limited_total", key="b") == 1


def test_with_redis_down_the_limit_holds_in_memory(limited: Gateway, redis_server: Any) -> None:
    from stockops.gateway.auth import add_key

    key = add_key(Path(limited.env["STOCKOPS_GATEWAY_KEYS_FILE"]), "c", frozenset({"read"}))
    limited.keys["c"] = key
    redis_server.kill()
    try:
        statuses = [limited.call("GET", "/status/analysis/none/1", key="c").status_code for _ in range(4)]
        assert statuses == [404, 404, 404, 429]
        health = httpx.get(f"{limited.url}/health", timeout=10).json()
        assert health["status"] == "degraded" and health["rate_limiter"] == "memory (redis unavailable)"
        assert limited.process is not None and limited.process.poll() is None
    finally:
        redis_server.start()


def test_cors_answers_only_the_configured_origin(limited: Gateway) -> None:
    allowed = httpx.options(
        f"{limited.url}/predict-child",
        headers={"Origin": "http://console.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert allowed.headers.get("access-control-allow-origin") == "http://console.example"
    other = httpx.options(
        f"{limited.url}/predict-child",
        headers={"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert other.headers.get("access-control-allow-origin") is None


def test_fail_closed_answers_503_while_redis_is_down(
    tmp_path_factory: pytest.TempPathFactory, ohlcv_dir: Path, loopback: Any
) -> None:
    from stockops.gateway.auth import add_key

    root = tmp_path_factory.mktemp("gateway-closed")
    keys = root / "keys.json"
    env = gateway_env(
        root / "home",
        ohlcv_dir,
        STOCKOPS_GATEWAY_REDIS_URL=f"redis://127.0.0.1:{loopback.free_port()}/0",  # nothing listens there
        STOCKOPS_GATEWAY_RATE_LIMIT_ON_REDIS_ERROR="closed",
        STOCKOPS_GATEWAY_KEYS_FILE=str(keys),
    )
    server = Gateway([sys.executable, "-m", "stockops.gateway"], env, root / "gateway.log", loopback)
    server.keys = {"a": add_key(keys, "a", frozenset({"read"}))}
    server.start()
    try:
        refused = server.call("GET", "/status/analysis/none/1", key="a")
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        assert "rate limiter" in refused.json()["detail"]
        assert server.call("GET", "/status/analysis/none/1", key=None).status_code == 401
    finally:
        server.stop()
