"""How long one analysis takes: the graph run (cold) and a semantic-cache hit, with the template writer
and with a real LLM (llama.cpp's server, SmolLM2-135M-Instruct, 2 threads).

    .venv/bin/python benchmarks/analysis_latency.py [--runs 3] [--no-llm] [--data-dir DIR] [--json PATH]

Set-up (not timed): a throw-away ``STOCKOPS_HOME`` with one tiny AAPL model (one epoch, 8 units, from
2021) trained through the real pipeline from the CSV directory, news off, the semantic cache on local
Qdrant storage; for the LLM, the server from ``scripts/build-llm.sh`` (built and cached on first use)
on a free loopback port with ``--n_threads 2``, ``llm_max_tokens`` 600, at most 1 revision.

Figures, per writer (in-process ``run_analysis``, seconds):

- ``first``: the first analysis of the process (imports, embedder load, graph run);
- ``cold``: median of ``--runs`` graph runs with the cache lookup skipped (the report is stored);
- ``cached``: median of ``--runs`` semantic-cache hits (a reworded question; forecast read + lookup);
- ``cli_cached``: one ``stockops analyze --json`` process answering from the cache (start to exit).

Also the writer rounds and critic score of the cold runs. Nothing is asserted; machine load is printed.

Measured on this machine (2 cores, load average about 2 from other work, ``--runs 3``):

==============  =====================  ===========  =============  ==============================
writer          first / cold (graph)   cached hit   CLI cached     rounds, critic score
==============  =====================  ===========  =============  ==============================
template        1.07 s / 0.08 s        67 ms        2.61 s         1, 1.00
llm:smollm2     13.6 s / 9.8 s         73 ms        2.90 s         2 (1 revision), 0.84
==============  =====================  ===========  =============  ==============================

An LLM round takes about 5 s (a ~450-token prompt and up to 600 output tokens at 2 threads); the 135M
model's prose always draws objections (numbers it invents), so every LLM run uses its revision. The
llama.cpp server is ready 0.6 s after start once built; the cached CLI call is mostly process start and
imports.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))

QUESTION = "Should I worry about volatility this week?"
REWORDED = "Should I be worried about volatility this week?"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def train(home: Path, data_dir: Path) -> Any:
    from stockops.config import Settings
    from stockops.model.config import ModelConfig, TrainingConfig
    from stockops.pipeline import TrainRequest, train_and_register

    source = f"csv:{data_dir}"
    request = TrainRequest(
        ticker="AAPL",
        kind="parent",
        source=source,
        start=date(2021, 1, 1),
        model=ModelConfig(hidden_size=8, num_layers=1, context_days=20, horizon_days=5),
        training=TrainingConfig(epochs=1, batch_size=64, num_threads=1, refit=False),
        min_skill=-100.0,
    )
    return train_and_register(request, Settings(home=home, data_source=source), output_dir=home / "outputs")


def start_llm(log: Path) -> tuple[subprocess.Popen, str, float]:
    built = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "build-llm.sh")], capture_output=True, text=True, check=True
    )
    paths = dict(line.split("=", 1) for line in built.stdout.splitlines() if "=" in line)
    port = free_port()
    command = [
        paths["STOCKOPS_LLM_PYTHON"], "-m", "llama_cpp.server", "--model", paths["STOCKOPS_LLM_GGUF"],
        "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port), "--n_threads", "2",
        "--n_threads_batch", "2", "--n_ctx", "2048", "--seed", "0", "--verbose", "False",
    ]  # fmt: skip
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    while time.perf_counter() - started < 180:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):
                return process, url, time.perf_counter() - started
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"llama.cpp server exited: {log.read_text()[-2000:]}") from None
            time.sleep(0.3)
    process.kill()
    raise SystemExit("llama.cpp server not up after 180 s")


def measure_writer(home: Path, data_dir: Path, runs: int, **agent: Any) -> dict[str, Any]:
    from stockops.agent.run import run_analysis
    from stockops.agent.settings import AgentSettings
    from stockops.config import Settings

    settings = Settings(home=home, data_source=f"csv:{data_dir}", mlflow_tracking_uri=None)
    config = AgentSettings(news_source="none", qdrant_url=None, **agent)
    started = time.perf_counter()
    first = run_analysis("AAPL", QUESTION, settings, config, use_cache=False, env={})
    first_seconds = time.perf_counter() - started
    cold, rounds, scores = [], [first.revisions + 1], [first.critic_score]
    for _ in range(runs):
        started = time.perf_counter()
        result = run_analysis("AAPL", QUESTION, settings, config, use_cache=False, env={})
        cold.append(time.perf_counter() - started)
        rounds.append(result.revisions + 1)
        scores.append(result.critic_score)
    cached = []
    for _ in range(runs):
        started = time.perf_counter()
        hit = run_analysis("AAPL", REWORDED, settings, config, env={})
        cached.append(time.perf_counter() - started)
        if not hit.cached:
            raise SystemExit("expected a semantic-cache hit")
    env = {**os.environ, "STOCKOPS_HOME": str(home), "STOCKOPS_DATA_SOURCE": f"csv:{data_dir}"}
    env["STOCKOPS_NEWS_SOURCE"] = "none"
    env.pop("MLFLOW_TRACKING_URI", None)
    if config.llm_endpoint:
        env.update(STOCKOPS_LLM_ENDPOINT=config.llm_endpoint, STOCKOPS_LLM_MODEL_NAME=config.llm_model)
    else:
        env.pop("STOCKOPS_LLM_ENDPOINT", None)
    started = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "stockops"), "analyze", "AAPL", REWORDED, "--json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    cli_cached = time.perf_counter() - started
    if not json.loads(done.stdout)["cached"]:
        raise SystemExit("expected the CLI to answer from the cache")
    return {
        "generator": first.generator,
        "first": round(first_seconds, 3),
        "cold": round(statistics.median(cold), 3),
        "cold_runs": [round(x, 3) for x in cold],
        "cached": round(statistics.median(cached), 4),
        "cli_cached": round(cli_cached, 3),
        "writer_rounds": rounds,
        "critic_scores": scores,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-llm", action="store_true", help="template writer only")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    data_dir = args.data_dir or Path(
        os.environ.get("STOCKOPS_TEST_DATA_DIR") or REPO_ROOT.parent / "shared" / "data" / "ohlcv"
    )
    figures: dict[str, Any] = {
        "cores": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "runs": args.runs,
    }
    with tempfile.TemporaryDirectory(prefix="analysis-latency-") as tmp:
        home = Path(tmp) / "home"
        os.environ["STOCKOPS_HOME"] = str(home)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        train(home, data_dir)
        figures["template"] = measure_writer(home, data_dir, args.runs, llm_endpoint=None)
        if not args.no_llm:
            process, url, ready = start_llm(Path(tmp) / "llama.log")
            try:
                figures["llm_server_ready_seconds"] = round(ready, 2)
                figures["llm"] = measure_writer(
                    home, data_dir, args.runs, llm_endpoint=url, llm_model="smollm2", llm_max_tokens=600,
                    llm_timeout_seconds=300, max_revisions=1,
                )  # fmt: skip
            finally:
                process.terminate()
                process.wait(timeout=30)
    figures["load_average_after"] = os.getloadavg()
    print(f"cores {figures['cores']}, load before {figures['load_average_before']}")
    for name in ("template", "llm"):
        if name in figures:
            f = figures[name]
            print(
                f"{f['generator']:>14}: first {f['first']:.2f}s, cold (graph) median {f['cold']:.2f}s "
                f"{f['cold_runs']}, cached {f['cached'] * 1000:.0f} ms, CLI cached {f['cli_cached']:.2f}s, "
                f"writer rounds {f['writer_rounds']}, critic scores {f['critic_scores']}"
            )
    if "llm_server_ready_seconds" in figures:
        print(f"llama.cpp server ready in {figures['llm_server_ready_seconds']:.1f}s")
    print(f"load after {figures['load_average_after']}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
