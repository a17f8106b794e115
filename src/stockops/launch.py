"""Process entry points run Python in optimized mode (``-O``), so Feast imports in one second, not ten.

Feast decorates its definition classes (``FeatureView``, ``Entity``, ``Field``, ...) with typeguard's
``@typechecked``, which at *import* time re-parses and recompiles each decorated module once per
method: about 240 instrumentations, 13 s of CPU on two cores, paid by every CLI call, trainer and
predictor start. typeguard documents the supported off switch: under ``python -O`` (``__debug__`` is
False) ``@typechecked`` returns its target unchanged, "a feature meant for selectively introducing type
checking into a code base where the checks aren't meant to be run in production". Feast's checks guard
definition-time mistakes in a feature repo; our definitions are fixed and covered by tests that run
without ``-O`` (pytest needs asserts), so the runtime entry points skip them.

`exec_optimized` re-executes the current module with ``PYTHONOPTIMIZE=1`` before anything heavy is
imported (one extra interpreter start, tens of milliseconds); the variable is inherited, so the
processes a command starts (the dev cluster's operator, a local trainer) are optimized too and never
re-exec. Container images set ``PYTHONOPTIMIZE=1`` themselves. ``STOCKOPS_PYTHON_DEBUG=1`` keeps the
normal mode (typeguard on, asserts on) for debugging. Optimized mode reads ``*.opt-1.pyc`` files, which
`scripts/bootstrap.sh` and the images compile at install time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

DEBUG_ENV = "STOCKOPS_PYTHON_DEBUG"


def wants_optimized(flags_optimize: int, env: Mapping[str, str]) -> bool:
    """True when this process should be re-executed in optimized mode (pure, for tests)."""
    if flags_optimize > 0:
        return False
    return env.get(DEBUG_ENV, "").strip().lower() not in ("1", "true", "yes")


def exec_optimized(module: str) -> None:
    """Replace this process by ``python -m <module> <same args>`` with ``PYTHONOPTIMIZE=1``.

    Returns only when no re-exec is wanted (already optimized, or ``STOCKOPS_PYTHON_DEBUG`` set).
    ``sys.flags.optimize`` is 1 in the new process, so it can never loop.
    """
    if not wants_optimized(sys.flags.optimize, os.environ):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    env = {**os.environ, "PYTHONOPTIMIZE": "1"}
    os.execve(sys.executable, [sys.executable, "-m", module, *sys.argv[1:]], env)


def cli() -> None:
    """The ``stockops`` console script: re-exec optimized, then the Typer app (`stockops.__main__`)."""
    exec_optimized("stockops")
    from stockops.cli.app import main

    main()
