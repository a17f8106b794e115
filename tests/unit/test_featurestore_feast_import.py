"""Importing Feast leaves the process's Prometheus metrics in-process (Feast would switch them to
multi-process files shared by every registry, and leak that mode to child processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json, os
import stockops.featurestore.definitions  # imports feast
from prometheus_client import CollectorRegistry, Counter
a, b = CollectorRegistry(), CollectorRegistry()
Counter("probe_total", "x", registry=a).inc()
second = Counter("probe_total", "x", registry=b)
print(json.dumps({
    "env": [k for k in ("PROMETHEUS_MULTIPROCESS_DIR", "PROMETHEUS_MULTIPROC_DIR") if k in os.environ],
    "second": b.get_sample_value("probe_total"),
}))
"""


def test_feast_does_not_switch_metrics_to_multiprocess_mode() -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PROMETHEUS_MULTIPROC")}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["env"] == []  # nothing leaks into child processes
    assert result["second"] == 0.0  # a second registry does not see the first one's count
