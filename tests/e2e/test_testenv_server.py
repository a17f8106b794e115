"""The local test API server's process contract: kubeconfigs per user, a clean exit on SIGTERM that
leaves no data behind, and a death that is reported with the server's own log.

These start servers of their own (not the session's), so they exercise start-up every run. They test
the local harness, so they do not run against an external cluster.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from pathlib import Path

import pytest
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from stockops.devcluster import DevClusterError, LocalApiServer, build_tool

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.environ.get("STOCKOPS_E2E_CLUSTER") == "external",
        reason="tests the local test API server, which an external-cluster run does not start",
    ),
]


def start(repo_root: Path, tmp_path: Path) -> tuple[LocalApiServer, Path]:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    server = LocalApiServer.start(build_tool(repo_root, "testenv"), tmp_path / "out", env=env)
    return server, scratch


def test_server_writes_kubeconfigs_and_removes_its_data_on_sigterm(repo_root: Path, tmp_path: Path) -> None:
    server, scratch = start(repo_root, tmp_path)
    try:
        assert server.url.startswith("https://127.0.0.1:")
        for user in ("admin", "restricted", "stockops-operator"):
            path = server.kubeconfig(user)
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path} holds a token: owner-only"
        admin = k8s_config.new_client_from_config(config_file=str(server.kubeconfig()))
        namespaces = {n.metadata.name for n in k8s_client.CoreV1Api(admin).list_namespace().items}
        assert {"default", "kube-system"} <= namespaces
        restricted = k8s_config.new_client_from_config(config_file=str(server.kubeconfig("restricted")))
        with pytest.raises(k8s_client.ApiException) as denied:
            k8s_client.CoreV1Api(restricted).list_namespace()
        assert denied.value.status == 403
        assert [p.name for p in scratch.iterdir()], "etcd data and certificates live in TMPDIR while running"
    finally:
        code = server.stop()
    assert code == 0
    assert list(scratch.iterdir()) == []
    assert "etcd closed" in server.log_tail()


def test_a_dead_server_is_reported_with_its_log(repo_root: Path, tmp_path: Path) -> None:
    server, _ = start(repo_root, tmp_path)
    try:
        server.check_alive()
        os.kill(server.pid, signal.SIGKILL)
        server.process.wait(10)
        with pytest.raises(DevClusterError) as died:
            server.check_alive()
        assert f"(pid {server.pid}) exited with code -9" in str(died.value)
        last_line = server.log_path.read_text().splitlines()[-1]
        assert last_line in str(died.value)  # the log itself, quoted
    finally:
        server.stop()


def test_server_refuses_to_start_without_an_output_directory(repo_root: Path) -> None:
    result = subprocess.run(
        [str(build_tool(repo_root, "testenv"))], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "--out-dir is required" in result.stderr


def test_controller_flags_need_controllers(repo_root: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(build_tool(repo_root, "testenv")), f"--out-dir={tmp_path}", "--scheduler-arg=--v=2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "need --controllers" in result.stderr


def _children(pid: int) -> dict[str, int]:
    """{component: pid} of the server's child processes (their argv[1] names the component)."""
    out: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and len(argv) > 1:
            out[argv[1].decode()] = int(entry.name)
    return out


def _start_with_controllers(repo_root: Path, tmp_path: Path) -> LocalApiServer:
    return LocalApiServer.start(
        build_tool(repo_root, "testenv"), tmp_path / "out", extra_args=("--controllers",)
    )


def test_with_controllers_sigterm_stops_them_first_and_exits_0(repo_root: Path, tmp_path: Path) -> None:
    server = _start_with_controllers(repo_root, tmp_path)
    try:
        children = _children(server.pid)
        assert set(children) == {"kube-controller-manager", "kube-scheduler"}
    finally:
        code = server.stop()
    assert code == 0
    for pid in children.values():
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    log = server.log_tail(200)
    assert "kube-scheduler stopped" in log and "kube-controller-manager stopped" in log


def test_with_controllers_a_dead_controller_manager_stops_the_server(repo_root: Path, tmp_path: Path) -> None:
    server = _start_with_controllers(repo_root, tmp_path)
    try:
        os.kill(_children(server.pid)["kube-controller-manager"], signal.SIGKILL)
        assert server.process.wait(60) == 1
        assert "kube-controller-manager exited with code -1; stopping" in server.log_tail(200)
    finally:
        server.stop()
