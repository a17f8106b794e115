"""What the operator's e2e tests share: a real `mlflow server`, the operator as a separate process under
the `stockops-operator` identity (bound only to deploy/rbac/operator.yaml's ClusterRole, so a missing
RBAC rule fails the tests), an admin reader of our resources, and waiting helpers.

Not a test module: tests/e2e/conftest.py loads it by path and exposes its fixtures (`mlflow_uri`,
`operator_rbac`, `start_operator`) and the module itself as the `harness` fixture (test modules must not
import each other or conftest), e.g. ``harness.Api(e2e_cluster, ns)``, ``harness.wait_for(...)``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s_client

GROUP, VERSION = "stockops.io", "v1alpha1"
PLURALS = {"ParentModel": "parentmodels", "TickerModel": "tickermodels", "Analysis": "analyses"}
OWNER_UID = "stockops.io/owner-uid"
IMAGES = ("trainer", "predictor", "agent")  # the workload images the operator names in its pods
TRAIN_TIMEOUT = 900.0
# Set to a folder to record every distinct state of our resources the tests read (Argo CD testdata).
CAPTURE_ENV = "STOCKOPS_E2E_CAPTURE_DIR"
HEALTH_DIR = Path(__file__).resolve().parents[2] / "deploy" / "argocd" / "stockops.io"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[Any], grace: float = 15.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _capture(obj: dict[str, Any], seen: set[tuple[Any, ...]]) -> None:
    """Write `obj` under $STOCKOPS_E2E_CAPTURE_DIR the first time its phase/conditions/generation occur."""
    folder = os.environ.get(CAPTURE_ENV)
    if not folder:
        return
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    conditions = tuple((c["type"], c["status"], c.get("reason")) for c in status.get("conditions", ()))
    key = (obj.get("kind"), meta.get("namespace"), meta.get("name"), meta.get("generation"),
           status.get("observedGeneration"), status.get("phase"), conditions)  # fmt: skip
    if key in seen:
        return
    seen.add(key)
    trimmed = {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    trimmed["metadata"].get("annotations", {}).pop("kubectl.kubernetes.io/last-applied-configuration", None)
    name = f"{meta.get('namespace')}-{obj.get('kind')}-{meta.get('name')}-{len(seen):03d}.yaml"
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / name).write_text(yaml.safe_dump(trimmed, sort_keys=False))


def argocd_health(obj: dict[str, Any]) -> tuple[str, str]:
    """(status, message) Argo CD shows for `obj`, from our health.lua for its kind."""
    from stockops.gitops.lua_health import evaluate

    health = evaluate((HEALTH_DIR / obj["kind"] / "health.lua").read_text(), obj)
    return health.status, health.message


def tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server` on loopback (SQLite + proxied artifacts): trainers log to it, predictors read it."""
    external = os.environ.get("STOCKOPS_E2E_MLFLOW_URI")
    if external:  # a cluster run: MLflow must be reachable from the pods, so the caller provides it
        yield external
        return
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = root / "mlflow.log"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
             "--artifacts-destination", str(root / "artifacts")],
            cwd=root, stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start:\n{tail(log)}")
            time.sleep(0.5)
        yield uri
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def operator_rbac(e2e_cluster: Any, repo_root: Path) -> None:
    """Bind the operator's test identity to exactly the ClusterRole the chart ships."""
    documents = list(yaml.safe_load_all((repo_root / "deploy" / "rbac" / "operator.yaml").read_text()))
    role = next(d for d in documents if d["kind"] == "ClusterRole")
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "stockops-operator-e2e"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": role["metadata"]["name"],
        },
        "subjects": [e2e_cluster.operator.subject],
    }
    manifest = yaml.safe_dump_all([role, binding])
    e2e_cluster.kubectl_run("apply", "-f", "-", input=manifest)


class OperatorProcess:
    """`python -m stockops.operator` for one namespace, as the `stockops-operator` user."""

    def __init__(
        self, cluster: Any, namespace: str, mlflow: str, data_dir: Path, log: Path, **env: str
    ) -> None:
        self.log = log
        self.metrics_port = free_port()
        # On an external cluster the pods cannot read this machine's files: tests/e2e/kind/run.sh
        # serves them over HTTP and names the URL, and the images it loaded by their tag.
        source = os.environ.get("STOCKOPS_E2E_DATA_SOURCE") or f"csv:{data_dir}"
        tag = os.environ.get("STOCKOPS_E2E_IMAGE_TAG")
        images = (
            {f"STOCKOPS_OPERATOR_{n.upper()}_IMAGE": f"stockops/{n}:{tag}" for n in IMAGES} if tag else {}
        )
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("STOCKOPS_", "MLFLOW_"))},
            "KUBECONFIG": str(cluster.operator.kubeconfig),
            "MLFLOW_TRACKING_URI": mlflow,
            "STOCKOPS_DATA_SOURCE": source,
            "STOCKOPS_OPERATOR_TIMER_INTERVAL_SECONDS": "1",
            "STOCKOPS_OPERATOR_JOB_BACKOFF_LIMIT": "1",
            **images,
            **env,
        }
        self.argv = [
            sys.executable, "-m", "stockops.operator", "--namespace", namespace,
            "--metrics-port", str(self.metrics_port), "--liveness", f"http://127.0.0.1:{free_port()}/healthz",
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as when a node dies."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"the operator exited with {self.process.returncode}:\n{tail(self.log)}")


@pytest.fixture
def start_operator(
    e2e_cluster: Any, nodes: Any, operator_rbac: None, mlflow_uri: str, ohlcv_dir: Path, tmp_path: Path
) -> Iterator[Callable[..., OperatorProcess]]:
    started: list[OperatorProcess] = []

    def start(namespace: str, **env: str) -> OperatorProcess:
        log = tmp_path / f"operator-{len(started)}.log"
        process = OperatorProcess(
            e2e_cluster, namespace, env.pop("mlflow", mlflow_uri), ohlcv_dir, log, **env
        )
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.stop()


class Api:
    """Reads the resources under test as the admin."""

    def __init__(self, cluster: Any, namespace: str) -> None:
        self.custom = k8s_client.CustomObjectsApi(cluster.admin)
        self.batch = k8s_client.BatchV1Api(cluster.admin)
        self.core = k8s_client.CoreV1Api(cluster.admin)
        self.namespace = namespace
        self._captured: set[tuple[Any, ...]] = set()

    def get(self, kind: str, name: str) -> dict[str, Any]:
        obj = dict(
            self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURALS[kind], name)
        )
        _capture(obj, self._captured)
        return obj

    def jobs(self, owner_uid: str | None = None, component: str | None = "training") -> list[Any]:
        """Our Jobs (of one owner), training Jobs only unless `component` says otherwise (None: all)."""
        selector = (
            f"{OWNER_UID}={owner_uid}" if owner_uid else "app.kubernetes.io/managed-by=stockops-operator"
        )
        if component:
            selector += f",app.kubernetes.io/component={component}"
        return list(self.batch.list_namespaced_job(self.namespace, label_selector=selector).items)

    def config_map(self, name: str) -> Any | None:
        try:
            return self.core.read_namespaced_config_map(name, self.namespace)
        except k8s_client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def pods(self, job_name: str) -> list[Any]:
        return list(
            self.core.list_namespaced_pod(self.namespace, label_selector=f"job-name={job_name}").items
        )

    def isvcs(self) -> list[dict[str, Any]]:
        listed = self.custom.list_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", self.namespace, "inferenceservices"
        )
        return list(listed["items"])


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), {})


def wait_for(
    what: str,
    check: Callable[[], Any],
    *,
    timeout: float,
    operator: OperatorProcess | None = None,
    describe: Callable[[], str] = lambda: "",
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if operator is not None:
            operator.check_alive()
        value = check()
        if value:
            return value
        time.sleep(1.0)
    log = tail(operator.log) if operator else ""
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{describe()}\noperator log:\n{log}")


def phase_is(api: Api, kind: str, name: str, *phases: str) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        obj = api.get(kind, name)
        return obj if (obj.get("status") or {}).get("phase") in phases else None

    return check


def apply_resource(cluster: Any, namespace: str, kind: str, name: str, spec: dict[str, Any]) -> None:
    """`kubectl apply` one of our resources, as a user would."""
    manifest = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name}, "spec": spec}
    cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest))
