"""`stockops serve TICKER`'s engine (`stockops.predictor.serve.serve`) on the embedded local registry:
no MLflow server, no Redis, what a user runs in the quick start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.component

SERVE = (
    "import sys; from stockops.config import load_settings; from stockops.predictor.serve import serve; "
    "serve(sys.argv[1], int(sys.argv[2]), load_settings())"
)


def serve_env(home: Path, ohlcv_dir: Path) -> dict[str, str]:
    env = {**os.environ, "STOCKOPS_HOME": str(home), "STOCKOPS_DATA_SOURCE": f"csv:{ohlcv_dir}"}
    for name in ("MLFLOW_TRACKING_URI", "STOCKOPS_MLFLOW_TRACKING_URI", "STOCKOPS_REDIS_URL"):
        env.pop(name, None)
    return env


def listening_addresses(port: int) -> set[str]:
    """IPv4 addresses with a socket listening on ``port`` (from /proc/net/tcp: hex, little-endian)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, hex_port = fields[1].split(":")
        if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def test_serve_answers_from_the_local_registry_without_redis(
    register_small_model: Any, ohlcv_dir: Path, loopback: Any, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    summary = register_small_model("MSFT", home=home)
    port = loopback.free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, "MSFT", str(port)],
            env=serve_env(home, ohlcv_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        loopback.wait_until(
            lambda: httpx.get(f"{url}/v1/models/stockops-msft", timeout=2).status_code == 200,
            timeout=240,
            what="stockops serve",
            process=process,
            log=log,
        )
        for _ in range(2):
            response = httpx.post(f"{url}/v1/models/stockops-msft:predict", json={"instances": [{"days": 3}]})
            assert response.status_code == 200, response.text
            answer = response.json()["predictions"][0]
            assert answer["ticker"] == "MSFT" and answer["model_version"] == summary.model_version
            assert answer["cached"] is False and len(answer["forecast"]) == 3
        # A laptop's server listens on loopback only (KServe alone would bind every interface).
        assert listening_addresses(port) == {"127.0.0.1"}
        text = log.read_text()
        assert "STOCKOPS_REDIS_URL is not set, so predictions are not cached" in text
        assert f"curl -s -X POST {url}/v1/models/stockops-msft:predict" in text
    finally:
        loopback.stop_process(process)


def test_serve_without_a_registered_model_fails_fast_saying_what_is_missing(
    ohlcv_dir: Path, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SERVE, "TSLA", "1"],
        env=serve_env(tmp_path / "empty-home", ohlcv_dir),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode != 0
    assert "PredictorLoadError" in result.stderr
    assert "could not load stockops-tsla@production" in result.stderr
    assert "train it first" in result.stderr
