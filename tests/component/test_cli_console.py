"""What a user sees: `stockops demo --quick` end to end in a fresh process, on real prices.

The quick demo runs the same three trainings as `make demo` (small network, recent years, two epochs)
through the embedded MLflow store and the Feast store, so every library that used to print deprecation
and advice warnings (MLflow, SQLAlchemy, dask under Feast) is exercised by the real code path.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.component


def test_quick_demo_prints_our_output_and_no_third_party_warnings(ohlcv_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "STOCKOPS_HOME": str(tmp_path / "home")}
    for name in (
        "MLFLOW_TRACKING_URI",
        "STOCKOPS_MLFLOW_TRACKING_URI",
        "STOCKOPS_REDIS_URL",
        "STOCKOPS_VERBOSE",
    ):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "stockops", "demo", "--quick", "--source", f"csv:{ohlcv_dir}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    warning_lines = [line for line in done.stderr.splitlines() if re.search("warning", line, re.IGNORECASE)]
    assert warning_lines == [], "\n".join(warning_lines)
    assert "StockOps demo" in done.stdout
    for ticker in ("^GSPC", "AAPL", "MSFT"):
        assert ticker in done.stdout
    # Provenance names the file, never the directory it was read from.
    assert str(ohlcv_dir.resolve()) not in done.stdout + done.stderr
