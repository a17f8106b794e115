"""A local Kubernetes cluster for people and tests without Docker.

kind needs a Docker engine; this needs only Go (once, to build) and Python. `stockops-testenv
--controllers`, built from Go modules by `scripts/build-testenv.sh` into a cache (see
tests/e2e/testenv/), runs the real kube-apiserver with an embedded etcd, the real kube-controller-manager
and the real kube-scheduler of one Kubernetes release; beside it run real KServe (RawDeployment) and two
documented stand-ins, the node agent (a kubelet that runs pods as local processes) and the service proxy
(cluster DNS + kube-proxy as an HTTP proxy) (tests/e2e/local_cluster.py starts those three). So
`kubectl apply -f examples/` goes through the same validation, admission, RBAC, controllers and
scheduling as on a cluster, and the operator's Jobs and predictors really run.

Two users of this module: the e2e fixtures (tests/e2e/conftest.py) start a `LocalApiServer` per test
session; `run_dev_cluster` (`make dev-cluster`, `stockops dev-cluster`) runs the cluster, an MLflow
server on loopback and the operator in the foreground until Ctrl-C, handing the operator (and through it
every workload) the MLflow address and the data source.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# Token users the test server creates besides admin. They have no rights until a test (or the chart's
# RBAC) binds them: `restricted` proves RBAC denials, `stockops-operator` runs the operator under its
# own least-privilege ClusterRole in e2e tests, `stockops-gateway` the gateway under the chart's Role.
TESTENV_USERS: tuple[str, ...] = ("restricted", "stockops-operator", "stockops-gateway")
SERVER_READY_TIMEOUT_S = 240.0
_STOP_GRACE_S = 30.0
_LOG_TAIL_LINES = 60


class DevClusterError(RuntimeError):
    """The local control plane could not be built, started or used; the message says what to do."""


def find_repo_root(start: Path | None = None) -> Path:
    """The StockOps checkout that holds the build script and the test server sources.

    The dev cluster needs files that are not part of the installed package (the Go module, the build
    script, tests/e2e/local_cluster.py), so it runs from a checkout: the current directory or any
    parent of it, or the checkout this module was imported from.
    """
    candidates = [start or Path.cwd(), Path(__file__).resolve()]
    for candidate in candidates:
        for directory in [candidate, *candidate.parents]:
            if (directory / "scripts" / "build-testenv.sh").is_file() and (
                directory / "tests" / "e2e" / "testenv" / "go.mod"
            ).is_file():
                return directory
    raise DevClusterError(
        "not inside a StockOps checkout: scripts/build-testenv.sh and tests/e2e/testenv/ were not found "
        f"above {candidates[0]}; run this from the repository"
    )


def build_tool(repo_root: Path, tool: str) -> Path:
    """Path of `testenv`, `kubectl` or `helm`, built into the cache by the build script when missing.

    `STOCKOPS_TESTENV_BIN`, `STOCKOPS_KUBECTL` and `STOCKOPS_HELM` name a binary to use instead, for
    machines where Go is unavailable but the binary was built elsewhere.
    """
    override = {"testenv": "STOCKOPS_TESTENV_BIN", "kubectl": "STOCKOPS_KUBECTL", "helm": "STOCKOPS_HELM"}
    if tool not in override:
        raise ValueError(f"tool must be one of {sorted(override)}, got {tool!r}")
    configured = os.environ.get(override[tool])
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise DevClusterError(f"{override[tool]}={configured} is not an executable file")
        return path
    script = repo_root / "scripts" / "build-testenv.sh"
    result = subprocess.run(
        ["bash", str(script), tool], stdout=subprocess.PIPE, stderr=None, text=True, check=False
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise DevClusterError(
            f"{script} {tool} failed with exit code {result.returncode}; its messages are above "
            "(a cold build of the test API server needs Go and the Go module proxy)"
        )
    return Path(lines[-1])


@dataclass
class LocalApiServer:
    """One running test API server process (`stockops-testenv`) and the files it wrote."""

    process: subprocess.Popen[str]
    url: str
    out_dir: Path
    log_path: Path
    users: tuple[str, ...]

    @classmethod
    def start(
        cls,
        binary: Path,
        out_dir: Path,
        *,
        log_path: Path | None = None,
        users: Sequence[str] = TESTENV_USERS,
        timeout: float = SERVER_READY_TIMEOUT_S,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> LocalApiServer:
        """Start the server and return once it printed its ready line; stop it on any failure."""
        out_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_path or out_dir / "apiserver.log"
        log_file = log_path.open("w")
        cmd = [str(binary), f"--out-dir={out_dir}", f"--users={','.join(users)}", *extra_args]
        try:
            # Own session: a Ctrl-C in the terminal must not reach the server before the processes
            # that depend on it have stopped; we stop it last, by pid.
            process = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=log_file,
                text=True,
                start_new_session=True,
                env=dict(env) if env is not None else None,
            )
        finally:
            log_file.close()
        server = cls(process=process, url="", out_dir=out_dir, log_path=log_path, users=tuple(users))
        try:
            server.url = server._wait_ready(timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, timeout: float) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.5)
            if ready:
                line = self.process.stdout.readline()
                if line.startswith("ready "):
                    return line.split(None, 1)[1].strip()
                if line == "" and self.process.poll() is not None:
                    break
            elif self.process.poll() is not None:
                break
        code = self.process.poll()
        state = f"exited with code {code}" if code is not None else f"not ready after {timeout:.0f}s"
        raise DevClusterError(f"test API server {state}; last lines of {self.log_path}:\n{self.log_tail()}")

    def kubeconfig(self, user: str = "admin") -> Path:
        if user != "admin" and user not in self.users:
            raise ValueError(f"no such test user {user!r}; the server was started with {self.users}")
        return self.out_dir / f"{user}.kubeconfig"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def check_alive(self) -> None:
        """Raise with the server's log when it died: every later failure would only be a symptom."""
        code = self.process.poll()
        if code is not None:
            raise DevClusterError(
                f"test API server (pid {self.pid}) exited with code {code}; last lines of "
                f"{self.log_path}:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(log unreadable: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = _STOP_GRACE_S) -> int | None:
        """SIGTERM (the server closes etcd and removes its temp dir), SIGKILL if it hangs."""
        return stop_process(self.process, timeout)


def stop_process(process: subprocess.Popen[Any], timeout: float = _STOP_GRACE_S) -> int | None:
    """Stop one child we started, by its pid: SIGTERM, then SIGKILL after `timeout` seconds."""
    if process.poll() is not None:
        return process.returncode
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        return process.wait(10)


def crd_documents(crd_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every CustomResourceDefinition in `crd_dir/*.yaml`, with the file it came from.

    A missing or empty directory yields nothing (the CRDs are generated by another part of the build);
    a file that is not YAML, or holds something other than CRDs, is an error naming the file.
    """
    if not crd_dir.is_dir():
        return []
    found: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted(crd_dir.glob("*.yaml")) + sorted(crd_dir.glob("*.yml")):
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        except yaml.YAMLError as exc:
            raise DevClusterError(f"{path} is not valid YAML: {exc}") from exc
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
                raise DevClusterError(f"{path} holds a {kind}, expected only CustomResourceDefinition")
            found.append((path, doc))
    return found


def install_crds(api_client: Any, crd_dir: Path, timeout: float = 60.0) -> list[str]:
    """Server-side apply every CRD in `crd_dir` and wait until each is Established; names applied."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    api = client.ApiextensionsV1Api(api_client)
    names: list[str] = []
    for path, doc in crd_documents(crd_dir):
        name = doc.get("metadata", {}).get("name", "")
        try:
            api.patch_custom_resource_definition(
                name,
                doc,
                field_manager="stockops-e2e",
                force=True,
                _content_type="application/apply-patch+yaml",
            )
        except ApiException as exc:
            raise DevClusterError(f"the API server rejected {name} from {path}: {exc.body or exc}") from exc
        names.append(name)
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            crd = api.read_custom_resource_definition(name)
            conditions = {c.type: c for c in (crd.status.conditions or [])}
            established = conditions.get("Established")
            if established is not None and established.status == "True":
                break
            problem = conditions.get("NamesAccepted")
            if problem is not None and problem.status == "False":
                raise DevClusterError(f"CRD {name}: names not accepted: {problem.message}")
            if time.monotonic() > deadline:
                raise DevClusterError(f"CRD {name} not Established after {timeout:.0f}s")
            time.sleep(0.2)
    return names


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[Any]
    required: bool = True


@dataclass
class _DevCluster:
    server: LocalApiServer | None = None
    children: list[_Child] = field(default_factory=list)

    def stop(self, echo: Callable[[str], None]) -> None:
        # Dependents first (operator, MLflow, the cluster's parts), the API server last.
        for child in reversed(self.children):
            code = stop_process(child.process)
            echo(f"stopped {child.name} (pid {child.process.pid}, exit code {code})")
        if self.server is not None:
            code = self.server.stop()
            echo(f"stopped the API server (pid {self.server.pid}, exit code {code})")


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A SIGTERM (from a process manager) stops the dev cluster as cleanly as Ctrl-C does."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


DEFAULT_DATA_SOURCE = "yfinance"
PARTS_READY_TIMEOUT_S = 1800.0  # a cold KServe build takes minutes on 2 cores
MLFLOW_READY_TIMEOUT_S = 180.0


def workload_env(
    base: Mapping[str, str],
    *,
    kubeconfig: Path,
    mlflow_uri: str,
    data_source: str,
    network: Mapping[str, str],
) -> dict[str, str]:
    """The operator's environment: the cluster, the MLflow server and data source it hands to every
    Job and predictor, and the proxy through which it (and they) reach Services by name."""
    env = {k: v for k, v in base.items() if k not in ("MLFLOW_TRACKING_URI", "STOCKOPS_DATA_SOURCE")}
    env.update(network)
    env.update(KUBECONFIG=str(kubeconfig), MLFLOW_TRACKING_URI=mlflow_uri, STOCKOPS_DATA_SOURCE=data_source)
    return env


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as tests/e2e/local_cluster.py writes them."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def _wait_for_file(path: Path, child: _Child, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        code = child.process.poll()
        if code is not None:
            raise DevClusterError(
                f"{child.name} exited with code {code} while starting (its messages are above)"
            )
        if time.monotonic() > deadline:
            raise DevClusterError(f"{child.name} did not come up within {timeout:.0f}s")
        time.sleep(0.5)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_mlflow(work: Path, env: Mapping[str, str]) -> tuple[subprocess.Popen[Any], str]:
    """`mlflow server` on a free loopback port (SQLite + proxied artifacts under `work`), once healthy."""
    import urllib.request

    work.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    log = (work / "mlflow.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}",
         "--artifacts-destination", str(work / "artifacts")],
        cwd=work, stdout=log, stderr=subprocess.STDOUT, env=dict(env), start_new_session=True,
    )  # fmt: skip
    log.close()
    deadline = time.monotonic() + MLFLOW_READY_TIMEOUT_S
    while True:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
            if response.status == 200:
                return process, uri
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise DevClusterError(f"mlflow server did not start; see {work / 'mlflow.log'}")
        time.sleep(0.5)


def run_dev_cluster(
    *,
    work_dir: Path | None = None,
    crd_dir: Path | None = None,
    with_operator: bool = True,
    with_nodes: bool = True,
    data_source: str | None = None,
    operator_args: Sequence[str] = (),
    repo_root: Path | None = None,
    echo: Callable[[str], None] = print,
) -> int:
    """Run the cluster, MLflow and the operator in the foreground until Ctrl-C; returns an exit code.

    work_dir holds the kubeconfigs, logs, the MLflow store and the pods' files (default
    `$STOCKOPS_HOME/dev-cluster`); crd_dir defaults to `<repo>/crds`. `MLFLOW_TRACKING_URI`, when set,
    names an MLflow server to use instead of starting one; the data source is `data_source`, else
    `$STOCKOPS_DATA_SOURCE`, else Yahoo Finance. The operator runs as admin (the chart's least-privilege
    RBAC is exercised by the e2e suite, not here). Without nodes (with_nodes=False) nothing runs pods:
    only the control plane and KServe answer. Returns 0 after Ctrl-C or SIGTERM, 1 when a part died
    (its name and log are printed).
    """
    from kubernetes import config as k8s_config

    from stockops.config import load_settings

    root = repo_root or find_repo_root()
    work = work_dir or load_settings().home_dir / "dev-cluster"
    work.mkdir(parents=True, exist_ok=True)
    crds = crd_dir or root / "crds"
    source = data_source or os.environ.get("STOCKOPS_DATA_SOURCE") or DEFAULT_DATA_SOURCE
    cluster = _DevCluster()
    with _sigterm_as_interrupt():
        try:
            echo(
                "building the test cluster (kube-apiserver, controllers, scheduler; cached after the first "
                "build) ..."
            )
            binary = build_tool(root, "testenv")
            cluster.server = LocalApiServer.start(
                binary, work, log_path=work / "apiserver.log", extra_args=("--controllers",)
            )
            kubeconfig = cluster.server.kubeconfig()
            api_client = k8s_config.new_client_from_config(config_file=str(kubeconfig))
            names = install_crds(api_client, crds)
            echo(f"installed CRDs: {', '.join(names) if names else '(none found in ' + str(crds) + ')'}")
            network: dict[str, str] = {}
            if with_nodes:
                echo(
                    "starting KServe, the service proxy and the node agent (KServe is built once, cached) ..."
                )
                env_file = work / "cluster.env"
                env_file.unlink(missing_ok=True)
                script = root / "tests" / "e2e" / "local_cluster.py"
                cmd = [
                    *(sys.executable, str(script), "--kubeconfig", str(kubeconfig), "--repo-root", str(root)),
                    *("--work-dir", str(work / "cluster"), "--env-file", str(env_file)),
                ]
                parts = _Child("cluster parts", _spawn(cmd, {**os.environ, "KUBECONFIG": str(kubeconfig)}))
                cluster.children.append(parts)
                _wait_for_file(env_file, parts, PARTS_READY_TIMEOUT_S)
                network = read_env_file(env_file)
            mlflow_uri = os.environ.get("MLFLOW_TRACKING_URI")
            if not mlflow_uri:
                process, mlflow_uri = _start_mlflow(work / "mlflow", os.environ)
                cluster.children.append(_Child("mlflow server", process))
            echo(f"MLflow: {mlflow_uri}   data source: {source}")
            if source == DEFAULT_DATA_SOURCE:
                echo(
                    "  (Yahoo Finance; offline, set STOCKOPS_DATA_SOURCE=csv:DIR, a folder of <TICKER>.csv "
                    "files)"
                )
            if with_operator:
                if importlib.util.find_spec("stockops.operator") is None:
                    echo("stockops.operator is not importable: running without the operator")
                else:
                    env = workload_env(
                        os.environ,
                        kubeconfig=kubeconfig,
                        mlflow_uri=mlflow_uri,
                        data_source=source,
                        network=network,
                    )
                    # Its probe and metrics on free loopback ports: the pods' declared ports (8080 ...)
                    # live on this machine's loopback addresses too, and 0.0.0.0:8080 would clash.
                    probe_port, metrics_port = _free_port(), _free_port()
                    liveness = f"http://127.0.0.1:{probe_port}/healthz"
                    args = operator_args or ("--liveness", liveness, "--metrics-port", str(metrics_port))
                    cmd = [sys.executable, "-m", "stockops.operator", *args]
                    cluster.children.append(_Child("operator", _spawn(cmd, env)))
                    if not operator_args:
                        echo(f"operator metrics: http://127.0.0.1:{metrics_port}/metrics")
            echo(f"API server {cluster.server.url} ready (log: {cluster.server.log_path})")
            echo(f"export KUBECONFIG={kubeconfig}")
            echo("then: kubectl apply -f examples/ && kubectl get tkm -w    (Ctrl-C here stops everything)")
            return _supervise(cluster, echo)
        except KeyboardInterrupt:
            echo("stopping ...")
            return 0
        except DevClusterError as exc:
            echo(f"dev-cluster: {exc}")
            return 1
        finally:
            cluster.stop(echo)


def _spawn(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[Any]:
    # Inherit the terminal so the parts' and the operator's logs are visible; own session so Ctrl-C
    # reaches only us and we stop children in order.
    return subprocess.Popen(cmd, env=env, start_new_session=True)


def _supervise(cluster: _DevCluster, echo: Callable[[str], None]) -> int:
    assert cluster.server is not None
    while True:
        if not cluster.server.alive():
            echo(f"the API server died (exit code {cluster.server.process.returncode}):")
            echo(cluster.server.log_tail())
            return 1
        for child in cluster.children:
            code = child.process.poll()
            if code is not None:
                echo(f"{child.name} exited with code {code}; stopping the dev cluster")
                return 1
        time.sleep(0.5)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m stockops.devcluster [--no-operator] [--no-nodes] [--data SOURCE] [--work-dir DIR]`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m stockops.devcluster", description=main.__doc__)
    parser.add_argument("--work-dir", type=Path, default=None, help="kubeconfigs, logs, MLflow, pods")
    parser.add_argument("--crd-dir", type=Path, default=None, help="CRD YAML directory (default <repo>/crds)")
    parser.add_argument("--no-operator", action="store_true", help="do not start python -m stockops.operator")
    parser.add_argument(
        "--no-nodes", action="store_true", help="no node agent, service proxy or KServe: nothing runs pods"
    )
    parser.add_argument(
        "--data",
        default=None,
        help="data source for the workloads (default $STOCKOPS_DATA_SOURCE, else yfinance)",
    )
    args = parser.parse_args(argv)
    return run_dev_cluster(
        work_dir=args.work_dir,
        crd_dir=args.crd_dir,
        with_operator=not args.no_operator,
        with_nodes=not args.no_nodes,
        data_source=args.data,
    )


if __name__ == "__main__":
    sys.exit(main())
