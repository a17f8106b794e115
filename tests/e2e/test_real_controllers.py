"""The test cluster with real controllers: kube-controller-manager, kube-scheduler and the node agent.

`stockops-testenv --controllers` runs the real controller manager and scheduler of the API server's own
release beside it (tests/e2e/testenv/controllers.go); the node agent (tests/e2e/node_agent.py) is the
only simulated part, a kubelet on two registered nodes, one of them a tainted GPU node. Each test here
asserts something that only the real component does (or refuses): the Job controller's pods, retries
and conditions; the scheduler's placement by taints, tolerations and extended resources; the garbage
collector removing dependents of a deleted custom resource; the namespace controller finishing a
delete; the kubelet's rules for unknown images and declared probes.

They run on the session's test cluster (conftest.py), which the whole e2e suite shares.
"""

from __future__ import annotations

import ipaddress
import json
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s_client

from stockops.crd.ticker_model import TickerModelSpec
from stockops.devcluster import LocalApiServer
from stockops.operator.builders import Owner, build_inference_service, build_training_job
from stockops.operator.settings import OperatorSettings

pytestmark = pytest.mark.e2e

IMAGE = "stockops/trainer:test"  # mapped by the node agent; the command below replaces its entrypoint
SECURE = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass
class Controlled:
    server: LocalApiServer
    api: k8s_client.ApiClient
    agent: Any

    @property
    def core(self) -> k8s_client.CoreV1Api:
        return k8s_client.CoreV1Api(self.api)

    @property
    def batch(self) -> k8s_client.BatchV1Api:
        return k8s_client.BatchV1Api(self.api)

    def describe(self, namespace: str) -> str:
        pods = self.core.list_namespaced_pod(namespace).items
        events = self.core.list_namespaced_event(namespace).items
        lines = [
            f"pod {p.metadata.name} on {p.spec.node_name}: {p.status.phase} {p.status.conditions}"
            for p in pods
        ]
        lines += [
            f"event {e.involved_object.kind}/{e.involved_object.name} {e.reason}: {e.message}" for e in events
        ]
        return "\n".join(lines) + "\nserver log:\n" + self.server.log_tail(40)


@pytest.fixture(scope="module")
def controlled(e2e_cluster: Any) -> Controlled:
    """The session's test cluster (conftest.py), seen through its admin client and its node agent."""
    if not e2e_cluster.local:
        pytest.skip("tests the local test cluster's controllers; an external cluster brings its own")
    return Controlled(server=e2e_cluster.api_server, api=e2e_cluster.admin, agent=e2e_cluster.nodes)


def wait_for(what: str, check: Callable[[], Any], timeout: float, describe: Callable[[], str]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{describe()}")


@pytest.fixture
def namespace(controlled: Controlled) -> Iterator[str]:
    """A restricted namespace whose default ServiceAccount exists (the real controller makes it, and the
    ServiceAccount admission plugin refuses pods until it does)."""
    name = f"ctl-{uuid.uuid4().hex[:8]}"
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    controlled.core.create_namespace({"metadata": {"name": name, "labels": labels}})
    wait_for(
        "the default ServiceAccount",
        lambda: (
            controlled.core.list_namespaced_service_account(
                name, field_selector="metadata.name=default"
            ).items
        ),
        60,
        lambda: controlled.server.log_tail(40),
    )
    yield name
    controlled.core.delete_namespace(name)


def _container(script: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "main",
        "image": IMAGE,
        "command": ["python", "-c", textwrap.dedent(script)],
        "securityContext": SECURE,
        **extra,
    }


def _job(name: str, script: str, *, backoff: int = 0, **pod_extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "containers": [_container(script)],
                    **pod_extra,
                }
            },
        },
    }


def _job_condition(controlled: Controlled, namespace: str, name: str, ctype: str) -> Any:
    job = controlled.batch.read_namespaced_job(name, namespace)
    return next((c for c in job.status.conditions or [] if c.type == ctype and c.status == "True"), None)


def _pods(controlled: Controlled, namespace: str, selector: str = "") -> list[Any]:
    return controlled.core.list_namespaced_pod(namespace, label_selector=selector).items


def test_the_controller_manager_publishes_service_accounts_and_the_root_ca(
    controlled: Controlled, namespace: str
) -> None:
    config_map = wait_for(
        "kube-root-ca.crt",
        lambda: (
            controlled.core.list_namespaced_config_map(
                namespace, field_selector="metadata.name=kube-root-ca.crt"
            ).items
        ),
        60,
        lambda: controlled.describe(namespace),
    )
    assert "BEGIN CERTIFICATE" in config_map[0].data["ca.crt"]
    nodes = {n.metadata.name: n for n in controlled.core.list_node().items}
    assert set(nodes) >= {"stockops-cpu", "stockops-gpu"}
    gpu = nodes["stockops-gpu"]
    assert gpu.status.allocatable["nvidia.com/gpu"] == "2"
    assert [(t.key, t.effect) for t in gpu.spec.taints] == [("nvidia.com/gpu", "NoSchedule")]


def test_the_job_controller_runs_a_pod_to_complete(controlled: Controlled, namespace: str) -> None:
    script = """
        import os, pathlib
        pathlib.Path(os.environ["STOCKOPS_TERMINATION_LOG"]).write_text("done on " + os.environ["NODE"])
    """
    job = _job("ok", script)
    job["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    ]
    controlled.batch.create_namespaced_job(namespace, job)
    wait_for(
        "Complete",
        lambda: _job_condition(controlled, namespace, "ok", "Complete"),
        90,
        lambda: controlled.describe(namespace),
    )

    status = controlled.batch.read_namespaced_job("ok", namespace).status
    assert status.succeeded == 1 and not status.failed
    [pod] = _pods(controlled, namespace, "batch.kubernetes.io/job-name=ok")
    assert pod.spec.node_name == "stockops-cpu"  # the GPU node's taint keeps it off
    assert pod.status.phase == "Succeeded"
    assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network("127.1.0.0/16")
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason, terminated.message) == (
        0,
        "Completed",
        "done on stockops-cpu",
    )
    # The controller's own marks, which no stand-in wrote.
    assert pod.metadata.owner_references[0].kind == "Job"
    assert pod.metadata.labels["batch.kubernetes.io/controller-uid"] == job_uid(controlled, namespace, "ok")


def job_uid(controlled: Controlled, namespace: str, name: str) -> str:
    return str(controlled.batch.read_namespaced_job(name, namespace).metadata.uid)


def test_a_failing_pod_is_retried_to_the_backoff_limit(controlled: Controlled, namespace: str) -> None:
    script = """
        import os, pathlib, sys
        pathlib.Path(os.environ["STOCKOPS_TERMINATION_LOG"]).write_text("MlflowUnavailable: no server")
        sys.exit(3)
    """
    controlled.batch.create_namespaced_job(namespace, _job("fails", script, backoff=1))
    failed = wait_for(
        "Failed",
        lambda: _job_condition(controlled, namespace, "fails", "Failed"),
        120,
        lambda: controlled.describe(namespace),
    )
    assert failed.reason == "BackoffLimitExceeded"
    pods = _pods(controlled, namespace, "batch.kubernetes.io/job-name=fails")
    assert len(pods) == 2  # backoffLimit 1: the first try and one retry
    for pod in pods:
        terminated = pod.status.container_statuses[0].state.terminated
        assert (terminated.exit_code, terminated.message) == (3, "MlflowUnavailable: no server")
    assert controlled.batch.read_namespaced_job("fails", namespace).status.failed == 2


def test_the_operators_gpu_training_pod_is_scheduled_on_the_gpu_node_only(
    controlled: Controlled, namespace: str
) -> None:
    settings = OperatorSettings(trainer_image=IMAGE, predictor_image="stockops/predictor:test")
    spec = TickerModelSpec.model_validate(
        {"ticker": "AAPL", "parentRef": {"name": "gspc"}, "resources": {"gpu": 1}}
    )
    job = build_training_job(
        Owner("TickerModel", "aapl", namespace, "uid-t", 1), spec, settings, job_name="aapl-gpu"
    )
    job["metadata"].pop("ownerReferences", None)  # its owner does not exist here
    # Placement is what is under test; the container need not train.
    job["spec"]["template"]["spec"]["containers"][0]["command"] = [
        "python",
        "-c",
        "import time; time.sleep(60)",
    ]
    controlled.batch.create_namespaced_job(namespace, job)

    def placed() -> Any:
        pods = [
            p
            for p in _pods(controlled, namespace, "batch.kubernetes.io/job-name=aapl-gpu")
            if p.spec.node_name
        ]
        return pods[0] if pods else None

    pod = wait_for("the GPU pod to be scheduled", placed, 60, lambda: controlled.describe(namespace))
    assert pod.spec.node_name == "stockops-gpu"

    # Without the toleration the same request is unschedulable: the taint is real, not decoration.
    bare = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "no-toleration"},
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [_container("pass", resources={"limits": {"nvidia.com/gpu": "1"}})],
        },
    }
    controlled.core.create_namespaced_pod(namespace, bare)

    def unschedulable() -> Any:
        conditions = controlled.core.read_namespaced_pod("no-toleration", namespace).status.conditions or []
        return next((c for c in conditions if c.type == "PodScheduled" and c.reason == "Unschedulable"), None)

    condition = wait_for("Unschedulable", unschedulable, 60, lambda: controlled.describe(namespace))
    assert "untolerated taint" in condition.message and "nvidia.com/gpu" in condition.message


def test_the_garbage_collector_removes_what_a_deleted_tickermodel_owned(
    controlled: Controlled, namespace: str
) -> None:
    custom = k8s_client.CustomObjectsApi(controlled.api)
    owner = custom.create_namespaced_custom_object(
        "stockops.io",
        "v1alpha1",
        namespace,
        "tickermodels",
        {
            "apiVersion": "stockops.io/v1alpha1",
            "kind": "TickerModel",
            "metadata": {"name": "aapl"},
            "spec": {"ticker": "AAPL", "parentRef": {"name": "gspc"}},
        },
    )
    ref = {
        "apiVersion": "stockops.io/v1alpha1",
        "kind": "TickerModel",
        "name": "aapl",
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    job = _job("owned", "import time; time.sleep(120)")
    job["metadata"]["ownerReferences"] = [ref]
    controlled.batch.create_namespaced_job(namespace, job)
    controlled.core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "owned", "ownerReferences": [ref]}, "data": {"a": "b"}}
    )
    wait_for(
        "the owned Job's pod to run",
        lambda: [
            p
            for p in _pods(controlled, namespace, "batch.kubernetes.io/job-name=owned")
            if p.status.phase == "Running"
        ],
        60,
        lambda: controlled.describe(namespace),
    )

    custom.delete_namespaced_custom_object("stockops.io", "v1alpha1", namespace, "tickermodels", "aapl")

    def all_gone() -> bool:
        jobs = controlled.batch.list_namespaced_job(namespace).items
        maps = controlled.core.list_namespaced_config_map(
            namespace, field_selector="metadata.name=owned"
        ).items
        return (
            not jobs and not maps and not _pods(controlled, namespace, "batch.kubernetes.io/job-name=owned")
        )

    wait_for(
        "the garbage collector to delete the Job, its pod and the ConfigMap",
        all_gone,
        90,
        lambda: controlled.describe(namespace),
    )


def test_deleting_a_namespace_with_a_running_pod_finishes(controlled: Controlled) -> None:
    name = f"ctl-gone-{uuid.uuid4().hex[:6]}"
    controlled.core.create_namespace({"metadata": {"name": name}})
    wait_for(
        "the default ServiceAccount",
        lambda: controlled.core.list_namespaced_service_account(name).items,
        60,
        lambda: controlled.describe(name),
    )
    controlled.batch.create_namespaced_job(name, _job("sleeper", "import time; time.sleep(300)"))
    wait_for(
        "the pod to run",
        lambda: [p for p in _pods(controlled, name) if p.status.phase == "Running"],
        60,
        lambda: controlled.describe(name),
    )
    controlled.core.delete_namespace(name)

    def gone() -> bool:
        return not [n for n in controlled.core.list_namespace().items if n.metadata.name == name]

    wait_for("the namespace controller to finish", gone, 120, lambda: controlled.server.log_tail(40))


def test_an_image_the_node_cannot_pull_never_runs(controlled: Controlled, namespace: str) -> None:
    marker = Path(tempfile.gettempdir()) / f"stockops-should-not-exist-{uuid.uuid4().hex}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "unknown-image"},
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [
                {
                    **_container(f"open({str(marker)!r}, 'w')"),
                    "image": "docker.io/library/busybox:1.36",
                }
            ],
        },
    }
    controlled.core.create_namespaced_pod(namespace, pod)

    def pull_failed() -> Any:
        status = controlled.core.read_namespaced_pod("unknown-image", namespace).status
        waiting = status.container_statuses and status.container_statuses[0].state.waiting
        return status if waiting and waiting.reason in ("ErrImagePull", "ImagePullBackOff") else None

    status = wait_for("ErrImagePull", pull_failed, 60, lambda: controlled.describe(namespace))
    assert status.phase == "Pending"
    assert "busybox" in status.container_statuses[0].state.waiting.message
    assert not marker.exists()


SERVER = """
    import http.server, os, sys
    healthy = os.environ["HEALTHY"] == "1"
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if healthy else 503)
            self.end_headers()
        def log_message(self, *args):
            pass
    http.server.HTTPServer((os.environ["POD_IP"], 8080), Handler).serve_forever()
"""


def _serving_deployment(name: str, healthy: bool) -> dict[str, Any]:
    container = _container(
        SERVER,
        env=[
            {"name": "HEALTHY", "value": "1" if healthy else "0"},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
        ports=[{"containerPort": 8080, "name": "http"}],
        readinessProbe={"httpGet": {"path": "/v2/health/ready", "port": 8080}, "periodSeconds": 1},
    )
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"automountServiceAccountToken": False, "containers": [container]},
            },
        },
    }


def test_a_declared_readiness_probe_decides_ready_and_available(
    controlled: Controlled, namespace: str
) -> None:
    """The real Deployment controller's Available follows the pods' Ready, which the declared probe
    decides. (Pods answer on their own loopback address. The real API server refuses loopback
    addresses in EndpointSlices, "may not be in the loopback range", so Services here have no
    endpoints; tests reach a pod by its podIP.)"""
    apps = k8s_client.AppsV1Api(controlled.api)
    for name, healthy in (("good", True), ("sick", False)):
        apps.create_namespaced_deployment(namespace, _serving_deployment(name, healthy))

    def available(name: str) -> Callable[[], Any]:
        def check() -> Any:
            status = apps.read_namespaced_deployment(name, namespace).status
            return next(
                (c for c in status.conditions or [] if c.type == "Available" and c.status == "True"), None
            )

        return check

    wait_for(
        "the healthy Deployment to be Available",
        available("good"),
        90,
        lambda: controlled.describe(namespace),
    )
    [good] = _pods(controlled, namespace, "app=good")
    assert next(c for c in good.status.conditions if c.type == "Ready").status == "True"
    with urllib.request.urlopen(f"http://{good.status.pod_ip}:8080/v2/health/ready", timeout=5) as resp:
        assert resp.status == 200

    # The sick one runs (its container started) but its declared probe fails: never Ready.
    wait_for(
        "the sick pod to run",
        lambda: [p for p in _pods(controlled, namespace, "app=sick") if p.status.phase == "Running"],
        60,
        lambda: controlled.describe(namespace),
    )
    time.sleep(5)  # several probe periods
    [sick] = _pods(controlled, namespace, "app=sick")
    assert next(c for c in sick.status.conditions if c.type == "Ready").status == "False"
    assert sick.status.container_statuses[0].state.running is not None
    assert available("sick")() is None
    events = controlled.core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={sick.metadata.name}"
    )
    assert any(e.reason == "Unhealthy" and "503" in e.message for e in events.items)


def test_deleting_a_parentmodel_while_the_operator_is_down_finishes_and_the_gc_removes_its_job(
    controlled: Controlled,
    e2e_cluster: Any,
    operator_rbac: None,  # the operator's user bound to exactly the chart's ClusterRole
    repo_root: Path,
    namespace: str,
    harness: ModuleType,
    ohlcv_dir: Path,
    tmp_path: Path,
) -> None:
    """No finalizer: a delete never waits for the operator, and owner references do the cleanup."""
    # An MLflow nobody serves: the trainer's pod fails, which is beside the point here.
    operator = harness.OperatorProcess(
        e2e_cluster, namespace, "http://127.0.0.1:9", ohlcv_dir, tmp_path / "operator.log"
    )
    operator.start()
    custom = k8s_client.CustomObjectsApi(controlled.api)
    try:
        parent = yaml.safe_load((repo_root / "examples" / "parentmodel-gspc.yaml").read_text())
        custom.create_namespaced_custom_object("stockops.io", "v1alpha1", namespace, "parentmodels", parent)

        def job() -> Any:
            operator.check_alive()
            jobs = controlled.batch.list_namespaced_job(namespace).items
            return jobs[0] if jobs else None

        created = wait_for("the operator's training Job", job, 90, lambda: harness.tail(operator.log))
        assert created.metadata.owner_references[0].kind == "ParentModel"
        # Its status is the operator's: the re-check (not a Kopf timer) keeps it current.
        wait_for(
            "the operator's status on the ParentModel",
            lambda: (
                custom.get_namespaced_custom_object(
                    "stockops.io", "v1alpha1", namespace, "parentmodels", "gspc"
                ).get("status")
                or {}
            ).get("phase"),
            60,
            lambda: harness.tail(operator.log),
        )
        obj = custom.get_namespaced_custom_object(
            "stockops.io", "v1alpha1", namespace, "parentmodels", "gspc"
        )
        assert not obj["metadata"].get("finalizers"), obj["metadata"].get("finalizers")
    finally:
        operator.kill()

    custom.delete_namespaced_custom_object("stockops.io", "v1alpha1", namespace, "parentmodels", "gspc")

    def parent_gone() -> bool:
        items = custom.list_namespaced_custom_object("stockops.io", "v1alpha1", namespace, "parentmodels")[
            "items"
        ]
        return not items

    wait_for(
        "the ParentModel to be deleted with its operator down",
        parent_gone,
        15,
        lambda: controlled.describe(namespace),
    )
    wait_for(
        "the garbage collector to delete its Job and pods",
        lambda: (
            not controlled.batch.list_namespaced_job(namespace).items and not _pods(controlled, namespace)
        ),
        90,
        lambda: controlled.describe(namespace),
    )


# -- KServe on the real controllers (last: its webhooks see every pod created after it starts) --------


@pytest.fixture(scope="module")
def kserve(controlled: Controlled, e2e_cluster: Any) -> Any:
    """The session's KServe controller manager (RawDeployment), with its webhooks registered."""
    return e2e_cluster.kserve


def test_a_predictor_that_cannot_load_its_model_is_never_ready_on_real_kserve(
    controlled: Controlled, kserve: Any, namespace: str
) -> None:
    """KServe's Deployment, the real Deployment controller and scheduler, the node agent running our
    predictor: with its model's registry unreachable the predictor never passes its declared readiness
    probe, so neither the pod, the Deployment nor the InferenceService is ever Ready."""
    settings = OperatorSettings(
        trainer_image=IMAGE,
        predictor_image="stockops/predictor:test",
        mlflow_tracking_uri="http://127.0.0.1:9",  # nothing listens: the model cannot be loaded
        data_source="csv:/nonexistent",
    )
    spec = TickerModelSpec.model_validate({"ticker": "AAPL", "parentRef": {"name": "gspc"}})
    owner = Owner("TickerModel", "aapl", namespace, str(uuid.uuid4()), 1)
    isvc = build_inference_service(
        owner, spec, settings, name="aapl", model_name="stockops-aapl", model_version="1"
    )
    isvc["metadata"].pop("ownerReferences", None)  # its owner does not exist here
    # One quick failed load instead of MLflow's minutes of retries: then the process listens and
    # answers its probes, which is the state a TCP probe would call Ready.
    isvc["spec"]["predictor"]["containers"][0]["env"].append(
        {"name": "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "value": "0"}
    )
    custom = k8s_client.CustomObjectsApi(controlled.api)
    custom.create_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", namespace, "inferenceservices", isvc
    )

    def describe() -> str:
        return controlled.describe(namespace) + "\nKServe manager:\n" + kserve.log_tail(30)

    def predictor_pod_started() -> Any:
        for pod in _pods(controlled, namespace, "serving.kserve.io/inferenceservice=aapl"):
            statuses = pod.status.container_statuses or []
            if pod.spec.node_name and any(s.state.running or s.restart_count for s in statuses):
                return pod
        return None

    pod = wait_for("KServe's predictor pod to start on a node", predictor_pod_started, 120, describe)
    assert pod.spec.node_name == "stockops-cpu"

    def answers_not_ready() -> bool:
        try:
            urllib.request.urlopen(f"http://{pod.status.pod_ip}:8080/v2/health/ready", timeout=2)
        except urllib.error.HTTPError as exc:
            return exc.code == 503
        except OSError:
            return False
        return False

    wait_for("the predictor to listen and answer 503 (model not loaded)", answers_not_ready, 90, describe)
    time.sleep(12)  # more than a probe period (ours 5 s, a default 10 s) while it listens

    [pod] = _pods(controlled, namespace, "serving.kserve.io/inferenceservice=aapl")
    assert next(c for c in pod.status.conditions if c.type == "Ready").status == "False", describe()
    deployment = k8s_client.AppsV1Api(controlled.api).read_namespaced_deployment("aapl-predictor", namespace)
    assert not deployment.status.ready_replicas
    stored = custom.get_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", namespace, "inferenceservices", "aapl"
    )
    ready = next((c for c in stored.get("status", {}).get("conditions") or [] if c["type"] == "Ready"), None)
    assert ready is None or ready["status"] != "True", stored.get("status")


def test_a_two_cpu_predictor_with_a_loadable_model_is_a_ready_inferenceservice(
    controlled: Controlled,
    kserve: Any,
    namespace: str,
    mlflow_uri: str,
    register_small_model: Callable[..., Any],
    ohlcv_dir: Path,
    tmp_path: Path,
) -> None:
    """The operator's 2-CPU serving request (valid because it sets the CPU limit KServe would default to
    1) goes all the way: KServe's Deployment, the real scheduler and Deployment controller, the node
    agent running our predictor, which loads the model from a real MLflow server and turns Ready; the
    InferenceService follows, and the pod answers a V1 request."""
    summary = register_small_model("AAPL", home=tmp_path / "home", tracking_uri=mlflow_uri)
    settings = OperatorSettings(
        trainer_image=IMAGE,
        predictor_image="stockops/predictor:test",
        mlflow_tracking_uri=mlflow_uri,
        data_source=f"csv:{ohlcv_dir}",
    )
    serving = {"resources": {"cpu": "2", "memory": "1Gi"}}
    spec = TickerModelSpec.model_validate(
        {"ticker": "AAPL", "parentRef": {"name": "gspc"}, "serving": serving}
    )
    owner = Owner("TickerModel", "big", namespace, str(uuid.uuid4()), 1)
    isvc = build_inference_service(
        owner, spec, settings, name="big", model_name=summary.model_name, model_version=summary.model_version
    )
    isvc["metadata"].pop("ownerReferences", None)
    custom = k8s_client.CustomObjectsApi(controlled.api)
    custom.create_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", namespace, "inferenceservices", isvc
    )

    def ready() -> Any:
        stored = custom.get_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", namespace, "inferenceservices", "big"
        )
        conditions = (stored.get("status") or {}).get("conditions") or []
        return stored if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) else None

    wait_for(
        "the InferenceService to be Ready",
        ready,
        180,
        lambda: controlled.describe(namespace) + "\nKServe manager:\n" + kserve.log_tail(30),
    )
    [pod] = _pods(controlled, namespace, "serving.kserve.io/inferenceservice=big")
    container = next(c for c in pod.spec.containers if c.name == "kserve-container")
    assert container.resources.requests["cpu"] == "2" and container.resources.limits["cpu"] == "2"
    request = urllib.request.Request(
        f"http://{pod.status.pod_ip}:8080/v1/models/{summary.model_name}:predict",
        data=json.dumps({"instances": [{"days": 3}]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as resp:
        body = json.loads(resp.read())
    forecast = body["predictions"][0]
    assert forecast["days"] == 3 and len(forecast["forecast"]) == 3, body


def test_a_version_patched_into_a_ready_inferenceservice_serves_only_once_its_pods_rolled_out(
    controlled: Controlled,
    kserve: Any,
    namespace: str,
    mlflow_uri: str,
    register_small_model: Callable[..., Any],
    ohlcv_dir: Path,
    tmp_path: Path,
) -> None:
    """The operator's own passes (reconcile, its KubeCluster) against real KServe and the real
    Deployment controller: version 1 serves; the operator patches in a version whose pod cannot load
    its model, and KServe's Ready stays True on the old pod (its observedGeneration, where it writes
    one, catches up) while the operator keeps saying version 1 serves and the new one is rolling out;
    then a loadable version 2 counts once its pod took over."""
    from stockops.operator.cluster import KubeCluster, KubeRest
    from stockops.operator.naming import inference_service_name
    from stockops.operator.observations import observe_inference_service
    from stockops.operator.reconcile import Observed, ReconcileResult, Resource, reconcile

    first = register_small_model("AAPL", home=tmp_path / "home", tracking_uri=mlflow_uri)
    settings = OperatorSettings(
        trainer_image=IMAGE,
        predictor_image="stockops/predictor:test",
        mlflow_tracking_uri=mlflow_uri,
        data_source=f"csv:{ohlcv_dir}",
        # one quick failed load of a version MLflow does not have, instead of minutes of retries
        extra_env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
    )
    cluster = KubeCluster(KubeRest(controlled.api.configuration))
    custom = k8s_client.CustomObjectsApi(controlled.api)
    uid = str(uuid.uuid4())
    name = inference_service_name("roll", uid)
    body: dict[str, Any] = {
        "metadata": {"name": "roll", "namespace": namespace, "uid": uid, "generation": 1},
        "spec": {"ticker": "AAPL", "parentRef": {"name": "gspc"}},
        "status": {"observedGeneration": 1},
    }

    def describe() -> str:
        return controlled.describe(namespace) + "\nKServe manager:\n" + kserve.log_tail(30)

    def stored() -> dict[str, Any]:
        return custom.get_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", namespace, "inferenceservices", name
        )

    def kserve_ready() -> bool:
        conditions = (stored().get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def operator_pass(serving_version: str) -> ReconcileResult:
        """One pass as the operator runs it, told that `serving_version` is the promoted one."""
        mlflow = {"modelName": first.model_name, "modelVersion": serving_version}
        body["status"]["mlflow"] = {**mlflow, "servingVersion": serving_version}
        resource = Resource.from_body("TickerModel", body)
        observed = Observed(isvc=observe_inference_service(stored()))
        result = reconcile(resource, observed, cluster, _NoProgress(), settings, _now())
        body["status"] = result.status.to_wire()
        return result

    def serving(result: ReconcileResult) -> tuple[str | None, str | None, str | None]:
        inference = result.status.inference  # type: ignore[attr-defined]
        ready = result.status.condition("ServingReady")
        rolling = getattr(inference, "rolling_out_version", None)  # (an operator before it: none)
        return inference.model_version, rolling, ready.reason if ready else None

    spec = TickerModelSpec.model_validate(body["spec"])
    owner = Owner("TickerModel", "roll", namespace, uid, 1)
    manifest = build_inference_service(
        owner, spec, settings, name=name, model_name=first.model_name, model_version=first.model_version
    )
    manifest["metadata"].pop("ownerReferences", None)  # its owner does not exist here
    cluster.create_inference_service(manifest)

    def operator_serves(version: str) -> ReconcileResult | None:
        result = operator_pass(version)
        return result if serving(result) == (version, None, "InferenceServiceReady") else None

    wait_for("the InferenceService to be Ready on version 1", kserve_ready, 180, describe)
    # the Deployment's availability lags the pod's Ready by a moment: until then 1 is not counted
    v1 = first.model_version
    wait_for("the operator to count version 1 as served", lambda: operator_serves(v1), 60, describe)

    # A version MLflow does not have: its pod starts, fails to load it and is never Ready.
    missing = "999"
    patched = operator_pass(missing)
    assert any(e.reason == "InferenceServiceUpdated" for e in patched.events)
    assert serving(patched) == (first.model_version, missing, "RollingOut"), patched.status
    apps = k8s_client.AppsV1Api(controlled.api)

    def new_pod_answers_not_ready() -> bool:
        for pod in _pods(controlled, namespace, f"serving.kserve.io/inferenceservice={name}"):
            env = {e.name: e.value for c in pod.spec.containers for e in c.env or ()}
            if env.get("STOCKOPS_MODEL_VERSION") == missing and pod.status.pod_ip:
                try:
                    urllib.request.urlopen(f"http://{pod.status.pod_ip}:8080/v2/health/ready", timeout=2)
                except urllib.error.HTTPError as exc:
                    return exc.code == 503
                except OSError:
                    return False
        return False

    wait_for("the new pod to answer 503 (model not loaded)", new_pod_answers_not_ready, 120, describe)
    time.sleep(12)  # more than a readiness probe period (5 s) while the new pod answers 503

    def kserve_current() -> dict[str, Any] | None:
        """The InferenceService as the old gate saw it: Ready, observedGeneration missing or current."""
        isvc = stored()
        observed = (isvc.get("status") or {}).get("observedGeneration")
        current = observed is None or observed == isvc["metadata"]["generation"]
        return isvc if current and kserve_ready() else None

    isvc = wait_for("KServe to report Ready for the patched spec", kserve_current, 60, describe)
    old_view = observe_inference_service(isvc)  # what the operator trusted before: Ready, version 999
    assert old_view.ready and old_view.model_version == missing
    rollout = cluster.predictor_rollout(namespace, old_view)
    assert not rollout.complete and rollout.model_version == missing, rollout
    deployment = apps.read_namespaced_deployment(f"{name}-predictor", namespace)
    assert deployment.status.available_replicas == 1 and deployment.status.replicas == 2, deployment.status
    stuck = operator_pass(missing)
    assert serving(stuck) == (first.model_version, missing, "RollingOut"), stuck.status
    assert stuck.status.condition("Ready").status == "True"  # type: ignore[union-attr]
    assert stuck.status.inference.ready  # type: ignore[attr-defined]

    # A loadable version 2: counted once its pod replaced the others.
    second = register_small_model("AAPL", home=tmp_path / "home", tracking_uri=mlflow_uri)
    assert second.model_version != first.model_version
    operator_pass(second.model_version)

    v2 = second.model_version
    served = wait_for("the operator to count version 2 as served", lambda: operator_serves(v2), 240, describe)
    assert served.status.condition("Ready").status == "True", served.status  # type: ignore[union-attr]
    deployment = apps.read_namespaced_deployment(f"{name}-predictor", namespace)
    assert deployment.status.replicas == deployment.status.updated_replicas == 1, deployment.status


class _NoProgress:
    """No training runs in this test: the operator's progress source is never asked."""

    def progress(self, job_name: str) -> None:
        return None

    def forget(self, job_name: str) -> None:
        return None


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)
