"""Fixtures for the e2e tier: one Kubernetes API per test session, local or external.

- `STOCKOPS_E2E_CLUSTER=external` with `KUBECONFIG` set: the suite uses that cluster (kind, EKS). Jobs
  and InferenceServices are run by the cluster; the `nodes` fixture yields None.
- Otherwise: the test cluster, for the session. `stockops-testenv --controllers` (tests/e2e/testenv,
  built once into a cache by scripts/build-testenv.sh) runs the real kube-apiserver with embedded etcd,
  the real kube-controller-manager (Job, garbage collector, namespace, Deployment, ServiceAccount
  controllers ...) and the real kube-scheduler of one Kubernetes release. Our CRDs (crds/*.yaml) are
  installed, then real KServe (its CRDs, config map, admission webhooks and controller manager in
  RawDeployment mode; tests/e2e/kserve_control.py). Two stand-ins remain, each the only simulated part
  of its kind and documented as such: the node agent (node_agent.py), a kubelet on a CPU node and a
  tainted GPU node that runs pods as local processes, and the service proxy (service_proxy.py), cluster
  DNS + kube-proxy as an HTTP proxy that clients here (tests, the operator, the gateway, pods) use.

Either way the tests get the same `E2ECluster`: an admin client, three unprivileged users (`restricted`,
`stockops-operator`, `stockops-gateway`) with their kubeconfigs and RBAC subjects, and a kubectl. Every
process started here is stopped by pid at the end; a test server that dies fails the run with its log.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from stockops.devcluster import LocalApiServer, build_tool, install_crds

E2E_DIR = Path(__file__).resolve().parent
CLUSTER_ENV = "STOCKOPS_E2E_CLUSTER"
KEEP_ENV = "STOCKOPS_E2E_KEEP"  # =1 keeps the session's work dir (kubeconfigs, server log, pod logs)
EXTERNAL_USERS_NAMESPACE = "stockops-e2e-users"


@dataclass(frozen=True)
class ClusterUser:
    """An unprivileged identity: its kubeconfig, a client, and the RBAC subject that names it."""

    name: str
    kubeconfig: Path
    api: k8s_client.ApiClient
    subject: dict[str, str]


@dataclass(frozen=True)
class E2ECluster:
    """What every e2e test needs to talk to the cluster under test."""

    local: bool
    server: str
    kubeconfig: Path
    admin: k8s_client.ApiClient
    restricted: ClusterUser
    operator: ClusterUser
    gateway: ClusterUser
    kubectl: Path
    work_dir: Path
    crds: tuple[str, ...] = ()
    api_server: LocalApiServer | None = field(default=None, repr=False)
    nodes: Any = field(default=None, repr=False)  # node_agent.NodeAgent (local cluster only)
    proxy: Any = field(default=None, repr=False)  # service_proxy.ServiceProxy (local cluster only)
    kserve: Any = field(default=None, repr=False)  # kserve_control.KServeManager (local cluster only)

    @property
    def client_env(self) -> dict[str, str]:
        """What a process here needs in its environment to reach the cluster's Services by name."""
        return dict(self.proxy.env) if self.proxy is not None else {}

    def urlopen(self, request: str | urllib.request.Request, timeout: float = 60.0) -> Any:
        """urllib's urlopen, through the service proxy when the cluster is local (Service and
        InferenceService hosts resolve as in a pod), directly otherwise."""
        if self.proxy is None:
            return urllib.request.urlopen(request, timeout=timeout)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": self.proxy.url}))
        return opener.open(request, timeout=timeout)

    def kubectl_run(
        self,
        *args: str,
        user: ClusterUser | None = None,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl as admin (or `user`); with check=True a failure raises with kubectl's stderr."""
        kubeconfig = user.kubeconfig if user else self.kubeconfig
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        result = subprocess.run(
            [str(self.kubectl), *args], input=input, env=env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}{result.stdout}"
            )
        return result


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is an e2e test, whether or not its module says so."""
    for item in items:
        if E2E_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def _load_module(name: str, file_name: str) -> ModuleType:
    # Scripts beside this file are not package modules (and test modules must not import each other);
    # load them by path, registered so their dataclasses resolve their module.
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, E2E_DIR / file_name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# The operator tests' shared fixtures and helpers (tests/e2e/operator_harness.py).
_harness = _load_module("stockops_e2e_operator_harness", "operator_harness.py")
mlflow_uri = _harness.mlflow_uri
operator_rbac = _harness.operator_rbac
start_operator = _harness.start_operator


@pytest.fixture(scope="session")
def node_agent() -> ModuleType:
    """tests/e2e/node_agent.py: the kubelet stand-in for the test server with real controllers."""
    return _load_module("stockops_e2e_node_agent", "node_agent.py")


@pytest.fixture(scope="session")
def service_proxy() -> ModuleType:
    """tests/e2e/service_proxy.py: cluster DNS + kube-proxy stand-in for clients on this machine."""
    return _load_module("stockops_e2e_service_proxy", "service_proxy.py")


@pytest.fixture(scope="session")
def pod_runtime() -> ModuleType:
    """tests/e2e/pod_runtime.py: the node agent's container rules (image, argv, env, messages)."""
    return _load_module("stockops_e2e_pod_runtime", "pod_runtime.py")


@pytest.fixture(scope="session")
def kserve_control() -> ModuleType:
    """tests/e2e/kserve_control.py: KServe's CRDs, webhooks and controller manager on a test server."""
    return _load_module("stockops_e2e_kserve_control", "kserve_control.py")


@pytest.fixture(scope="session")
def harness() -> ModuleType:
    """tests/e2e/operator_harness.py: `Api`, `wait_for`, `phase_is`, `condition`, `apply_resource`,
    `argocd_health`, `OperatorProcess`, `free_port`, `tail`."""
    return _harness


def _external_users(admin: k8s_client.ApiClient, admin_kubeconfig: Path, work_dir: Path) -> list[ClusterUser]:
    """On a real cluster there is no token file: each test user is a ServiceAccount with a bound token."""
    core = k8s_client.CoreV1Api(admin)
    ns = EXTERNAL_USERS_NAMESPACE
    try:
        core.create_namespace({"metadata": {"name": ns}})
    except k8s_client.ApiException as exc:
        if exc.status != 409:
            raise
    cfg = k8s_client.Configuration()
    k8s_config.load_kube_config(config_file=str(admin_kubeconfig), client_configuration=cfg)
    users = []
    for name in ("restricted", "stockops-operator", "stockops-gateway"):
        try:
            core.create_namespaced_service_account(ns, {"metadata": {"name": name}})
        except k8s_client.ApiException as exc:
            if exc.status != 409:
                raise
        token = core.create_namespaced_service_account_token(
            name, ns, {"spec": {"expirationSeconds": 4 * 3600}}
        ).status.token
        cluster = (
            f"    certificate-authority: {cfg.ssl_ca_cert}\n"
            if cfg.ssl_ca_cert
            else "    insecure-skip-tls-verify: true\n"
        )
        path = work_dir / f"{name}.kubeconfig"
        path.write_text(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster:\n"
            f"    server: {cfg.host}\n{cluster}users:\n- name: {name}\n  user:\n    token: {token}\n"
            f"contexts:\n- name: {name}\n  context:\n    cluster: e2e\n    user: {name}\n"
            f"current-context: {name}\n"
        )
        path.chmod(0o600)
        users.append(
            ClusterUser(
                name=name,
                kubeconfig=path,
                api=k8s_config.new_client_from_config(config_file=str(path)),
                subject={"kind": "ServiceAccount", "name": name, "namespace": ns},
            )
        )
    return users


@pytest.fixture(scope="session")
def e2e_cluster(repo_root: Path) -> Iterator[E2ECluster]:
    """The Kubernetes API under test, for the whole session (see the module docstring)."""
    work_dir = Path(tempfile.mkdtemp(prefix="stockops-e2e-"))
    server: LocalApiServer | None = None
    stack = contextlib.ExitStack()
    try:
        kubectl = build_tool(repo_root, "kubectl")
        if os.environ.get(CLUSTER_ENV) == "external":
            kubeconfig_env = os.environ.get("KUBECONFIG")
            if not kubeconfig_env:
                pytest.fail(f"{CLUSTER_ENV}=external needs KUBECONFIG pointing at the cluster under test")
            kubeconfig = Path(kubeconfig_env.split(os.pathsep)[0])
            admin = k8s_config.new_client_from_config(config_file=str(kubeconfig))
            restricted, operator, gateway = _external_users(admin, kubeconfig, work_dir)
            yield E2ECluster(
                local=False,
                server=admin.configuration.host,
                kubeconfig=kubeconfig,
                admin=admin,
                restricted=restricted,
                operator=operator,
                gateway=gateway,
                kubectl=kubectl,
                work_dir=work_dir,
            )
            return
        binary = build_tool(repo_root, "testenv")
        server = LocalApiServer.start(
            binary, work_dir / "kube", log_path=work_dir / "apiserver.log", extra_args=("--controllers",)
        )
        kubeconfig = server.kubeconfig()
        admin = k8s_config.new_client_from_config(config_file=str(kubeconfig))
        crds = tuple(install_crds(admin, repo_root / "crds"))
        parts = _load_module("stockops_e2e_local_cluster", "local_cluster.py").start_parts(
            admin, kubeconfig, work_dir, repo_root
        )
        stack.callback(parts.stop)
        nodes, proxy, kserve = parts.nodes, parts.proxy, parts.kserve

        def local_user(name: str) -> ClusterUser:
            path = server.kubeconfig(name)
            return ClusterUser(
                name=name,
                kubeconfig=path,
                api=k8s_config.new_client_from_config(config_file=str(path)),
                subject={"kind": "User", "name": name, "apiGroup": "rbac.authorization.k8s.io"},
            )

        yield E2ECluster(
            local=True,
            server=server.url,
            kubeconfig=kubeconfig,
            admin=admin,
            restricted=local_user("restricted"),
            operator=local_user("stockops-operator"),
            gateway=local_user("stockops-gateway"),
            kubectl=kubectl,
            work_dir=work_dir,
            crds=crds,
            api_server=server,
            nodes=nodes,
            proxy=proxy,
            kserve=kserve,
        )
        if not server.alive():
            pytest.fail(f"the test API server died during the session:\n{server.log_tail()}")
        if not kserve.alive():
            pytest.fail(f"the KServe manager died during the session:\n{kserve.log_tail()}")
    finally:
        stack.close()  # node agent, proxy, KServe (dependents first), then the server
        if server is not None:
            server.stop()
        if os.environ.get(KEEP_ENV) == "1":
            print(f"\n{KEEP_ENV}=1: kept {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


@pytest.fixture(autouse=True)
def _e2e_server_alive(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test, with the server's log, when the local API server is dead before or after it."""
    if "e2e_cluster" not in request.fixturenames:
        yield
        return
    cluster: E2ECluster = request.getfixturevalue("e2e_cluster")
    server = cluster.api_server
    if server is not None and not server.alive():
        pytest.fail(f"the test API server is dead (exit {server.process.returncode}):\n{server.log_tail()}")
    yield
    if server is not None and not server.alive():
        pytest.fail(f"the test API server died during this test:\n{server.log_tail()}")


@pytest.fixture(scope="session")
def nodes(e2e_cluster: E2ECluster) -> Any:
    """The node agent running the local cluster's pods (`.log_path(ns, pod)` names a container's log),
    or None on an external cluster, whose kubelets run them."""
    return e2e_cluster.nodes


@pytest.fixture
def e2e_namespace(e2e_cluster: E2ECluster) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (the real namespace controller empties it).

    Labelled ``pod-security.kubernetes.io/enforce=restricted`` as a hardened cluster's namespaces are:
    the API server's real PodSecurity admission then checks every pod created in it (the training
    and check Jobs' pods), so a workload that a restricted namespace refuses fails here too. Yielded
    once its `default` ServiceAccount exists: the ServiceAccount admission plugin refuses pods before."""
    core = k8s_client.CoreV1Api(e2e_cluster.admin)
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    labels = {
        "stockops.io/e2e": "true",
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    core.create_namespace({"metadata": {"name": name, "labels": labels}})
    try:
        wait_for_default_service_account(core, name)
        yield name
    finally:
        try:
            core.delete_namespace(name)
        except k8s_client.ApiException as exc:
            if exc.status != 404:
                raise


def wait_for_default_service_account(
    core: k8s_client.CoreV1Api, namespace: str, timeout: float = 60.0
) -> None:
    """The ServiceAccount controller makes `default` in every new namespace within moments."""
    deadline = time.monotonic() + timeout
    while not core.list_namespaced_service_account(namespace, field_selector="metadata.name=default").items:
        if time.monotonic() > deadline:
            pytest.fail(f"namespace {namespace}: no default ServiceAccount after {timeout:.0f}s")
        time.sleep(0.2)
