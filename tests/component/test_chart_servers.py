"""The chart's MLflow and Redis containers' commands, rendered by helm and run for real on loopback.

No kubelet runs here, so the containers' command lines are the part that can be proven: each is run
as rendered (only the bind address, port and data paths moved to a temp dir). The MLflow check matters
most: MLflow rejects unknown Host headers (DNS-rebinding protection), so a tracking URI the chart hands
to training pods that the server's --allowed-hosts does not cover would break every training Job.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from stockops.devcluster import DevClusterError, build_tool

pytestmark = pytest.mark.component

RELEASE, NAMESPACE = "stockops", "stockops-system"
REDIS_SERVER = "/usr/bin/redis-server"


@pytest.fixture(scope="module")
def rendered(repo_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """rendered(*helm_flags) -> objects of `helm template` of the chart (the pinned helm)."""
    try:
        helm = str(build_tool(repo_root, "helm"))
    except DevClusterError as exc:
        pytest.fail(f"no helm to render the chart with: {exc}")

    def _render(*flags: str) -> list[dict[str, Any]]:
        home = tmp_path_factory.mktemp("helm-home")
        env = {
            **os.environ,
            "HELM_CACHE_HOME": str(home),
            "HELM_CONFIG_HOME": str(home),
            "HELM_DATA_HOME": str(home),
        }
        chart = str(repo_root / "charts" / "stockops")
        done = subprocess.run(
            [helm, "template", RELEASE, chart, "-n", NAMESPACE, *flags],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        return [d for d in yaml.safe_load_all(done.stdout) if d]

    return _render


def _deployment_container(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (deployment,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _tracking_uri(objects: list[dict[str, Any]]) -> str:
    env = _deployment_container(objects, "stockops-operator")["env"]
    return next(e["value"] for e in env if e["name"] == "MLFLOW_TRACKING_URI")


@pytest.fixture(scope="module")
def chart_mlflow(
    rendered, loopback: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """The chart's `mlflow server` on 127.0.0.1; yields (base URL, the dir standing in for /mlflow)."""
    command = _deployment_container(rendered(), "stockops-mlflow")["command"]
    data = tmp_path_factory.mktemp("mlflow-volume")
    port = loopback.free_port()
    assert command[0] == "mlflow"
    argv = [sys.executable, "-m", "mlflow"]
    for arg in command[1:]:
        if arg.startswith("--host="):
            arg = "--host=127.0.0.1"
        elif arg.startswith("--port="):
            arg = f"--port={port}"
        argv.append(arg.replace("/mlflow/", f"{data}/"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["HOME"] = str(data / "home")
    log = data / "mlflow.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=data, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        loopback.wait_until(
            lambda: loopback.http_ok(f"{url}/health"),
            timeout=180,
            what="chart's mlflow server",
            process=process,
            log=log,
        )
        yield url, data
    finally:
        loopback.stop_process(process)


def _search_experiments(url: str, host: str) -> httpx.Response:
    return httpx.post(
        f"{url}/api/2.0/mlflow/experiments/search",
        json={"max_results": 1},
        headers={"Host": host},
        timeout=10,
    )


def test_mlflow_accepts_the_tracking_uri_the_chart_gives_to_pods(rendered, chart_mlflow) -> None:
    url, _ = chart_mlflow
    tracking_host = urlsplit(_tracking_uri(rendered())).netloc
    assert tracking_host == "stockops-mlflow.stockops-system.svc:5000"
    for host in (
        tracking_host,
        "stockops-mlflow.stockops-system.svc.cluster.local:5000",  # the FQDN, as some clients resolve it
        "stockops-mlflow.stockops-system:5000",
        "stockops-mlflow:5000",  # pods in the release namespace
        "localhost:5000",  # kubectl port-forward
        "10.96.12.7:5000",  # the ClusterIP or pod IP directly
    ):
        answer = _search_experiments(url, host)
        assert answer.status_code == 200, f"Host {host}: {answer.status_code} {answer.text[:200]}"


def test_mlflow_still_rejects_foreign_hosts(chart_mlflow) -> None:
    url, _ = chart_mlflow
    answer = _search_experiments(url, "attacker.example.com")
    assert answer.status_code in (400, 403), answer.status_code
    assert "Invalid Host header" in answer.text


def test_mlflow_keeps_registry_and_artifacts_on_its_volume(chart_mlflow) -> None:
    """Pods upload artifacts through the server (no bucket credentials); they land on the volume."""
    import mlflow

    url, data = chart_mlflow
    client = mlflow.MlflowClient(tracking_uri=url)
    experiment = client.create_experiment("chart-volume")
    run = client.create_run(experiment)
    client.log_text(run.info.run_id, "weights", "bundle/weights.txt")
    stored = list((data / "artifacts").rglob("weights.txt"))
    assert len(stored) == 1 and stored[0].read_text() == "weights"
    assert (data / "mlflow.db").is_file()


@pytest.mark.parametrize("persistent", [False, True], ids=["ephemeral", "append-only"])
def test_redis_runs_the_charts_command(rendered, loopback: Any, tmp_path: Path, persistent: bool) -> None:
    if not Path(REDIS_SERVER).is_file():
        pytest.fail(f"{REDIS_SERVER} is missing: apt-get install redis-server")
    flags = ("--set", "redis.persistence.enabled=true") if persistent else ()
    command = _deployment_container(rendered(*flags), "stockops-redis")["command"]
    assert command[0] == "redis-server"
    port = loopback.free_port()
    argv = [REDIS_SERVER, *command[1:], "--bind", "127.0.0.1"]
    argv[argv.index("--port") + 1] = str(port)
    argv[argv.index("--dir") + 1] = str(tmp_path)
    log = tmp_path / "redis.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        loopback.wait_until(
            lambda: _redis(port, "PING") == "+PONG", timeout=30, what="redis", process=process, log=log
        )
        assert _redis(port, "CONFIG", "GET", "maxmemory-policy").endswith("volatile-lru")
        assert _redis(port, "CONFIG", "GET", "appendonly").endswith("yes" if persistent else "no")
        assert _redis(port, "CONFIG", "GET", "maxmemory").endswith(str(256 * 1024 * 1024))
    finally:
        loopback.stop_process(process)


def _redis(port: int, *words: str) -> str:
    """One RESP command; the reply with line breaks flattened (enough for PING and CONFIG GET)."""
    request = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(request.encode())
        reply = b""
        while not reply.endswith(b"\r\n") or reply.count(b"\r\n") < (1 if words[0] == "PING" else 5):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return " ".join(part for part in reply.decode().split("\r\n") if part and not part.startswith(("*", "$")))
