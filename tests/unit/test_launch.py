"""Entry points re-execute in optimized mode, which is what switches off Feast's typeguard work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stockops.launch import DEBUG_ENV, wants_optimized

PROBE = """
import sys
from typeguard import typechecked

@typechecked
def double(x: int) -> int:
    return x * 2

try:
    result = repr(double("ab"))  # a str where an int is declared
except Exception as exc:
    result = type(exc).__name__
print(sys.flags.optimize, result)
"""
LAUNCH = "import sys; from stockops.launch import exec_optimized; exec_optimized('probe'); import probe"


@pytest.mark.parametrize(
    ("optimize", "env", "expected"),
    [
        (0, {}, True),
        (1, {}, False),
        (2, {}, False),
        (0, {DEBUG_ENV: "1"}, False),
        (0, {DEBUG_ENV: "true"}, False),
        (0, {DEBUG_ENV: "0"}, True),
    ],
)
def test_only_an_unoptimized_process_without_the_debug_switch_re_executes(
    optimize: int, env: dict[str, str], expected: bool
) -> None:
    assert wants_optimized(optimize, env) is expected


def run_probe(tmp_path: Path, **extra: str) -> str:
    (tmp_path / "probe.py").write_text(PROBE)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **extra}
    env.pop("PYTHONOPTIMIZE", None)
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout.strip()


def test_the_re_executed_process_is_optimized_and_typeguard_does_not_instrument(tmp_path: Path) -> None:
    assert run_probe(tmp_path) == "1 'abab'"


def test_the_debug_switch_keeps_typeguard_checks(tmp_path: Path) -> None:
    assert run_probe(tmp_path, **{DEBUG_ENV: "1"}) == "0 TypeCheckError"
