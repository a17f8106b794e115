"""Online feature-window lookup latency: what one predictor request pays to read its input.

Ingests real CSV prices for a few tickers into a fresh feature store, then times
`stockops.featurestore.online.latest_window` (one Feast `get_online_features` call plus reshaping)
against the SQLite online store and against a real Redis, printing p50/p99/mean per backend. The
Feast call alone is timed too, so the cost of our parsing is visible.

    python benchmarks/feature_lookup.py [--lookups 2000] [--redis-url redis://127.0.0.1:6379/9]

Without --redis-url it starts /usr/bin/redis-server on a free loopback port and stops it afterwards.
Prices come from STOCKOPS_TEST_DATA_DIR or ../shared/data/ohlcv next to the repository.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TICKERS = ("AAPL", "MSFT", "TSLA", "AMZN", "GOOGL", "SPY", "^GSPC")


def data_dir() -> Path:
    configured = os.environ.get("STOCKOPS_TEST_DATA_DIR")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data" / "ohlcv"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(150):
        try:
            if client.ping():
                return process, f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"redis-server on port {port} did not answer")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    rank = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def time_calls(call: Callable[[str], object], lookups: int, warmup: int) -> list[float]:
    """Milliseconds per call, cycling through the tickers; the first `warmup` calls are discarded."""
    samples: list[float] = []
    for i in range(warmup + lookups):
        ticker = TICKERS[i % len(TICKERS)]
        started = time.perf_counter()
        call(ticker)
        elapsed = (time.perf_counter() - started) * 1000
        if i >= warmup:
            samples.append(elapsed)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lookups", type=int, default=2000, help="timed lookups per backend")
    parser.add_argument("--warmup", type=int, default=50, help="untimed lookups first")
    parser.add_argument("--context-days", type=int, default=60)
    parser.add_argument("--start", default="2020-01-01", help="first price date ingested")
    parser.add_argument("--redis-url", help="an existing Redis (default: start a local redis-server)")
    args = parser.parse_args(argv)

    from stockops.data.sources import CsvSource
    from stockops.featurestore.definitions import WINDOW_VIEW
    from stockops.featurestore.ingestion import ingest_tickers, materialize
    from stockops.featurestore.online import latest_window
    from stockops.featurestore.store import open_store
    from stockops.featurestore.tables import WINDOW_FEATURES

    workdir = Path(tempfile.mkdtemp(prefix="stockops-feature-lookup-"))
    redis_process = None
    try:
        store_dir = workdir / "features"
        sqlite_store = open_store(store_dir)
        summary = ingest_tickers(
            TICKERS, CsvSource(data_dir()), sqlite_store, start=date.fromisoformat(args.start)
        )
        if not summary.ok:
            raise SystemExit(f"ingestion failed: {[str(f) for f in summary.failures]}")

        redis_url = args.redis_url
        if redis_url is None:
            redis_process, redis_url = start_redis(workdir)
        redis_store = open_store(store_dir, redis_url=redis_url)
        materialize(redis_store)

        refs = [f"{WINDOW_VIEW}:{name}" for name in WINDOW_FEATURES]
        rows: list[tuple[str, str, list[float]]] = []
        for label, store in (("sqlite", sqlite_store), ("redis", redis_store)):
            feast = store.feast

            def raw(ticker: str, feast=feast) -> object:
                return feast.get_online_features(features=refs, entity_rows=[{"ticker": ticker}]).to_dict()

            def window(ticker: str, store=store) -> object:
                return latest_window(ticker, args.context_days, store=store)

            rows.append((label, "feast get_online_features", time_calls(raw, args.lookups, args.warmup)))
            rows.append((label, "latest_window", time_calls(window, args.lookups, args.warmup)))

        print(
            f"online window lookup: {len(TICKERS)} tickers, window {args.context_days} x 12 features, "
            f"{args.lookups} timed lookups each (after {args.warmup} warm-up), "
            f"python {sys.version.split()[0]}"
        )
        print(f"{'backend':<8} {'call':<28} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'max ms':>8}")
        for label, call, samples in rows:
            print(
                f"{label:<8} {call:<28} {percentile(samples, 50):>8.3f} {percentile(samples, 99):>8.3f} "
                f"{statistics.fmean(samples):>8.3f} {max(samples):>8.3f}"
            )
    finally:
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
