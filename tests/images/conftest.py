"""Fixtures for the image tier: the images this checkout builds, run as a restricted pod would run them.

- ``images`` (session): image tag per component (``operator``, ``trainer``, ``predictor``, ``agent``,
  ``gateway``), from the ``STOCKOPS_IMAGE_<NAME>`` lines of `scripts/build-images.sh` that
  `scripts/test.sh` exports; without them the script runs here (cached in podman's store: instant when
  the inputs did not change, tens of minutes cold: the torch wheel from PyPI brings gigabytes of CUDA).
- ``podman`` (session): a `Podman` that runs a container under the PodSecurity ``restricted`` context
  the chart and the operator give every pod: a non-root ``--user``, a read-only root with ``/tmp`` (and
  ``STOCKOPS_HOME`` where the pod has an emptyDir) on tmpfs, no capabilities, ``no-new-privileges``,
  the runtime's default seccomp profile. Host networking, so a container reaches servers on loopback.
- ``mlflow_server`` (session): a real ``mlflow server`` on 127.0.0.1 (SQLite + proxied artifacts, so a
  container logs artifacts over HTTP and needs no shared folder).
- ``api_server`` (session): the real kube-apiserver of the e2e tier (`stockops.devcluster`) with our
  CRDs, its admin client and the token users' kubeconfigs, readable by a container's user.

Every process and container started here is stopped by pid or name at the end. Missing tools fail
(never skip) with the command that sets the machine up.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ("operator", "trainer", "predictor", "agent", "gateway")
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-images.sh"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (containers share the host's network here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """(status, body) of a GET; connection errors raise OSError."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, log: Callable[[], str]) -> None:
    """Poll ``check`` until true; fail with ``log()`` when time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:  # refused, reset, timed out: not up yet
            pass
        time.sleep(0.5)
    pytest.fail(f"{what} not ready after {timeout:.0f}s:\n{log()}")


def _parse_lines(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key: value for key, value in pairs if key.startswith("STOCKOPS_")}


@dataclass(frozen=True)
class Images:
    """Tags of the images under test and the engine settings they were built with."""

    tags: dict[str, str]
    containers_conf: str

    def __getitem__(self, component: str) -> str:
        return self.tags[component]


@pytest.fixture(scope="session")
def images() -> Images:
    wanted = {name: f"STOCKOPS_IMAGE_{name.upper()}" for name in COMPONENTS}
    keys = [*wanted.values(), "STOCKOPS_CONTAINERS_CONF"]
    values = {key: os.environ[key] for key in keys if os.environ.get(key)}
    if len(values) < len(keys):  # not all given: build (or find) them with the cached script
        result = subprocess.run(
            ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, stderr=None, text=True, check=False
        )
        if result.returncode != 0:
            pytest.fail(f"{BUILD_SCRIPT} failed with exit code {result.returncode}; its messages are above")
        values = _parse_lines(result.stdout)
    return Images({name: values[key] for name, key in wanted.items()}, values["STOCKOPS_CONTAINERS_CONF"])


@dataclass
class Container:
    """A detached container, known by its unique name; `stop` removes it."""

    podman: Podman
    name: str

    def logs(self) -> str:
        result = self.podman.call(["logs", self.name], check=False)
        return "\n".join((result.stdout + result.stderr).splitlines()[-60:])

    def running(self) -> bool:
        result = self.podman.call(["inspect", "--format", "{{.State.Running}}", self.name], check=False)
        return result.stdout.strip() == "true"

    def stop(self) -> None:
        self.podman.call(["rm", "--force", "--time", "10", self.name], check=False)


@dataclass
class Podman:
    """podman with the project's engine settings (CONTAINERS_CONF), and the restricted pod's flags."""

    binary: str
    env: dict[str, str]
    started: list[Container] = field(default_factory=list)

    def call(self, args: Sequence[str], *, check: bool = True, timeout: float = 120.0) -> Any:
        result = subprocess.run(
            [self.binary, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            pytest.fail(f"podman {' '.join(args[:3])} ... failed ({result.returncode}):\n{result.stderr}")
        return result

    def image_user(self, image: str) -> str:
        return str(self.call(["image", "inspect", "--format", "{{.Config.User}}", image]).stdout.strip())

    def restricted(
        self,
        image: str,
        *,
        env: dict[str, str] | None = None,
        volumes: Sequence[str] = (),
        writable: Sequence[str] = (),
        entrypoint: str | None = None,
    ) -> list[str]:
        """`podman run` options of a pod with the restricted security context: the image's (non-root)
        user as runAsUser, a read-only root, /tmp and ``writable`` as emptyDirs, nothing else."""
        user = self.image_user(image)
        options = [
            "--user", user,
            "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,mode=1777",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--network", "host", "--pull", "never",
        ]  # fmt: skip
        for path in writable:
            options += ["--tmpfs", f"{path}:rw,mode=1777"]
        for volume in volumes:
            options += ["--volume", volume]
        for key, value in (env or {}).items():
            options += ["--env", f"{key}={value}"]
        if entrypoint is not None:
            options += ["--entrypoint", entrypoint]
        return options

    def run(self, image: str, *args: str, timeout: float, **options: Any) -> subprocess.CompletedProcess[str]:
        """Run to completion (a Job's pod); returns exit code, stdout and stderr."""
        name = f"stockops-test-{uuid.uuid4().hex[:10]}"
        command = ["run", "--rm", "--name", name, *self.restricted(image, **options), image, *args]
        try:
            return subprocess.run(
                [self.binary, *command], env=self.env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            logs = self.call(["logs", name], check=False)
            self.call(["rm", "--force", name], check=False)
            output = logs.stdout + logs.stderr
            pytest.fail(f"{image} {' '.join(args)} did not finish in {timeout:.0f}s:\n{output}")

    def start(self, image: str, *args: str, **options: Any) -> Container:
        """Start detached (a Deployment's pod); stopped by name when the session ends."""
        name = f"stockops-test-{uuid.uuid4().hex[:10]}"
        self.call(["run", "--detach", "--name", name, *self.restricted(image, **options), image, *args])
        container = Container(self, name)
        self.started.append(container)
        return container


@pytest.fixture(scope="session")
def podman(images: Images) -> Iterator[Podman]:
    binary = shutil.which("podman")
    if binary is None:
        script = BUILD_SCRIPT.relative_to(REPO_ROOT)
        pytest.fail(f"podman is not installed: run `bash {script}` (installs it with apt)")
    runner = Podman(binary, {**os.environ, "CONTAINERS_CONF": images.containers_conf})
    try:
        yield runner
    finally:
        for container in runner.started:
            container.stop()


def _stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MLflow tracking server (SQLite + artifact proxy) on loopback; yields its URI."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = root / "mlflow.log"
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=root, stdout=out, stderr=subprocess.STDOUT, env=env)
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: http_get(f"{uri}/health")[0] == 200,
            timeout=180,
            what="mlflow server",
            log=lambda: log.read_text(errors="replace")[-4000:],
        )
        yield uri
    finally:
        _stop(process)


@dataclass(frozen=True)
class ApiServer:
    """The test API server: its admin client and kubeconfigs a container's user can read."""

    url: str
    admin: Any
    config_dir: Path
    log_tail: Callable[[], str]

    def kubeconfig(self, user: str = "admin") -> Path:
        return self.config_dir / f"{user}.kubeconfig"


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    from kubernetes import config as k8s_config

    from stockops.devcluster import TESTENV_USERS, LocalApiServer, build_tool, install_crds

    work = tmp_path_factory.mktemp("kube")
    server = LocalApiServer.start(build_tool(REPO_ROOT, "testenv"), work / "server")
    try:
        # The server writes its kubeconfigs 0600 for its own user; a container runs as another uid, so
        # it gets a readable copy (mounted read-only, as a projected Secret would be).
        config_dir = work / "kubeconfigs"
        config_dir.mkdir()
        for user in ("admin", *TESTENV_USERS):
            copy = config_dir / f"{user}.kubeconfig"
            shutil.copyfile(server.kubeconfig(user), copy)
            copy.chmod(0o644)
        admin = k8s_config.new_client_from_config(config_file=str(server.kubeconfig()))
        install_crds(admin, REPO_ROOT / "crds")
        yield ApiServer(server.url, admin, config_dir, server.log_tail)
    finally:
        server.stop()


def termination(stdout: str) -> dict[str, Any]:
    """The one-line JSON a trainer or agent prints last (its termination message)."""
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    assert lines, f"no termination message in the output:\n{stdout[-4000:]}"
    return dict(json.loads(lines[-1]))


class Helpers:
    """The helpers above as a fixture value, for test modules (which must not import conftest)."""

    free_port = staticmethod(free_port)
    http_get = staticmethod(http_get)
    wait_until = staticmethod(wait_until)
    termination = staticmethod(termination)


@pytest.fixture(scope="session")
def helpers() -> Helpers:
    return Helpers()
