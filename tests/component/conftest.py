"""Real servers on loopback for component tests: an MLflow tracking server and a Redis server.

- ``mlflow_server`` (session): ``mlflow server`` on a free 127.0.0.1 port with a SQLite backend and a
  proxied artifact directory in a temp folder; yields the tracking URI (``http://127.0.0.1:PORT``).
- ``register_small_model`` (session, in tests/conftest.py: e2e uses it too).
- ``redis_server`` (session): Debian's ``redis-server`` (no persistence) on a free port; yields a
  `RedisServer` handle whose ``url`` is the redis URL and which can be ``kill()``-ed and ``start()``-ed
  again on the same port (tests that kill it restart it; the fixture restarts it too if left dead).

Both fail (never skip) with the command to fix the machine when a binary is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REDIS_SERVER = "/usr/bin/redis-server"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``check`` until true; fail with the log tail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"{what} exited with code {process.returncode} before it was up:\n{tail(log)}")
        try:
            if check():
                return
        except Exception:  # connection refused, reset, timeout...: all mean "not up yet"
            pass
        time.sleep(0.2)
    pytest.fail(f"{what} not up after {timeout:.0f}s:\n{tail(log)}")


def tail(log: Path | None, lines: int = 40) -> str:
    """The ERROR/WARNING lines (first 10) and the last lines of a process log, for failure messages."""
    if log is None or not log.exists():
        return "(no log)"
    text = log.read_text(errors="replace").splitlines()
    alarms = [line for line in text if " ERROR " in line or " WARNING " in line][:10]
    return "\n".join([*alarms, "...", *text[-lines:]])


def stop_process(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class Loopback:
    """The helpers above as a fixture value, for test modules (which must not import conftest)."""

    free_port = staticmethod(free_port)
    wait_until = staticmethod(wait_until)
    stop_process = staticmethod(stop_process)
    tail = staticmethod(tail)
    http_ok = staticmethod(http_ok)


@pytest.fixture(scope="session")
def loopback() -> Loopback:
    """`free_port()`, `wait_until(check, timeout=, what=, process=, log=)`, `stop_process(p)`, `tail(log)`."""
    return Loopback()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MLflow tracking server (SQLite + artifact proxy) on loopback; yields its URI."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = root / "mlflow.log"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_ENABLE_ASYNC_LOGGING": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=root, stdout=out, stderr=subprocess.STDOUT, env=env)
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: http_ok(f"{uri}/health"), timeout=180, what="mlflow server", process=process, log=log
        )
        yield uri
    finally:
        stop_process(process)


class RedisServer:
    """A redis-server process on a fixed loopback port that tests may kill and start again."""

    def __init__(self, binary: str, directory: Path, port: int) -> None:
        self.binary = binary
        self.directory = directory
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.log = directory / "redis.log"
        self._process: subprocess.Popen | None = None

    def __str__(self) -> str:
        return self.url

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")

    def start(self) -> None:
        if self.alive:
            return
        command = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--logfile", str(self.log),
        ]  # fmt: skip
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(self.ping, timeout=30, what="redis-server", process=self._process, log=self.log)

    def kill(self) -> None:
        """SIGKILL: the way a crashed or partitioned cache looks to clients."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on loopback; ``.url`` is its URL; may be killed and restarted by tests."""
    binary = REDIS_SERVER if os.path.exists(REDIS_SERVER) else shutil.which("redis-server")
    if binary is None:
        pytest.fail(f"{REDIS_SERVER} not found: install it with `apt-get install redis-server`")
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def running_redis(redis_server: RedisServer) -> RedisServer:
    """The session Redis, restarted first if an earlier test left it dead."""
    redis_server.start()
    return redis_server


_MLFLOW_ENV = ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@pytest.fixture(autouse=True)
def _fresh_mlflow_globals() -> Iterator[None]:
    """MLflow keeps process-wide state: the tracking and registry URIs, the active experiment (also
    exported as ``MLFLOW_EXPERIMENT_ID``, which `mlflow.set_experiment` writes into os.environ), the
    active run. A test that trains in-process against one store must not leave the next test pointed at
    it, so every component test starts and ends with that state as a fresh process has it."""
    saved = {name: os.environ.get(name) for name in _MLFLOW_ENV}
    yield
    if "mlflow" not in sys.modules:
        return
    import mlflow
    from mlflow.tracking import fluent

    while mlflow.active_run() is not None:
        mlflow.end_run()
    fluent._active_experiment_id = None
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
