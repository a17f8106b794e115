"""Import Feast without letting it switch the whole process's Prometheus metrics to multi-process mode.

Feast's ``feast.metrics`` module (imported by ``import feast``) sets ``PROMETHEUS_MULTIPROCESS_DIR`` and
``PROMETHEUS_MULTIPROC_DIR`` to a temporary directory when they are unset, for its own Gunicorn
workers. Imported before ``prometheus_client``, that turns every counter of the process into a
memory-mapped file value shared by all registries with the same metric name (so two operator metric
registries in one process see each other's counts), makes ``remove()`` warn, and leaks into every
child process through the environment. We serve no Feast metrics, so ``prometheus_client`` is imported
first (its value class is then fixed as in-process) and the variables Feast added are removed again.
"""

from __future__ import annotations

import os
from types import ModuleType

_FEAST_ENV = ("PROMETHEUS_MULTIPROCESS_DIR", "PROMETHEUS_MULTIPROC_DIR")


def import_feast() -> ModuleType:
    """``import feast`` with the process's metrics left in single-process mode (idempotent)."""
    import prometheus_client.values  # noqa: F401 -- fixes the value class before Feast sets the env

    before = {name: os.environ.get(name) for name in _FEAST_ENV}
    import feast

    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
    return feast
