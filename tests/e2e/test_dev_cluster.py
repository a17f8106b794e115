"""The README's dev-cluster walk-through, run word for word as a new user would.

The block between the `dev-cluster walk-through` markers in README.md is split where it says
"terminal 2": the first part (`make dev-cluster` and what precedes it) runs in the background, as in a
terminal of its own, the second in a shell with `set -e` once the first printed its kubeconfig. The user
is new: a fresh HOME with nothing in it but the folder of CSV files the block names, no
`MLFLOW_TRACKING_URI`, no `KUBECONFIG`, no `STOCKOPS_HOME`. Only the cached builds are pointed at (the
`STOCKOPS_TESTENV_BIN`/`STOCKOPS_KSERVE_DIR` overrides the build scripts honour), so the test does not
rebuild what `make test` built, and the built kubectl comes first on PATH (this machine's may be too
old for the server).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from stockops.devcluster import build_tool

pytestmark = pytest.mark.e2e

START, END = "<!-- dev-cluster walk-through: start -->", "<!-- dev-cluster walk-through: end -->"
WALKTHROUGH_TIMEOUT_S = 45 * 60


def walkthrough(readme: str) -> tuple[list[str], list[str]]:
    """The commands of terminal 1 and of terminal 2 (comments and the code fence dropped)."""
    block = readme.split(START, 1)[1].split(END, 1)[0]
    terminals: list[list[str]] = [[], []]
    current = 0
    for raw in block.strip().splitlines():
        line = raw.strip()
        if line.startswith("```") or not line:
            continue
        if line.startswith("#"):
            current = 1 if "terminal 2" in line else current
            continue
        terminals[current].append(line)
    return terminals[0], terminals[1]


def test_the_walkthrough_block_has_both_terminals(repo_root: Path) -> None:
    first, second = walkthrough((repo_root / "README.md").read_text())
    assert first[-1] == "make dev-cluster"
    assert any(line.startswith("kubectl apply -f examples/") for line in second)
    assert any(line.startswith("kubectl wait --for=condition=Ready") for line in second)


def _tail(path: Path, lines: int = 80) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def test_the_readme_dev_cluster_walkthrough_works_as_written(
    repo_root: Path, ohlcv_dir: Path, tmp_path: Path
) -> None:
    if os.environ.get("STOCKOPS_E2E_CLUSTER") == "external":
        pytest.skip("the walk-through starts the local dev cluster; an external run tests another cluster")
    first, second = walkthrough((repo_root / "README.md").read_text())
    home = tmp_path / "home"
    home.mkdir()
    (home / "ohlcv").symlink_to(ohlcv_dir)  # the user's folder of CSV files
    kubectl = build_tool(repo_root, "kubectl")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STOCKOPS_", "MLFLOW_", "KUBECONFIG", "HTTP_PROXY", "http_proxy"))
    }
    for cached in ("STOCKOPS_TESTENV_BIN", "STOCKOPS_KSERVE_DIR"):
        if cached in os.environ:
            env[cached] = os.environ[cached]
    env.update(HOME=str(home), PATH=f"{kubectl.parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}")
    log1 = tmp_path / "terminal-1.log"
    with log1.open("wb") as out:
        terminal1 = subprocess.Popen(
            ["bash", "-c", "set -e\n" + "\n".join(first)],
            cwd=repo_root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 600
        while "export KUBECONFIG=" not in log1.read_text(errors="replace"):
            if terminal1.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"make dev-cluster did not come up (exit {terminal1.poll()}):\n{_tail(log1)}")
            time.sleep(1)
        out2 = tmp_path / "terminal-2.log"
        with out2.open("w") as out:
            terminal2 = subprocess.Popen(
                ["bash", "-c", "set -e\n" + "\n".join(second)],
                cwd=repo_root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + WALKTHROUGH_TIMEOUT_S
        while terminal2.poll() is None:  # a dead cluster must fail the test now, not at kubectl's timeout
            if terminal1.poll() is not None or time.monotonic() > deadline:
                os.killpg(terminal2.pid, signal.SIGKILL)
                terminal2.wait(10)
                pytest.fail(f"terminal 1 ended or time ran out:\n{_tail(log1)}\nterminal 2:\n{_tail(out2)}")
            time.sleep(2)
        table = out2.read_text(errors="replace")
        assert terminal2.returncode == 0, (
            f"terminal 2 failed ({terminal2.returncode}):\n{table}\nterminal 1:\n{_tail(log1)}"
        )
        # `kubectl get` of several kinds names each row kind/name.
        for name in ("parentmodel.stockops.io/gspc", "tickermodel.stockops.io/aapl",
                     "tickermodel.stockops.io/msft", "analysis.stockops.io/aapl-outlook"):  # fmt: skip
            rows = [line for line in table.splitlines() if line.split()[:1] == [name]]
            row = rows[-1] if rows else None  # after the `created` and `condition met` lines: the table
            assert row is not None and "Ready" in row.split(), f"{name} not Ready in:\n{table}"
        served = [row for row in table.splitlines() if row.startswith("inferenceservice.serving.kserve.io/")]
        assert len(served) == 2 and all("True" in line.split() for line in served), table
        assert table.count("condition met") == 4, table
    finally:
        if terminal1.poll() is None:
            os.killpg(terminal1.pid, signal.SIGINT)  # Ctrl-C in terminal 1
            try:
                terminal1.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(terminal1.pid, signal.SIGKILL)
                terminal1.wait(10)
    text = log1.read_text(errors="replace")
    assert "stopped the API server" in text, _tail(log1)
    assert "stopped operator" in text and "stopped mlflow server" in text, _tail(log1)
