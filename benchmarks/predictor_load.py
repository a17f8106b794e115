"""Load benchmark of the predictor on loopback: requests/s and p50/p99 latency for cache hits and misses.

    .venv/bin/python benchmarks/predictor_load.py [--ohlcv-dir DIR] [--hit-requests N] [--miss-requests N]
    .venv/bin/python benchmarks/predictor_load.py --url URL --model NAME --window-file WINDOW.json

Without ``--url`` it builds everything itself in a temp directory: a model of the default architecture
(2x64 LSTM, 60 days in, 5 out; trained one epoch on AAPL since 2019: weights do not change latency)
registered in a local SQLite MLflow store, a redis-server on a free port, and
``python -m stockops.predictor`` with the Redis cache. Then it runs, each with a bounded request count:

- ``hit``  : ``{"instances": [{"days": 5}]}`` repeated (answered from the cache after the first request:
  the in-process tier, or Redis with ``--local-cache-seconds 0``);
- ``miss`` : an explicit 60x12 window with a different ``last_close`` per request, so every request
  misses the cache: parse + validate the window, run the network, write Redis. Closed loop at a few
  concurrencies, and open loop at fixed arrival rates ("moderate load": latency counted from each
  request's due time, so queueing is included).

The load generator is a closed loop of C keep-alive HTTP/1.1 connections written on raw asyncio streams
(cheaper per request than an HTTP client library, so more of the two cores is left to the server).
It shares the machine with the server: figures are for server + client on the same cores. Besides the
client-side latency it prints the server's own model-side time per request (from /metrics), so the
difference shows what the HTTP stack (uvicorn, FastAPI, KServe) costs, and the CPU time per request of
the server process and of the client (from /proc and `time.process_time`), which says whether the two
cores, not the server, are the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL = "stockops-aapl"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"process exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} not ready after {timeout:.0f}s")


def register_model(home: Path, ohlcv_dir: Path) -> tuple[np.ndarray, str, float]:
    """Train one epoch through the real pipeline, publish as production in the local store (which also
    ingests AAPL into the feature store); returns the latest window, its date and close."""
    from stockops.config import Settings
    from stockops.data.features import MODEL_FEATURES
    from stockops.feature_access import forecast_window
    from stockops.model.config import ModelConfig, TrainingConfig
    from stockops.pipeline import TrainRequest, train_and_register

    source = f"csv:{ohlcv_dir}"
    settings = Settings(home=home, data_source=source)
    config = ModelConfig()
    request = TrainRequest(
        ticker="AAPL",
        kind="parent",
        source=source,
        start=date(2019, 1, 1),
        model=config,
        training=TrainingConfig(epochs=1, num_threads=2),
        min_skill=-100.0,
    )
    train_and_register(request, settings, output_dir=home / "outputs")
    found = forecast_window("AAPL", tuple(MODEL_FEATURES), config.context_days, settings)
    return np.asarray(found.window, dtype=np.float64), found.as_of.isoformat(), float(found.last_close)


def http_request(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


class Connection:
    """One keep-alive HTTP/1.1 connection that sends a request and reads the whole response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def call(self, request: bytes) -> str | None:
        """Send, read the answer; returns an error line unless the status is 200."""
        self.writer.write(request)
        header = await self.reader.readuntil(b"\r\n\r\n")
        match = _LENGTH.search(header)
        body = await self.reader.readexactly(int(match.group(1))) if match else b""
        if header.startswith(b"HTTP/1.1 200"):
            return None
        return header.split(b"\r\n", 1)[0].decode() + " " + body[:200].decode(errors="replace")

    def close(self) -> None:
        self.writer.close()


async def closed_loop(
    host: str, port: int, requests: list[bytes], concurrency: int, latencies: list[float], errors: list[str]
) -> None:
    """``concurrency`` connections, each sending its next request as soon as the previous one answered."""

    async def run(chunk: list[bytes]) -> None:
        conn = await Connection.open(host, port)
        try:
            for request in chunk:
                started = time.perf_counter()
                error = await conn.call(request)
                latencies.append(time.perf_counter() - started)
                if error:
                    errors.append(error)
        finally:
            conn.close()

    await asyncio.gather(*(run(requests[i::concurrency]) for i in range(concurrency)))


async def open_loop(
    host: str, port: int, requests: list[bytes], rate: float, latencies: list[float], errors: list[str]
) -> None:
    """Request i is due at ``i / rate`` seconds whatever happened before (arrivals do not wait for the
    server); latency counts from the due time, so queueing behind slow answers is measured, not hidden."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(16):
        pool.put_nowait(await Connection.open(host, port))
    start = time.perf_counter()

    async def one(index: int, request: bytes) -> None:
        due = start + index / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        conn = await pool.get()
        try:
            error = await conn.call(request)
        finally:
            pool.put_nowait(conn)
        latencies.append(time.perf_counter() - due)
        if error:
            errors.append(error)

    await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
    while not pool.empty():
        pool.get_nowait().close()


def process_cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (Linux /proc); 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    name: str
    load: str
    requests: int
    seconds: float
    latencies: np.ndarray
    errors: list[str]
    model_ms: float
    server_cpu_ms: float
    client_cpu_ms: float
    hit_ratio: float

    def line(self) -> str:
        p50, p99 = np.percentile(self.latencies, [50, 99]) * 1000
        rate = self.requests / self.seconds
        return (
            f"{self.name:<5} {self.load:<9} n={self.requests:<5} {rate:6.0f} req/s  p50 {p50:6.2f} ms  "
            f"p99 {p99:6.2f} ms | per request: model-side {self.model_ms:4.2f} ms, server CPU "
            f"{self.server_cpu_ms:4.2f} ms, client CPU {self.client_cpu_ms:4.2f} ms | cache hits "
            f"{self.hit_ratio:4.0%} errors {len(self.errors)}"
        )


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    wanted = {
        "seconds": 'stockops_predictor_request_seconds_sum{outcome="ok",protocol="v1"}',
        "count": 'stockops_predictor_request_seconds_count{outcome="ok",protocol="v1"}',
        "hits": 'stockops_predictor_cache_lookups_total{result="hit"}',
        "local": "stockops_predictor_cache_local_hits_total",
        "misses": 'stockops_predictor_cache_lookups_total{result="miss"}',
    }
    values = {key: 0.0 for key in wanted}
    for line in text.splitlines():
        for key, prefix in wanted.items():
            if line.startswith(prefix + " "):
                values[key] = float(line.rsplit(" ", 1)[1])
    return values


def run_scenario(
    name: str,
    url: str,
    requests: list[bytes],
    *,
    concurrency: int = 1,
    rate: float | None = None,
    server_pid: int | None = None,
) -> Result:
    """Closed loop at ``concurrency``, or open loop at ``rate`` requests/s when given."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    latencies: list[float] = []
    errors: list[str] = []
    before = scrape(url)
    server_cpu, client_cpu = process_cpu_seconds(server_pid), time.process_time()
    started = time.perf_counter()
    if rate is None:
        asyncio.run(closed_loop(host, int(port), requests, concurrency, latencies, errors))
    else:
        asyncio.run(open_loop(host, int(port), requests, rate, latencies, errors))
    seconds = time.perf_counter() - started
    server_cpu = process_cpu_seconds(server_pid) - server_cpu
    client_cpu = time.process_time() - client_cpu
    after = scrape(url)
    count = max(after["count"] - before["count"], 1.0)
    hits = (after["hits"] - before["hits"]) + (after["local"] - before["local"])
    lookups = hits + (after["misses"] - before["misses"])
    n = len(requests)
    return Result(
        name=name,
        load=f"c={concurrency}" if rate is None else f"{rate:g}/s",
        requests=n,
        seconds=seconds,
        latencies=np.asarray(latencies),
        errors=errors,
        model_ms=(after["seconds"] - before["seconds"]) / count * 1000,
        server_cpu_ms=server_cpu / n * 1000,
        client_cpu_ms=client_cpu / n * 1000,
        hit_ratio=hits / lookups if lookups else 0.0,
    )


def miss_requests(path: str, window: np.ndarray, as_of: str, last_close: float, n: int) -> list[bytes]:
    rows = np.round(window, 8).tolist()
    out = []
    for i in range(n):
        instance = {"window": rows, "as_of": as_of, "last_close": round(last_close + 1e-4 * (i + 1), 6)}
        out.append(http_request(path, json.dumps({"instances": [instance]}).encode()))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = os.environ.get(
        "STOCKOPS_TEST_DATA_DIR", str(REPO_ROOT.parent / "shared" / "data" / "ohlcv")
    )
    parser.add_argument("--ohlcv-dir", type=Path, default=Path(default_data))
    parser.add_argument("--hit-requests", type=int, default=4000)
    parser.add_argument("--miss-requests", type=int, default=1000)
    parser.add_argument("--hit-concurrency", type=int, nargs="+", default=[1, 8], help="closed-loop runs")
    parser.add_argument("--miss-concurrency", type=int, nargs="+", default=[1, 4], help="closed-loop runs")
    parser.add_argument(
        "--miss-rate", type=float, nargs="*", default=[50.0, 100.0], help="open-loop runs (requests/s)"
    )
    parser.add_argument(
        "--local-cache-seconds", help="STOCKOPS_LOCAL_CACHE_SECONDS for the started predictor (0: Redis only)"
    )
    parser.add_argument("--url", help="benchmark a running predictor instead of starting one")
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--window-file", type=Path, help="with --url: JSON {window, as_of, last_close}")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="stockops-bench-"))
    processes: list[subprocess.Popen] = []
    server_pid: int | None = None
    try:
        if args.url:
            url = args.url.rstrip("/")
            if args.window_file is None:
                raise SystemExit("--url needs --window-file with the window to send for misses")
            sent = json.loads(args.window_file.read_text())
            window, as_of, last_close = np.asarray(sent["window"]), sent["as_of"], float(sent["last_close"])
        else:
            print("registering a default-size model (one epoch) in a local store ...", flush=True)
            window, as_of, last_close = register_model(workdir / "home", args.ohlcv_dir)
            redis_port = free_port()
            redis_binary = shutil.which("redis-server") or "/usr/bin/redis-server"
            processes.append(
                subprocess.Popen(
                    [redis_binary, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--dir", str(workdir)],
                    stdout=subprocess.DEVNULL,
                )
            )  # fmt: skip
            port = free_port()
            env = {
                **os.environ,
                "STOCKOPS_HOME": str(workdir / "home"),
                "STOCKOPS_DATA_SOURCE": f"csv:{args.ohlcv_dir}",
                "STOCKOPS_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                "PORT": str(port),
            }
            env.pop("MLFLOW_TRACKING_URI", None)
            if args.local_cache_seconds is not None:
                env["STOCKOPS_LOCAL_CACHE_SECONDS"] = args.local_cache_seconds
            log = (workdir / "predictor.log").open("wb")
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "stockops.predictor", "--model-name", args.model],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            url = f"http://127.0.0.1:{port}"
            server_pid = processes[-1].pid
            print("starting the predictor ...", flush=True)
            wait_for(f"{url}/v1/models/{args.model}", 300, processes[-1])

        path = f"/v1/models/{args.model}:predict"
        hit = http_request(path, b'{"instances": [{"days": 5}]}')
        run_scenario("warm", url, [hit] * 50 + miss_requests(path, window, as_of, last_close + 1, 50))
        results = []
        for concurrency in args.hit_concurrency:
            results.append(
                run_scenario(
                    "hit", url, [hit] * args.hit_requests, concurrency=concurrency, server_pid=server_pid
                )
            )
        loads: list[dict[str, float]] = [{"concurrency": c} for c in args.miss_concurrency]
        loads += [{"rate": r} for r in args.miss_rate]
        for i, load in enumerate(loads):
            base = last_close + 10 * (i + 2)  # distinct per run: every request is a new key
            requests = miss_requests(path, window, as_of, base, args.miss_requests)
            results.append(
                run_scenario(
                    "miss",
                    url,
                    requests,
                    concurrency=int(load.get("concurrency", 1)),
                    rate=load.get("rate"),
                    server_pid=server_pid,
                )
            )
        load = os.getloadavg()
        print(f"\npredictor {url} model {args.model}; {os.cpu_count()} CPUs, load average {load[0]:.1f}")
        for result in results:
            print(result.line())
            for error in result.errors[:3]:
                print(f"    error: {error}")
        return 1 if any(r.errors for r in results) else 0
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
