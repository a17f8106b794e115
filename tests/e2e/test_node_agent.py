"""The node agent's kubelet rules, checked without a cluster: each one is what a kubelet does."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest


def test_paths_under_a_mount_are_rewritten_to_the_volume_longest_mount_first(
    node_agent: ModuleType, tmp_path: Path
) -> None:
    mounts = [("/var/lib/stockops", tmp_path / "home"), ("/var/lib/stockops/cache", tmp_path / "cache")]
    assert node_agent.mapped_path("/var/lib/stockops/runs/1", mounts) == f"{tmp_path}/home/runs/1"
    assert node_agent.mapped_path("/var/lib/stockops/cache/x", mounts) == f"{tmp_path}/cache/x"
    assert node_agent.mapped_path("/var/lib/stockops", mounts) == f"{tmp_path}/home"
    # A prefix that is not a path component is not a mount.
    assert node_agent.mapped_path("/var/lib/stockopsx", mounts) == "/var/lib/stockopsx"
    assert node_agent.mapped_path("relative", mounts) == "relative"


@pytest.mark.parametrize(
    ("policy", "exits", "phase"),
    [
        ("Never", [0, 0], "Succeeded"),
        ("Never", [0, 1], "Failed"),
        ("Never", [0, None], "Running"),
        ("OnFailure", [0], "Succeeded"),
        ("OnFailure", [2], "Running"),  # restarted, not failed
        ("Always", [0], "Running"),
    ],
)
def test_the_pod_phase_follows_the_restart_policy(
    node_agent: ModuleType, policy: str, exits: list[int | None], phase: str
) -> None:
    assert node_agent.pod_phase(policy, exits) == phase


def test_the_restart_back_off_doubles_from_ten_seconds_to_five_minutes(node_agent: ModuleType) -> None:
    assert [node_agent.restart_backoff(n) for n in (1, 2, 3, 6, 20)] == [10.0, 20.0, 40.0, 300.0, 300.0]


def test_probe_thresholds_flip_the_result_only_after_enough_consecutive_results(
    node_agent: ModuleType,
) -> None:
    state = node_agent.ProbeState({"failureThreshold": 2, "successThreshold": 2})
    state.record(True)
    assert state.result is False  # one success of two
    state.record(True)
    assert state.result is True
    state.record(False)
    assert state.result is True and not state.failed_out
    state.record(False)
    assert state.result is False and state.failed_out


@pytest.fixture
def health_server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response({"/ok": 200, "/redirect": 302}.get(self.path, 503))
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def test_http_probes_pass_on_2xx_and_3xx_and_resolve_named_ports(
    node_agent: ModuleType, health_server: int
) -> None:
    container = {"name": "c", "ports": [{"name": "http", "containerPort": health_server}]}
    for path, ok in (("/ok", True), ("/redirect", True), ("/sick", False)):
        probe = {"httpGet": {"path": path, "port": "http"}}
        assert node_agent.run_probe(probe, container, "127.0.0.1", {})[0] is ok, path
    ok, message = node_agent.run_probe({"httpGet": {"path": "/", "port": "grpc"}}, container, "127.0.0.1", {})
    assert not ok and "'grpc' is not a port" in message


def test_tcp_and_exec_probes(node_agent: ModuleType, health_server: int) -> None:
    container = {"name": "c"}
    assert node_agent.run_probe({"tcpSocket": {"port": health_server}}, container, "127.0.0.1", {})[0]
    assert not node_agent.run_probe({"tcpSocket": {"port": 1}}, container, "127.0.0.1", {})[0]
    assert node_agent.run_probe(
        {"exec": {"command": ["true"]}}, container, "127.0.0.1", {"PATH": "/usr/bin:/bin"}
    )[0]
    assert not node_agent.run_probe(
        {"exec": {"command": ["false"]}}, container, "127.0.0.1", {"PATH": "/usr/bin:/bin"}
    )[0]
    ok, message = node_agent.run_probe({"grpc": {"port": 1}}, container, "127.0.0.1", {})
    assert not ok and "not supported" in message


def test_the_gpu_node_offers_gpus_behind_the_nvidia_taint(node_agent: ModuleType) -> None:
    nodes = {n.name: node_agent.node_object(n) for n in node_agent.NODES}
    assert "taints" not in nodes["stockops-cpu"]["spec"]
    assert nodes["stockops-gpu"]["spec"]["taints"] == [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
    status = node_agent.node_status(node_agent.NODES[1], "2026-01-01T00:00:00Z")
    assert status["allocatable"]["nvidia.com/gpu"] == "2"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
