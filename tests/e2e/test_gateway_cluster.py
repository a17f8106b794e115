"""The gateway in cluster mode, end to end: a ticker it has never seen becomes a TickerModel, trains,
is served by its predictor and forecast through the gateway; a question becomes an Analysis.

Real parts only: the kube-apiserver with PodSecurity ``restricted`` in the namespace, the operator as
the `stockops-operator` user, a real `mlflow server`, the real trainer, predictor and agent (run by the
test cluster's node agent or a real cluster), real prices. The gateway runs as its own process (`python -m
stockops.gateway`, cluster mode) under the `stockops-gateway` user, bound to exactly the Role the chart
gives it (`stockops.gateway.rbac.gateway_rules`), so a verb it lacks fails here and one it must not
have (delete, with reset off) is checked to be refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from stockops.gateway.auth import add_key, parse_scopes
from stockops.gateway.rbac import gateway_rules

TRAIN_TIMEOUT = 900.0
AGENT_TIMEOUT = 300.0
STANCES = {"BULLISH", "BEARISH", "NEUTRAL"}
OPERATOR_ENV = {
    "STOCKOPS_OPERATOR_EXTRA_ENV": json.dumps(
        {"STOCKOPS_NEWS_SOURCE": "none", "STOCKOPS_LLM_MAX_RETRIES": "0"}
    ),
}
# The examples' parent (small; known to pass its gate on these prices), applied as a platform team would.
PARENT = Path(__file__).resolve().parents[2] / "examples" / "parentmodel-gspc.yaml"
TICKER_TEMPLATE = {
    "apiVersion": "stockops.io/v1alpha1",
    "kind": "TickerModel",
    "spec": {
        "ticker": "FILLED-IN",
        "parentRef": {"name": "gspc"},
        "data": {"start": "2015-01-01"},
        "transfer": {"strategy": "fine-tune", "epochs": 2},
        "training": {"batchSize": 128, "seed": 42},
        "serving": {"replicas": 1},
    },
}


class Gateway:
    """`python -m stockops.gateway` in cluster mode on a loopback port, with one key of each kind."""

    def __init__(self, base: str, keys: dict[str, str], process: subprocess.Popen[bytes], log: Path) -> None:
        self.base, self.keys, self.process, self.log = base, keys, process, log

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, key: str = "train"
    ) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if key:
            request.add_header("Authorization", f"Bearer {self.keys[key]}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-60:])


@pytest.fixture
def gateway(
    e2e_cluster: Any, e2e_namespace: str, harness: Any, ohlcv_dir: Path, tmp_path: Path
) -> Iterator[Gateway]:
    ns = e2e_namespace
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "stockops-gateway", "namespace": ns},
        "rules": gateway_rules(reset_enabled=False),
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "stockops-gateway", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "stockops-gateway"},
        "subjects": [e2e_cluster.gateway.subject],
    }
    e2e_cluster.kubectl_run("apply", "-f", "-", input=yaml.safe_dump_all([role, binding]))
    keys_file = tmp_path / "keys.json"
    keys = {
        "read": add_key(keys_file, "reader", parse_scopes("read")),
        "train": add_key(keys_file, "trainer", parse_scopes("read,train")),
        "admin": add_key(keys_file, "admin", parse_scopes("read,train,admin")),
    }
    template = tmp_path / "tickermodel.yaml"
    template.write_text(yaml.safe_dump(TICKER_TEMPLATE))
    port = harness.free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("STOCKOPS_", "MLFLOW_", "KUBECONFIG"))},
        "STOCKOPS_HOME": str(tmp_path / "home"),
        "STOCKOPS_GATEWAY_MODE": "cluster",
        "STOCKOPS_GATEWAY_HOST": "127.0.0.1",
        "STOCKOPS_GATEWAY_PORT": str(port),
        "STOCKOPS_GATEWAY_NAMESPACE": ns,
        "STOCKOPS_GATEWAY_KUBECONFIG": str(e2e_cluster.gateway.kubeconfig),
        "STOCKOPS_GATEWAY_KEYS_FILE": str(keys_file),
        "STOCKOPS_GATEWAY_TICKER_TEMPLATE": str(template),
        "STOCKOPS_GATEWAY_MONITOR_WAIT_SECONDS": "0",
        "STOCKOPS_DATA_SOURCE": f"csv:{ohlcv_dir}",
        **e2e_cluster.client_env,  # the predictors' Service names resolve as in a pod
    }
    log = tmp_path / "gateway.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "stockops.gateway"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    gw = Gateway(f"http://127.0.0.1:{port}", keys, process, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"the gateway exited with {process.returncode}:\n{gw.tail()}")
            try:
                if gw.call("GET", "/health", key="")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the gateway did not answer /health:\n{gw.tail()}")
            time.sleep(0.5)
        yield gw
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _ticker_models(api: Any) -> list[dict[str, Any]]:
    listed = api.custom.list_namespaced_custom_object(
        "stockops.io", "v1alpha1", api.namespace, "tickermodels"
    )
    return list(listed["items"])


def test_a_new_ticker_trains_through_its_resource_and_is_forecast_then_analysed(
    e2e_cluster: Any, e2e_namespace: str, start_operator: Any, harness: Any, gateway: Gateway
) -> None:
    h, ns = harness, e2e_namespace
    operator = start_operator(ns, **OPERATOR_ENV)
    api = h.Api(e2e_cluster, ns)

    def show() -> str:
        return e2e_cluster.kubectl_run("get", "pm,tkm,an", "-n", ns, "-o", "yaml", check=False).stdout

    # The platform's parent, applied as a user would (the gateway only creates tickers).
    parent = yaml.safe_load(PARENT.read_text())
    h.apply_resource(e2e_cluster, ns, "ParentModel", parent["metadata"]["name"], parent["spec"])

    # Two concurrent requests for a ticker nobody has seen: one TickerModel, one task, both 202.
    answers: list[tuple[int, dict[str, Any]]] = []

    def ask() -> None:
        answers.append(gateway.call("POST", "/predict-child", {"ticker": "aapl", "days": 3}))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [a[0] for a in answers] == [202, 202], (answers, gateway.tail())
    assert {a[1]["task_id"] for a in answers} == {"tickermodel/aapl/1"}
    assert answers[0][1]["status_url"] == "/status/tickermodel/aapl/1"
    models = _ticker_models(api)
    assert [m["metadata"]["name"] for m in models] == ["aapl"]
    created = models[0]
    assert created["spec"]["ticker"] == "AAPL" and created["spec"]["parentRef"] == {"name": "gspc"}
    assert created["metadata"]["labels"]["stockops.io/created-by"] == "gateway"
    assert created["spec"]["transfer"]["epochs"] == 2  # from the template file

    # A read-only key may poll, but not start trainings.
    code, denied = gateway.call("POST", "/predict-child", {"ticker": "MSFT"}, key="read")
    assert code == 403 and "train" in denied["detail"]
    assert [m["metadata"]["name"] for m in _ticker_models(api)] == ["aapl"]

    # /status reads the resource's status until Ready, with progress on the way.
    seen: list[tuple[str, int]] = []

    def status_ready() -> dict[str, Any] | None:
        code, body = gateway.call("GET", "/status/tickermodel/aapl/1", key="read")
        assert code == 200, body
        seen.append((body["phase"], body["progress"]))
        if body["phase"] == "Failed":
            pytest.fail(f"the TickerModel failed: {body}\n{show()}")
        return body if body["done"] else None

    status = h.wait_for(
        "aapl Ready through /status", status_ready, timeout=TRAIN_TIMEOUT, operator=operator, describe=show
    )
    assert status["phase"] == "Ready" and status["progress"] == 100
    assert {c["type"] for c in status["conditions"]} >= {"Ready"}
    assert status["metrics"]["skill"] is not None and status["metrics"]["skill_ci_low"] is not None
    assert {phase for phase, _ in seen} - {"Ready"}, "never saw the training before Ready"

    # Now the forecast comes from the ticker's own predictor, with its interval and the random walk.
    code, forecast = gateway.call("POST", "/predict-child", {"ticker": "AAPL", "days": 3}, key="read")
    assert code == 200, (forecast, gateway.tail())
    resource = api.get("TickerModel", "aapl")
    assert forecast["model_version"] == resource["status"]["mlflow"]["servingVersion"]
    assert len(forecast["forecast"]) == len(forecast["naive"]) == 3
    assert all(p["low"] <= p["close"] <= p["high"] for p in forecast["forecast"])
    assert {p["close"] for p in forecast["naive"]} == {forecast["last_close"]}
    code, again = gateway.call("POST", "/predict-child", {"ticker": "AAPL", "days": 3}, key="read")
    assert code == 200 and again["cached"] is True and again["forecast"] == forecast["forecast"]
    code, too_far = gateway.call("POST", "/predict-child", {"ticker": "AAPL", "days": 6}, key="read")
    assert code == 422 and "days" in json.dumps(too_far) and "5" in too_far["detail"]

    # The parent is trained, not served, in a cluster: said so, not a 500 or a made-up forecast.
    code, parent_answer = gateway.call("POST", "/predict-parent", {}, key="read")
    assert code == 409 and "TickerModel of ^GSPC" in parent_answer["detail"], parent_answer
    assert gateway.call("GET", "/status/tickermodel/aapl/7", key="read")[0] == 404  # no such generation
    assert gateway.call("GET", "/status/tickermodel/nosuch/1", key="read")[0] == 404

    code, rows = gateway.call("GET", "/tickers", key="read")
    assert code == 200 and ("AAPL", "Ready") in {(r["ticker"], r["phase"]) for r in rows}

    # The console's data: the ticker's detail (metrics with intervals) and its price history.
    code, detail = gateway.call("GET", "/tickers/AAPL", key="read")
    assert code == 200 and detail["phase"] == "Ready" and detail["horizon_days"] == 5, detail
    assert detail["metrics"]["per_horizon"][0]["step"] == 1
    code, history = gateway.call("GET", "/tickers/AAPL/history?days=30", key="read")
    assert code == 200 and len(history) == 30, history
    # The chart's last point is the close the forecast starts from (the predictor rounds prices to cents).
    assert history[-1]["date"] == forecast["as_of"], (history[-3:], forecast["as_of"])
    assert abs(history[-1]["close"] - forecast["last_close"]) < 0.01, (history[-1], forecast["last_close"])

    # A drift check is the monitor annotation; its result lands in the status, read back here.
    code, none_yet = gateway.call("GET", "/monitor/AAPL/drift", key="read")
    assert code == 404 and "POST /monitor/AAPL" in none_yet["detail"]
    code, requested = gateway.call("POST", "/monitor/AAPL")
    assert code == 200 and requested["verdict"] == "Pending", requested  # MONITOR_WAIT_SECONDS=0
    annotations = api.get("TickerModel", "aapl")["metadata"]["annotations"]
    assert annotations["stockops.io/monitor"].startswith("gateway-")

    def drift_checked() -> dict[str, Any] | None:
        code, body = gateway.call("GET", "/monitor/AAPL/drift", key="read")
        return body if code == 200 else None

    drift = h.wait_for(
        "the drift check through the gateway", drift_checked, timeout=300, operator=operator, describe=show
    )
    assert drift["verdict"] in {"NoDrift", "Drifted", "InsufficientData"}
    assert drift["model_version"] == forecast["model_version"]

    # A question becomes an Analysis; the answer is its status and the report ConfigMap.
    question = {"ticker": "AAPL", "question": "Should I worry about volatility this week?"}
    code, accepted = gateway.call("POST", "/analyze", question)
    assert code == 202, accepted
    task_id = accepted["task_id"]
    assert task_id.startswith("analysis/aapl-") and task_id.endswith("/1")
    assert (
        gateway.call("POST", "/analyze", question)[1]["task_id"] == task_id
    )  # the same question: the same one

    def analysed() -> dict[str, Any] | None:
        body = gateway.call("GET", f"/status/{task_id}", key="read")[1]
        if body.get("phase") == "Failed":
            pytest.fail(f"the Analysis failed: {body}\n{show()}")
        return body if body.get("done") else None

    answer = h.wait_for(
        "the analysis through /status", analysed, timeout=AGENT_TIMEOUT, operator=operator, describe=show
    )
    assert answer["result"]["stance"] in STANCES and answer["result"]["confidence"] in {
        "LOW",
        "MEDIUM",
        "HIGH",
    }
    assert "AAPL" in answer["result"]["markdown"]  # the report ConfigMap, read with the gateway's Role
    assert answer["result"]["generator"] == "template"  # no LLM configured: said so, never passed off

    # In a cluster reset is off unless the chart enables it; the Role has no delete to fall back on.
    code, refused = gateway.call("DELETE", "/system/reset?confirm=yes-delete-all-state", key="admin")
    assert code == 403 and "disabled" in refused["detail"]
    can_delete = e2e_cluster.kubectl_run(
        "auth", "can-i", "delete", "tickermodels", "-n", ns, user=e2e_cluster.gateway, check=False
    )
    assert can_delete.stdout.strip() == "no"
    assert [m["metadata"]["name"] for m in _ticker_models(api)] == ["aapl"]
