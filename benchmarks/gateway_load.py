"""What the gateway adds to a cached forecast: `/predict-child` next to the predictor and the in-process call.

    .venv/bin/python benchmarks/gateway_load.py [--ohlcv-dir DIR] [--requests N] [--concurrency 1 8]
                                               [--json PATH]

Builds everything in a temp directory: one model of the default architecture (2x64 LSTM, 60 days in,
5 out; one epoch on AAPL since 2019, as `predictor_load.py`: weights do not change latency) in a local
SQLite MLflow store, a redis-server on a free port, then measures, each with ``--requests`` requests per
concurrency (closed loop of keep-alive HTTP/1.1 connections on raw asyncio streams, `predictor_load`'s
load generator; client and server share the machine):

- ``in-process``: `cached_forecast_bundle` + `forecast_window` + `forecast_prices` called in this
  process (warm local caches): computing the forecast each time, no HTTP (what a forecast-cache miss
  costs the local gateway before its answer is cached);
- ``predictor``: ``python -m stockops.predictor`` (KServe V1, Redis cache + its in-process tier), a
  cache hit ``{"instances": [{"days": 5}]}``;
- ``gateway``: ``python -m stockops.gateway`` (local mode), ``POST /predict-child`` with an API key, a
  forecast-cache hit, rate limit in memory;
- ``gateway+redis``: the same with the per-key rate-limit window in Redis (one Lua call per request),
  as in a cluster.

Prints requests/s, p50 and p99 per scenario and the gateway's p50 minus the predictor's (the issue's
goal: under 2 ms added at p50 on 2 cores). Nothing is asserted; with ``--json PATH`` the figures are
written there too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from predictor_load import (  # this folder is first on sys.path when run as a script
    MODEL,
    closed_loop,
    free_port,
    process_cpu_seconds,
    register_model,
    wait_for,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def post(path: str, body: bytes, key: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{auth}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def figures(
    name: str, load: str, latencies: list[float], seconds: float, extra: dict[str, Any]
) -> dict[str, Any]:
    p50, p99 = (float(v) for v in np.percentile(np.asarray(latencies) * 1000, [50, 99]))
    return {
        "scenario": name,
        "load": load,
        "requests": len(latencies),
        "requests_per_second": len(latencies) / seconds,
        "p50_ms": p50,
        "p99_ms": p99,
        **extra,
    }


def http_scenario(
    name: str, url: str, request: bytes, n: int, concurrency: int, server_pid: int | None
) -> dict[str, Any]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    latencies: list[float] = []
    errors: list[str] = []
    asyncio.run(closed_loop(host, int(port), [request] * 20, 1, [], errors))  # warm: first answer cached
    cpu, started = process_cpu_seconds(server_pid), time.perf_counter()
    asyncio.run(closed_loop(host, int(port), [request] * n, concurrency, latencies, errors))
    seconds = time.perf_counter() - started
    server_ms = (process_cpu_seconds(server_pid) - cpu) / n * 1000
    return figures(
        name, f"c={concurrency}", latencies, seconds, {"server_cpu_ms": server_ms, "errors": errors[:3]}
    )


def in_process_scenario(home: Path, ohlcv_dir: Path, n: int) -> dict[str, Any]:
    from stockops.config import Settings
    from stockops.feature_access import forecast_window
    from stockops.model.forecasting import forecast_prices
    from stockops.registry.local_cache import cached_forecast_bundle

    settings = Settings(home=home, data_source=f"csv:{ohlcv_dir}")

    def once() -> None:
        bundle, _version = cached_forecast_bundle(settings, MODEL)
        spec = bundle.feature_spec
        latest = forecast_window("AAPL", spec.columns, spec.context_days, settings)
        forecast_prices(bundle, latest.window, latest.last_close, latest.as_of, 5)

    return timed_calls("in-process", once, n)


def timed_calls(name: str, call: Callable[[], None], n: int) -> dict[str, Any]:
    for _ in range(5):
        call()
    latencies = []
    started = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)
    return figures(name, "c=1", latencies, time.perf_counter() - started, {})


def start(command: list[str], env: dict[str, str], log: Path, ready: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    wait_for(ready, 300, process)
    return process


def main() -> int:
    from stockops.quiet import quiet_third_party

    quiet_third_party(verbose=False)  # the figures, not MLflow's and SQLAlchemy's advice
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = os.environ.get(
        "STOCKOPS_TEST_DATA_DIR", str(REPO_ROOT.parent / "shared" / "data" / "ohlcv")
    )
    parser.add_argument("--ohlcv-dir", type=Path, default=Path(default_data))
    parser.add_argument("--requests", type=int, default=3000, help="per scenario and concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from stockops.gateway.auth import add_key

    workdir = Path(tempfile.mkdtemp(prefix="stockops-gateway-bench-"))
    home = workdir / "home"
    processes: list[subprocess.Popen[bytes]] = []
    load_before = os.getloadavg()
    try:
        print("registering a default-size model (one epoch) in a local store ...", flush=True)
        register_model(home, args.ohlcv_dir)
        redis_port = free_port()
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        processes.append(
            subprocess.Popen(
                [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(redis_port),
                 "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
                stdout=subprocess.DEVNULL,
            )
        )  # fmt: skip
        base = {k: v for k, v in os.environ.items() if not k.startswith(("STOCKOPS_GATEWAY_", "MLFLOW_"))}
        base.update({"STOCKOPS_HOME": str(home), "STOCKOPS_DATA_SOURCE": f"csv:{args.ohlcv_dir}"})
        key = add_key(workdir / "keys.json", "bench", frozenset({"read"}))
        predictor_port, gateway_port, gateway_redis_port = free_port(), free_port(), free_port()

        print("starting the predictor and two gateways ...", flush=True)
        predictor = start(
            [sys.executable, "-m", "stockops.predictor", "--model-name", MODEL],
            {**base, "STOCKOPS_REDIS_URL": redis_url, "PORT": str(predictor_port)},
            workdir / "predictor.log",
            f"http://127.0.0.1:{predictor_port}/v1/models/{MODEL}",
        )
        processes.append(predictor)
        gateway_env = {
            **base,
            "STOCKOPS_GATEWAY_KEYS_FILE": str(workdir / "keys.json"),
            "STOCKOPS_GATEWAY_RATE_LIMIT_REQUESTS": "1000000",
            "STOCKOPS_GATEWAY_FORECAST_CACHE_SECONDS": "3600",
        }
        gateways = {}
        for name, port, extra in (
            ("gateway", gateway_port, {}),
            ("gateway+redis", gateway_redis_port, {"STOCKOPS_GATEWAY_REDIS_URL": redis_url}),
        ):
            process = start(
                [sys.executable, "-m", "stockops.gateway", "--port", str(port)],
                {**gateway_env, **extra},
                workdir / f"{name}.log",
                f"http://127.0.0.1:{port}/health",
            )
            processes.append(process)
            gateways[name] = (f"http://127.0.0.1:{port}", process.pid)

        results = [in_process_scenario(home, args.ohlcv_dir, args.requests)]
        predict = post(f"/v1/models/{MODEL}:predict", b'{"instances": [{"days": 5}]}')
        child = post("/predict-child", b'{"ticker": "AAPL", "days": 5}', key)
        for concurrency in args.concurrency:
            results.append(
                http_scenario(
                    "predictor",
                    f"http://127.0.0.1:{predictor_port}",
                    predict,
                    args.requests,
                    concurrency,
                    predictor.pid,
                )
            )
            for name, (url, pid) in gateways.items():
                results.append(http_scenario(name, url, child, args.requests, concurrency, pid))

        load_after = os.getloadavg()
        print(
            f"\n{os.cpu_count()} CPUs, load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; "
            f"{args.requests} requests per row"
        )
        for r in results:
            cpu = f"  server CPU {r['server_cpu_ms']:5.2f} ms/req" if "server_cpu_ms" in r else ""
            errors = f"  errors {r['errors']}" if r.get("errors") else ""
            print(
                f"{r['scenario']:<14} {r['load']:<5} {r['requests_per_second']:7.0f} req/s  "
                f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms{cpu}{errors}"
            )
        for concurrency in args.concurrency:
            by_name = {r["scenario"]: r for r in results if r["load"] == f"c={concurrency}"}
            for name in gateways:
                added = by_name[name]["p50_ms"] - by_name["predictor"]["p50_ms"]
                print(f"c={concurrency}: {name} adds {added:+.2f} ms at p50 over the predictor (goal < 2 ms)")
        if args.json:
            args.json.write_text(
                json.dumps({"results": results, "load": [load_before, load_after]}, indent=2)
            )
        return 1 if any(r.get("errors") for r in results) else 0
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
