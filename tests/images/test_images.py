"""Every image this repository builds, built by a real OCI builder and run as a restricted pod runs it.

The images come from `scripts/build-images.sh` (podman; the Debian base built with debootstrap; torch
from PyPI), tagged by the hash of their inputs. Each container runs with the PodSecurity ``restricted``
context of the chart: its image's non-root user, a read-only root filesystem with tmpfs for ``/tmp``
and ``STOCKOPS_HOME`` (the pods' emptyDirs), every capability dropped, ``no-new-privileges``. On top:

- the trainer trains a tiny model from the real CSVs (mounted read-only) into a real ``mlflow server``
  on loopback, which then holds its registered version;
- the predictor serves that version and answers a KServe V1 request with dated forecast and naive paths;
- the agent answers a question about it with the template writer, reading the forecast from that
  predictor, and logs its report to MLflow;
- the operator starts against the real test kube-apiserver as its least-privilege user, serves Kopf's
  ``/healthz`` and creates the training Job of a ParentModel;
- the gateway, in cluster mode as its own user bound to the chart's Role, answers ``/health`` and
  ``/openapi.json`` and lists the namespace's TickerModels.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.images

TICKER = "AAPL"
MODEL_NAME = "stockops-aapl"
DATA = "/data"  # where the real CSVs are mounted, read-only
HOME = "/home/stockops/.stockops"  # STOCKOPS_HOME of the torch images: an emptyDir in the pod
# Tiny on purpose: the tests check the images, not the model.
TRAINER_SPEC = {
    "ticker": TICKER,
    "data": {"source": f"csv:{DATA}", "start": "2022-01-01"},
    "model": {"hiddenSize": 8, "numLayers": 1, "contextDays": 20, "horizonDays": 5},
    "training": {"epochs": 1, "batchSize": 64, "numThreads": 1, "seed": 42},
}
STANCES = {"BULLISH", "BEARISH", "NEUTRAL"}
# What the process inside sees: its ids, whether / and its home are writable, /tmp, capabilities.
PROBE = """
import json, os
def writable(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return True
    except OSError as exc:
        return exc.errno
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(),
    "root": writable("/probe"), "home": writable(os.path.expanduser("~/probe")),
    "tmp": writable("/tmp/probe"),
    "cap_eff": int(status["CapEff"].strip(), 16), "no_new_privs": int(status["NoNewPrivs"]),
    "seccomp": int(status["Seccomp"]),
}))
"""
EROFS = 30


def _mlflow(uri: str, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{uri}/api/2.0/mlflow/{path}", timeout=10) as response:
        return dict(json.loads(response.read()))


@pytest.mark.parametrize("component", ["operator", "trainer", "predictor", "agent", "gateway"])
def test_image_runs_as_a_non_root_user_on_a_read_only_root(images: Any, podman: Any, component: str) -> None:
    image = images[component]
    user = podman.image_user(image)
    assert user.isdigit() and int(user) > 0, f"{image} must name a numeric non-root USER, not {user!r}"
    result = podman.run(image, "-c", PROBE, entrypoint="python", timeout=120)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["uid"] == int(user) != 0
    assert seen["root"] == EROFS and seen["home"] == EROFS  # nothing outside the emptyDirs is writable
    assert seen["tmp"] is True
    assert seen["cap_eff"] == 0 and seen["no_new_privs"] == 1
    assert seen["seccomp"] == 2  # a filter is enforced, as RuntimeDefault does


@pytest.fixture(scope="module")
def trained(images: Any, podman: Any, mlflow_server: str, ohlcv_dir: Path, helpers: Any) -> dict[str, Any]:
    """The trainer image's Job: one tiny parent model of AAPL into the MLflow server; its summary."""
    result = podman.run(
        images["trainer"],
        "--kind", "parent",
        env={
            "STOCKOPS_TRAINER_CONFIG": json.dumps(TRAINER_SPEC),
            "MLFLOW_TRACKING_URI": mlflow_server,
            "STOCKOPS_JOB_NAME": "images-test",
            "STOCKOPS_TERMINATION_LOG": "/tmp/termination-log",
        },
        volumes=[f"{ohlcv_dir}:{DATA}:ro"],
        writable=[HOME],
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, f"trainer exited {result.returncode}:\n{result.stderr[-6000:]}"
    summary = helpers.termination(result.stdout)
    assert summary["ok"] is True, summary
    return summary


def test_trainer_registers_a_model_version_in_mlflow(trained: dict[str, Any], mlflow_server: str) -> None:
    version = str(trained["model_version"])
    registered = _mlflow(mlflow_server, f"model-versions/get?name={MODEL_NAME}&version={version}")
    model_version = registered["model_version"]
    assert model_version["status"] == "READY"
    run = _mlflow(mlflow_server, f"runs/get?run_id={model_version['run_id']}")["run"]
    assert run["info"]["status"] == "FINISHED"
    tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
    assert tags["stockops.job_name"] == "images-test"  # the Job that trained it
    metrics = {m["key"] for m in run["data"]["metrics"]}
    assert any(key.startswith("test_") for key in metrics), sorted(metrics)  # evaluated on the test split


@pytest.fixture(scope="module")
def predictor(
    images: Any, podman: Any, trained: dict[str, Any], mlflow_server: str, ohlcv_dir: Path, helpers: Any
) -> Iterator[str]:
    """The predictor image serving the version the trainer registered; yields its base URL."""
    port = helpers.free_port()
    container = podman.start(
        images["predictor"],
        env={
            "STOCKOPS_MODEL_NAME": MODEL_NAME,
            "STOCKOPS_MODEL_VERSION": str(trained["model_version"]),
            "MLFLOW_TRACKING_URI": mlflow_server,
            "STOCKOPS_DATA_SOURCE": f"csv:{DATA}",
            "PORT": str(port),
        },
        volumes=[f"{ohlcv_dir}:{DATA}:ro"],
        writable=[HOME],
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if not container.running():
            pytest.fail(f"the predictor exited:\n{container.logs()}")
        return bool(helpers.http_get(f"{base}/v2/health/ready")[0] == 200)

    helpers.wait_until(ready, timeout=300, what="predictor", log=container.logs)
    try:
        yield base
    finally:
        container.stop()


def test_predictor_answers_a_v1_request_for_the_registered_version(
    predictor: str, trained: dict[str, Any]
) -> None:
    request = urllib.request.Request(
        f"{predictor}/v1/models/{MODEL_NAME}:predict",
        data=json.dumps({"instances": [{"days": 3}]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
        answer = json.loads(response.read())["predictions"][0]
    assert answer["ticker"] == TICKER and answer["model_version"] == str(trained["model_version"])
    assert answer["days"] == 3 and answer["synthetic"] is False
    dates = [point["date"] for point in answer["forecast"]]
    assert len(dates) == 3 and dates == sorted(dates) and dates[0] > answer["as_of"]
    assert [point["date"] for point in answer["naive"]] == dates
    assert all(point["close"] == answer["last_close"] for point in answer["naive"])  # the random walk
    assert all(point["close"] > 0 for point in answer["forecast"])


def test_agent_answers_with_a_stance_and_logs_its_report(
    images: Any, podman: Any, predictor: str, trained: dict[str, Any], mlflow_server: str, ohlcv_dir: Path,
    helpers: Any,
) -> None:  # fmt: skip
    result = podman.run(
        images["agent"],
        env={
            "STOCKOPS_AGENT_TICKER": TICKER,
            "STOCKOPS_AGENT_QUESTION": "Should I worry about volatility this week?",
            "STOCKOPS_AGENT_MODEL_VERSION": str(trained["model_version"]),
            "STOCKOPS_PREDICTOR_URL": predictor,
            "MLFLOW_TRACKING_URI": mlflow_server,
            "STOCKOPS_DATA_SOURCE": f"csv:{DATA}",
            "STOCKOPS_NEWS_SOURCE": "none",
            "STOCKOPS_SEMANTIC_CACHE": "off",  # what the operator sets without a Qdrant server
            "STOCKOPS_TERMINATION_LOG": "/tmp/termination-log",
        },
        volumes=[f"{ohlcv_dir}:{DATA}:ro"],
        writable=[HOME],
        timeout=600,
    )
    assert result.returncode == 0, f"agent exited {result.returncode}:\n{result.stderr[-6000:]}"
    answer = helpers.termination(result.stdout)
    assert answer["ok"] is True, answer
    assert answer["stance"] in STANCES and answer["generator"] == "template"
    assert answer["model_version"] == str(trained["model_version"])
    with urllib.request.urlopen(
        f"{mlflow_server}/get-artifact?path=analysis/report.md&run_uuid={answer['mlflow_run_id']}", timeout=10
    ) as response:
        report = response.read().decode()
    assert TICKER in report and answer["stance"].lower() in report.lower()


def _namespace(api_server: Any) -> str:
    from kubernetes import client

    name = f"images-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api_server.admin).create_namespace({"metadata": {"name": name}})
    return name


def test_operator_serves_healthz_and_creates_a_training_job(
    images: Any, podman: Any, api_server: Any, mlflow_server: str, repo_root: Path, helpers: Any
) -> None:
    from kubernetes import client, utils

    # The operator's own identity, bound to exactly the ClusterRole the chart ships.
    documents = list(yaml.safe_load_all((repo_root / "deploy" / "rbac" / "operator.yaml").read_text()))
    role = next(d for d in documents if d["kind"] == "ClusterRole")
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "stockops-operator-images"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": role["metadata"]["name"],
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "stockops-operator"}],
    }
    utils.create_from_yaml(api_server.admin, yaml_objects=[role, binding])
    namespace = _namespace(api_server)
    port, metrics_port = helpers.free_port(), helpers.free_port()
    container = podman.start(
        images["operator"],
        "--namespace", namespace,
        "--liveness", f"http://127.0.0.1:{port}/healthz",
        "--metrics-port", str(metrics_port),
        env={"KUBECONFIG": "/kube/config", "MLFLOW_TRACKING_URI": mlflow_server},
        volumes=[f"{api_server.kubeconfig('stockops-operator')}:/kube/config:ro"],
    )  # fmt: skip
    try:

        def healthy() -> bool:
            if not container.running():
                pytest.fail(f"the operator exited:\n{container.logs()}")
            return bool(helpers.http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200)

        helpers.wait_until(healthy, timeout=180, what="operator /healthz", log=container.logs)
        custom = client.CustomObjectsApi(api_server.admin)
        custom.create_namespaced_custom_object(
            "stockops.io", "v1alpha1", namespace, "parentmodels",
            {"apiVersion": "stockops.io/v1alpha1", "kind": "ParentModel", "metadata": {"name": "gspc"},
             "spec": {"ticker": "^GSPC", "training": {"epochs": 1}}},
        )  # fmt: skip
        jobs = client.BatchV1Api(api_server.admin)
        helpers.wait_until(
            lambda: bool(jobs.list_namespaced_job(namespace).items),
            timeout=120,
            what="the ParentModel's training Job",
            log=container.logs,
        )
        job = jobs.list_namespaced_job(namespace).items[0]
        assert job.metadata.owner_references[0].kind == "ParentModel"
        assert helpers.http_get(f"http://127.0.0.1:{metrics_port}/metrics")[0] == 200
    finally:
        container.stop()


def test_gateway_in_cluster_mode_answers_health_openapi_and_lists_tickers(
    images: Any, podman: Any, api_server: Any, tmp_path: Path, helpers: Any
) -> None:
    from kubernetes import client, utils

    from stockops.gateway.auth import add_key, parse_scopes
    from stockops.gateway.rbac import gateway_rules

    namespace = _namespace(api_server)
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "stockops-gateway", "namespace": namespace},
        "rules": gateway_rules(reset_enabled=False),
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "stockops-gateway", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "stockops-gateway"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "stockops-gateway"}],
    }
    utils.create_from_yaml(api_server.admin, yaml_objects=[role, binding])
    client.CustomObjectsApi(api_server.admin).create_namespaced_custom_object(
        "stockops.io", "v1alpha1", namespace, "tickermodels",
        {"apiVersion": "stockops.io/v1alpha1", "kind": "TickerModel", "metadata": {"name": "msft"},
         "spec": {"ticker": "MSFT", "parentRef": {"name": "gspc"}}},
    )  # fmt: skip
    keys_file = tmp_path / "keys.json"
    key = add_key(keys_file, "reader", parse_scopes("read"))
    keys_file.chmod(0o644)  # mounted read-only for the container's user, as a Secret volume would be
    port = helpers.free_port()
    container = podman.start(
        images["gateway"],
        env={
            "STOCKOPS_GATEWAY_HOST": "127.0.0.1",
            "STOCKOPS_GATEWAY_PORT": str(port),
            "STOCKOPS_GATEWAY_NAMESPACE": namespace,
            "STOCKOPS_GATEWAY_KUBECONFIG": "/kube/config",
            "STOCKOPS_GATEWAY_KEYS_FILE": "/keys/keys.json",
        },
        volumes=[
            f"{api_server.kubeconfig('stockops-gateway')}:/kube/config:ro",
            f"{keys_file}:/keys/keys.json:ro",
        ],
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            if not container.running():
                pytest.fail(f"the gateway exited:\n{container.logs()}")
            return bool(helpers.http_get(f"{base}/health")[0] == 200)

        helpers.wait_until(up, timeout=180, what="gateway /health", log=container.logs)
        health = json.loads(helpers.http_get(f"{base}/health")[1])
        assert health["mode"] == "cluster", health
        status, body = helpers.http_get(f"{base}/openapi.json")
        assert status == 200
        paths = json.loads(body)["paths"]
        assert {"/health", "/tickers", "/predict-child"} <= set(paths)
        request = urllib.request.Request(f"{base}/tickers", headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            tickers = json.loads(response.read())
        assert [t["ticker"] for t in tickers] == ["MSFT"]
    finally:
        container.stop()
