"""A model bundle's on-disk format, without torch: file names, the feature spec, JSON helpers, and how
the stored lambdas and interval offsets turn the network's raw forecast into the served one.

Both readers of a bundle use it: :class:`stockops.model.bundle.ModelBundle` (torch; training, evaluation,
the predictor) and :class:`stockops.model.forecast_bundle.ForecastBundle` (numpy; one-shot CLI
commands), so the two cannot drift apart on what a bundle means.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

BUNDLE_FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.pt"  # the served weights (refitted on all data when refit_end is set)
EVAL_WEIGHTS_FILE = "eval_weights.pt"  # the evaluation weights, fitted before the test part (refit only)
MEMBERS_FILE = "members.pt"  # seed ensembles: the other members' served state_dicts (a list)
EVAL_MEMBERS_FILE = "eval_members.pt"  # ... and their evaluation state_dicts (refit only)
SCALER_FILE = "scaler.json"
FEATURE_SPEC_FILE = "feature_spec.json"
BUNDLE_FILE = "bundle.json"
DATA_RANGE_FIELDS = ("train_end", "val_end", "test_end", "refit_end", "eval_weights_end")
TARGET_DESCRIPTION = "cumulative log return ln(close[t+k] / close[t]) for k = 1..horizon_days"


class BundleError(Exception):
    """A model bundle is missing, incomplete, corrupt or inconsistent; the message names the file."""


@dataclass(frozen=True)
class FeatureSpec:
    """What the model consumes: which feature columns (in order), of which feature-set version, and the
    window shape. Two models are interchangeable inputs-wise exactly when their specs are equal."""

    columns: tuple[str, ...]
    version: str
    context_days: int
    horizon_days: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        if not self.columns:
            raise ValueError("feature spec needs at least one column")
        if len(set(self.columns)) != len(self.columns):
            raise ValueError(f"feature spec columns must be unique, got {self.columns}")
        if self.context_days < 1 or self.horizon_days < 1:
            raise ValueError(
                f"context_days and horizon_days must be >= 1, got {self.context_days}, {self.horizon_days}"
            )

    @property
    def n_features(self) -> int:
        return len(self.columns)

    def differences(self, other: FeatureSpec) -> list[str]:
        """Human-readable differences, e.g. ``["context_days: 60 != 30"]``; empty when equal."""
        diffs = []
        for name in ("columns", "version", "context_days", "horizon_days"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                if name == "columns":
                    missing = [c for c in mine if c not in theirs]
                    extra = [c for c in theirs if c not in mine]
                    detail = (
                        f"only in first {missing}, only in second {extra}" if missing or extra else "order"
                    )
                    diffs.append(f"columns differ ({detail}): {list(mine)} != {list(theirs)}")
                else:
                    diffs.append(f"{name}: {mine!r} != {theirs!r}")
        return diffs

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "version": self.version,
            "context_days": self.context_days,
            "horizon_days": self.horizon_days,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        try:
            return cls(
                columns=tuple(str(c) for c in data["columns"]),
                version=str(data["version"]),
                context_days=int(data["context_days"]),
                horizon_days=int(data["horizon_days"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(
                f"feature spec needs columns, version, context_days, horizon_days: {exc!r}"
            ) from exc


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def atomic_write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BundleError(f"model bundle is missing {path.name} (expected at {path})")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"model bundle file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BundleError(f"model bundle file {path} must hold a JSON object, got {type(data).__name__}")
    return data


def optional_date(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(str(value))


def interval_offsets_from_json(value: Any) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    if value is None:
        return None
    low, high = value
    return tuple(float(v) for v in low), tuple(float(v) for v in high)


def iso_date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def shrunk(raw_log_returns: np.ndarray, shrinkage: tuple[float, ...] | None) -> np.ndarray:
    """The served forecast ``lambda_k * raw_k`` (``raw`` unchanged when the bundle has no lambdas)."""
    if shrinkage is None:
        return raw_log_returns
    return raw_log_returns * np.asarray(shrinkage, dtype=np.float64)[None, :]


def interval_bounds(
    point: np.ndarray, offsets: tuple[tuple[float, ...], tuple[float, ...]] | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(low, high)`` 10 % / 90 % bounds around ``point`` (the shrunk forecast, ``(n, k <= horizon)``
    steps from the first); None when the bundle has no interval."""
    if offsets is None:
        return None
    point = np.asarray(point, np.float64)
    steps = point.shape[-1]
    return point + np.asarray(offsets[0][:steps]), point + np.asarray(offsets[1][:steps])


def all_shrunk_to_zero(shrinkage: tuple[float, ...] | None) -> bool:
    """True when every step is shrunk to 0: the bundle forecasts exactly the random walk."""
    return shrinkage is not None and all(v == 0.0 for v in shrinkage)
