"""How long a user waits for the everyday commands (wall-clock medians of fresh processes).

    .venv/bin/python benchmarks/cli_latency.py [--runs 5] [--ticker AAPL] [--data-dir DIR] [--json PATH]
                                              [--as-before]

Prints the median (and min/max) of ``--runs`` runs, after one warm-up run, of:

- ``stockops --help``
- ``stockops predict T --version 1`` and ``stockops evaluate T --version 1``
- ``stockops features ingest T`` into a store that already holds T (the idempotent re-ingest)
- the trainer (``python -m stockops.trainer``): seconds from process start to its first epoch line
- the predictor (``python -m stockops.predictor``): seconds from process start to ``/v2/health/ready``

Set-up (not timed): a throw-away ``STOCKOPS_HOME`` with one tiny model of T (one epoch, 16 units, recent
years) trained from the CSV directory, so the figures measure process start, imports, opening the
feature store and the registry, not training. ``--as-before`` reproduces the environment before the
fast-commands work, for a before/after table: no bytecode (an empty ``PYTHONPYCACHEPREFIX``, as with a
venv installed by uv under ``PYTHONDONTWRITEBYTECODE=1``) and ``STOCKOPS_PYTHON_DEBUG=1`` (no ``-O``,
so Feast's typeguard instrumentation runs at import).

Goals on 2 cores (the fast-commands issue): ``--help`` < 1 s, ``predict`` and ``evaluate`` < 3 s,
predictor ready < 10 s. Nothing here is asserted; the figures are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
GOALS = {"--help": 1.0, "predict": 3.0, "evaluate": 3.0, "predictor ready": 10.0}


def default_data_dir() -> Path:
    configured = os.environ.get("STOCKOPS_TEST_DATA_DIR")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data" / "ohlcv"


def stockops(*args: str) -> list[str]:
    script = VENV_BIN / "stockops"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "stockops", *args]


def timed(command: Sequence[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def until_first_epoch(command: Sequence[str], env: dict[str, str]) -> float:
    """Seconds from start to the trainer's first ``epoch 1/`` log line (the process is then stopped)."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    tail: list[str] = []
    try:
        for line in proc.stderr:
            tail = [*tail[-30:], line]
            if " epoch 1/" in line:
                return time.perf_counter() - started
        raise SystemExit("trainer ended without an epoch line:\n" + "".join(tail))
    finally:
        proc.kill()
        proc.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def until_ready(command: Sequence[str], env: dict[str, str], port: int) -> float:
    """Seconds from start until ``GET /v2/health/ready`` answers 200."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < 300:
            if proc.poll() is not None:
                raise SystemExit(f"predictor exited with {proc.returncode} before it was ready")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise SystemExit("predictor not ready after 300 s")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(name: str, once: Callable[[], float], runs: int) -> dict[str, float | str]:
    once()  # warm-up: page cache, the store's first open
    samples = [once() for _ in range(runs)]
    figure: dict[str, float | str] = {
        "name": name,
        "median_s": statistics.median(samples),
        "min_s": min(samples),
        "max_s": max(samples),
    }
    goal = GOALS.get(name)
    if goal is not None:
        figure["goal_s"] = goal
        figure["met"] = "yes" if float(figure["median_s"]) < goal else "NO"
    spread = f"(min {figure['min_s']:.2f}, max {figure['max_s']:.2f})"
    verdict = f"  goal < {goal:g} s: {figure['met']}" if goal is not None else ""
    print(f"{name:<18} median {figure['median_s']:6.2f} s  {spread}{verdict}", flush=True)
    return figure


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ticker", default="AAPL")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--as-before", action="store_true", help="no bytecode, no -O (the old behaviour)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    ticker, runs = args.ticker, args.runs
    home = Path(tempfile.mkdtemp(prefix="stockops-cli-latency-"))
    env = {
        **os.environ,
        "STOCKOPS_HOME": str(home),
        "STOCKOPS_DATA_SOURCE": f"csv:{args.data_dir.resolve()}",
        "STOCKOPS_TERMINATION_LOG": str(home / "termination-log"),
        "STOCKOPS_TORCH_THREADS": "1",
    }
    for key in ("MLFLOW_TRACKING_URI", "STOCKOPS_REDIS_URL", "PYTHONOPTIMIZE"):
        env.pop(key, None)
    if args.as_before:
        env.update(PYTHONPYCACHEPREFIX=str(home / "no-bytecode"), STOCKOPS_PYTHON_DEBUG="1")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    print(f"load average before: {os.getloadavg()}  python {platform.python_version()}  home {home}")
    print(f"mode: {'as before (no bytecode, no -O)' if args.as_before else 'current'}; runs={runs}")
    train = ["--start", "2021-01-01", "--epochs", "1", "--hidden-size", "16", "--layers", "1"]
    setup = stockops("train-parent", "--ticker", ticker, *train, "--min-skill", "-1", "--json")
    print(f"set-up (untimed): {ticker} trained in {timed(setup, env):.1f} s", flush=True)

    figures = [
        measure("--help", lambda: timed(stockops("--help"), env), runs),
        measure(
            "predict", lambda: timed(stockops("predict", ticker, "--version", "1", "--days", "3"), env), runs
        ),
        measure("evaluate", lambda: timed(stockops("evaluate", ticker, "--version", "1"), env), runs),
        measure("features ingest", lambda: timed(stockops("features", "ingest", ticker), env), runs),
    ]
    trainer = [sys.executable, "-m", "stockops.trainer", "--kind", "parent", "--ticker", ticker]
    trainer += ["--start", "2021-01-01", "--epochs", "1"]
    figures.append(measure("trainer 1st epoch", lambda: until_first_epoch(trainer, env), runs))
    port = free_port()
    predictor = [sys.executable, "-m", "stockops.predictor", "--model-name", f"stockops-{ticker.lower()}"]
    predictor += ["--model-version", "1", "--http-port", str(port)]
    serve_env = {**env, "STOCKOPS_BIND_ADDRESS": "127.0.0.1"}
    figures.append(measure("predictor ready", lambda: until_ready(predictor, serve_env, port), runs))
    print(f"load average after: {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps({"as_before": args.as_before, "figures": figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
