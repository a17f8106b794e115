"""What our workloads rely on, asserted the same way on the local test cluster and on a real one:
the Job controller's pods, conditions and reasons (success, back-off, deadline, pod failure policy, an
admission refusal), the env and termination message a container gets, the server's own checks of Job
status, KServe serving an InferenceService reachable at its URL, a namespace delete finishing.

Locally these meet the real kube-controller-manager and KServe, and the node agent (the kubelet
stand-in) runs the containers; on an external cluster (STOCKOPS_E2E_CLUSTER=external) its kubelets run
them, from a stock python image. Either way the container runs the command given.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client as k8s_client

pytestmark = pytest.mark.e2e

MANAGED = {"app.kubernetes.io/managed-by": "stockops-operator", "app.kubernetes.io/part-of": "stockops-e2e"}
# The node agent runs only images it maps (ours); on a real cluster any python image will do.
PYTHON_IMAGE = (
    "python:3.12-slim" if os.environ.get("STOCKOPS_E2E_CLUSTER") == "external" else "stockops/trainer:e2e"
)


# The e2e namespaces enforce the restricted Pod Security level, as a hardened cluster does.
RESTRICTED_POD = {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def job(name: str, script: str, restricted: bool = True, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": PYTHON_IMAGE, "command": ["python", "-c", script]}
    if restricted:
        container["securityContext"] = RESTRICTED_CONTAINER
    container.update(spec.pop("container", {}))
    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if restricted:
        pod_spec["securityContext"] = RESTRICTED_POD
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": MANAGED},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": MANAGED},
                "spec": pod_spec,
            },
            **spec,
        },
    }


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def finished_job(batch: k8s_client.BatchV1Api, ns: str, name: str, timeout: float = 90.0) -> Any:
    def probe() -> Any:
        j = batch.read_namespaced_job_status(name, ns)
        terminal = [
            c for c in j.status.conditions or [] if c.type in ("Complete", "Failed") and c.status == "True"
        ]
        return j if terminal else None

    return wait_for(f"job {ns}/{name} to finish", probe, timeout)


def conditions(j: Any) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in j.status.conditions or []}


def pods_of(core: k8s_client.CoreV1Api, ns: str, name: str) -> list[Any]:
    return core.list_namespaced_pod(ns, label_selector=f"batch.kubernetes.io/job-name={name}").items


WRITES_TERMINATION_MESSAGE = """
import json, os, pathlib, sys
want = {"GREETING": "hello", "FROM_CM": "cm-value", "FROM_SECRET": "s3cret", "COMBINED": "hello-world",
        "POD_NS": sys.argv[1]}
got = {k: os.environ.get(k) for k in want}
if got != want:
    print("env mismatch", got, file=sys.stderr)
    sys.exit(3)
path = os.environ.get("STOCKOPS_TERMINATION_LOG", "/dev/termination-log")
pathlib.Path(path).write_text(json.dumps({"ok": True, "rmse": 1.5}))
"""


def test_job_succeeds_with_resolved_env_and_a_status_the_server_accepts(
    e2e_cluster: Any, nodes: Any, e2e_namespace: str
) -> None:
    core = k8s_client.CoreV1Api(e2e_cluster.admin)
    batch = k8s_client.BatchV1Api(e2e_cluster.admin)
    core.create_namespaced_config_map(
        e2e_namespace, {"metadata": {"name": "cfg"}, "data": {"key": "cm-value"}}
    )
    core.create_namespaced_secret(
        e2e_namespace, {"metadata": {"name": "sec"}, "stringData": {"token": "s3cret"}}
    )
    env = [
        {"name": "GREETING", "value": "hello"},
        {"name": "COMBINED", "value": "$(GREETING)-world"},
        {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "key"}}},
        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "token"}}},
        {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    body = job("ok", WRITES_TERMINATION_MESSAGE, container={"env": env, "args": ["$(POD_NS)"]})
    batch.create_namespaced_job(e2e_namespace, body)

    done = finished_job(batch, e2e_namespace, "ok")
    cond = conditions(done)
    assert cond["SuccessCriteriaMet"] == ("True", "CompletionsReached")
    assert cond["Complete"] == ("True", "CompletionsReached")
    assert "Failed" not in cond
    assert done.status.succeeded == 1
    assert not done.status.failed
    assert not done.status.active
    assert done.status.completion_time >= done.status.start_time

    pods = pods_of(core, e2e_namespace, "ok")
    assert len(pods) == 1
    terminated = pods[0].status.container_statuses[0].state.terminated
    assert (pods[0].status.phase, terminated.exit_code, terminated.reason) == ("Succeeded", 0, "Completed")
    assert json.loads(terminated.message) == {"ok": True, "rmse": 1.5}

    # Deleting the Job takes its pods with it (the garbage collector's job).
    batch.delete_namespaced_job("ok", e2e_namespace, propagation_policy="Background")
    wait_for("the job's pods to be collected", lambda: not pods_of(core, e2e_namespace, "ok"), 60)


def test_job_fails_after_backoff_limit_with_the_controllers_reason(
    e2e_cluster: Any, nodes: Any, e2e_namespace: str
) -> None:
    batch = k8s_client.BatchV1Api(e2e_cluster.admin)
    batch.create_namespaced_job(e2e_namespace, job("flaky", "import sys; sys.exit(1)", backoffLimit=1))
    done = finished_job(batch, e2e_namespace, "flaky", timeout=120)
    cond = conditions(done)
    assert cond["FailureTarget"] == ("True", "BackoffLimitExceeded")
    assert cond["Failed"] == ("True", "BackoffLimitExceeded")
    assert "Complete" not in cond
    assert done.status.failed == 2  # the first try and one retry
    assert not done.status.succeeded
    core = k8s_client.CoreV1Api(e2e_cluster.admin)
    codes = sorted(
        p.status.container_statuses[0].state.terminated.exit_code
        for p in pods_of(core, e2e_namespace, "flaky")
    )
    assert codes == [1, 1]


def test_job_past_its_active_deadline_is_failed_and_its_pod_stopped(
    e2e_cluster: Any, nodes: Any, e2e_namespace: str
) -> None:
    batch = k8s_client.BatchV1Api(e2e_cluster.admin)
    batch.create_namespaced_job(
        e2e_namespace, job("slow", "import time; time.sleep(120)", activeDeadlineSeconds=3)
    )
    done = finished_job(batch, e2e_namespace, "slow", timeout=90)
    cond = conditions(done)
    assert cond["Failed"] == ("True", "DeadlineExceeded")
    assert cond["FailureTarget"] == ("True", "DeadlineExceeded")
    assert not done.status.active


def test_a_pod_refused_by_pod_security_is_a_failed_create_not_a_failed_pod(
    e2e_cluster: Any, nodes: Any, e2e_namespace: str
) -> None:
    # The Job controller does not crash or count a failure when admission refuses its pod: it records
    # FailedCreate with the server's reason and retries, so the Job stays active with no pods until
    # its deadline.
    batch = k8s_client.BatchV1Api(e2e_cluster.admin)
    core = k8s_client.CoreV1Api(e2e_cluster.admin)
    body = job("rooted", "print('never runs')", restricted=False, activeDeadlineSeconds=4)
    batch.create_namespaced_job(e2e_namespace, body)

    def refusal() -> Any:
        events = core.list_namespaced_event(
            e2e_namespace, field_selector="involvedObject.kind=Job,involvedObject.name=rooted"
        ).items
        return next((e for e in events if e.reason == "FailedCreate"), None)

    event = wait_for("a FailedCreate event on the job", refusal, 30)
    assert event.type == "Warning"
    assert 'violates PodSecurity "restricted' in event.message
    assert "runAsNonRoot" in event.message
    assert not pods_of(core, e2e_namespace, "rooted")

    done = finished_job(batch, e2e_namespace, "rooted", timeout=60)
    assert conditions(done)["Failed"] == ("True", "DeadlineExceeded")
    assert not done.status.failed  # no pod ever ran, so none failed
    assert not pods_of(core, e2e_namespace, "rooted")


def test_pod_failure_policy_fails_the_job_on_a_data_error_exit_code(
    e2e_cluster: Any, nodes: Any, e2e_namespace: str
) -> None:
    # The trainer exits 2 on bad data; retrying cannot help, so the operator's Jobs fail at once.
    policy = {
        "rules": [
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [2]}}
        ]
    }
    batch = k8s_client.BatchV1Api(e2e_cluster.admin)
    body = job(
        "baddata",
        "import sys; print('no rows for ticker'); sys.exit(2)",
        backoffLimit=5,
        podFailurePolicy=policy,
        container={"terminationMessagePolicy": "FallbackToLogsOnError"},
    )
    batch.create_namespaced_job(e2e_namespace, body)
    done = finished_job(batch, e2e_namespace, "baddata")
    failed = next(c for c in done.status.conditions if c.type == "Failed")
    assert (failed.status, failed.reason) == ("True", "PodFailurePolicy")
    assert "failed with exit code 2 matching FailJob rule at index 0" in failed.message
    assert done.status.failed == 1
    pod = pods_of(k8s_client.CoreV1Api(e2e_cluster.admin), e2e_namespace, "baddata")[0]
    assert pod.status.container_statuses[0].state.terminated.message.strip() == "no rows for ticker"


def test_job_status_writes_are_checked_by_the_server(e2e_cluster: Any, e2e_namespace: str) -> None:
    """The server, not a controller, decides what a valid Job status is: a Complete without
    SuccessCriteriaMet (what a careless stand-in would write) is refused."""
    batch = k8s_client.BatchV1Api(e2e_cluster.admin)
    suspended = job("held", "pass", suspend=True)  # no controller (ours or the cluster's) touches it
    batch.create_namespaced_job(e2e_namespace, suspended)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    bogus = {
        "status": {
            "startTime": now,
            "completionTime": now,
            "succeeded": 1,
            "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": now}],
        }
    }
    with pytest.raises(k8s_client.ApiException) as refused:
        batch.patch_namespaced_job_status("held", e2e_namespace, bogus)
    assert refused.value.status == 422
    assert (
        "cannot set Complete=True condition without the SuccessCriteriaMet=true condition"
        in refused.value.body
    )


PREDICTOR = """
import http.server, json, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"ready": True, "model": os.environ["STOCKOPS_MODEL_NAME"]}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json"); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((os.environ.get("POD_IP", "0.0.0.0"), 8080), H).serve_forever()
"""


def test_inference_service_is_served_and_reported_ready(
    e2e_cluster: Any, nodes: Any, e2e_namespace: str
) -> None:
    api = k8s_client.CustomObjectsApi(e2e_cluster.admin)
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "echo"},
        "spec": {
            "predictor": {
                "containers": [
                    {
                        "name": "kserve-container",
                        "image": PYTHON_IMAGE,
                        "command": ["python", "-c", PREDICTOR],
                        "env": [
                            {"name": "STOCKOPS_MODEL_NAME", "value": "stockops-test"},
                            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        ],
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "128Mi"},
                            "limits": {"cpu": "1", "memory": "256Mi"},
                        },
                        "securityContext": RESTRICTED_CONTAINER,
                    }
                ],
                "securityContext": RESTRICTED_POD,
            }
        },
    }
    api.create_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", e2e_namespace, "inferenceservices", isvc
    )

    last: dict[str, Any] = {}

    def ready() -> Any:
        obj = api.get_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", e2e_namespace, "inferenceservices", "echo"
        )
        last["status"] = obj.get("status")
        conds = {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []}
        return obj if conds.get("Ready") == "True" else None

    try:
        served = wait_for("the InferenceService to be Ready", ready, 120)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nits last status: {json.dumps(last, indent=1)}") from None
    url = served["status"]["url"]
    internal = served["status"]["address"]["url"]
    assert (
        url.startswith("http://") and internal == f"http://echo-predictor.{e2e_namespace}.svc.cluster.local"
    )
    if e2e_cluster.local:  # the Service answers in the cluster; the external host needs an ingress
        with e2e_cluster.urlopen(internal + "/v2/health/ready", timeout=5) as resp:
            assert json.load(resp) == {"ready": True, "model": "stockops-test"}
        with pytest.raises(urllib.error.HTTPError) as unrouted:
            e2e_cluster.urlopen(url + "/v2/health/ready", timeout=5)
        assert unrouted.value.code == 502  # no ingress here, as on a cluster without one

    api.delete_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", e2e_namespace, "inferenceservices", "echo"
    )
    if e2e_cluster.local:

        def stopped() -> bool:
            try:
                e2e_cluster.urlopen(internal + "/v2/health/ready", timeout=1)
            except OSError:
                return True
            return False

        wait_for("the predictor process to stop", stopped, 30)


def test_deleted_namespace_is_emptied_and_finalized(e2e_cluster: Any, nodes: Any) -> None:
    core = k8s_client.CoreV1Api(e2e_cluster.admin)
    name = f"e2e-doomed-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    core.create_namespaced_config_map(name, {"metadata": {"name": "leftover"}})
    core.delete_namespace(name)

    def gone() -> bool:
        try:
            core.read_namespace(name)
        except k8s_client.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(f"namespace {name} to disappear", gone, 60)
