"""Names shared by everything that reads or writes the model registry.

Kept in a module free of MLflow imports so the operator (which must stay light) can use them too.
"""

from __future__ import annotations

import re

EXPERIMENT_NAME = "stockops"
PRODUCTION_ALIAS = "production"

# Run tags: the operator finds a Job's run by `stockops.job_name`; the rest make runs searchable.
TAG_TICKER = "stockops.ticker"
TAG_KIND = "stockops.kind"
TAG_SYNTHETIC = "stockops.synthetic"
TAG_JOB_NAME = "stockops.job_name"
TAG_PARENT_MODEL = "stockops.parent_model"
TAG_PARENT_VERSION = "stockops.parent_version"
TAG_DATA_SOURCE = "stockops.data_source"

# Per-epoch metrics the operator reads to show progress.
METRIC_EPOCH = "epoch"
METRIC_EPOCHS = "epochs"
METRIC_PROGRESS = "progress_percent"

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def registered_model_name(ticker: str) -> str:
    """`^GSPC` -> `stockops-gspc`, `BRK.B` -> `stockops-brk-b`: a registry- and DNS-safe name."""
    slug = _NON_ALNUM.sub("-", ticker.strip().lower()).strip("-")
    if not slug:
        raise ValueError(f"ticker {ticker!r} has no letters or digits to name a model after")
    return f"stockops-{slug}"
