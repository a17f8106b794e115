"""A tiny numpy StandardScaler that serialises to JSON.

Fitted on the train part only (the caller's duty; :mod:`stockops.model.experiment` does it) and stored in
the model bundle, so serving applies exactly the statistics training saw. Statistics are per feature
(last axis) over every other axis, so the same scaler works on rows ``(T, f)`` and windows ``(n, ctx, f)``.
A constant feature gets scale 1 instead of a division by zero.

Targets are scaled with ``center=False`` (mean fixed at 0, scale = root mean square): a network output of
0 then means "no move", i.e. the random walk, instead of "the average move of the training years". With a
centred target scaler, a model that learned nothing would still forecast the training period's drift and
that drift would show up as (spurious) skill or loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

_MIN_STD = 1e-12


@dataclass(frozen=True, eq=False)
class StandardScaler:
    mean: np.ndarray  # (f,) float64
    scale: np.ndarray  # (f,) float64, > 0

    @classmethod
    def fit(cls, data: np.ndarray, *, center: bool = True) -> StandardScaler:
        """Per-feature mean and standard deviation; with ``center=False`` mean 0 and scale the root mean
        square about 0 (scale only, so 0 stays 0)."""
        data = np.asarray(data, dtype=np.float64)
        if data.ndim < 1 or data.size == 0:
            raise ValueError(f"cannot fit a scaler on an empty array of shape {data.shape}")
        flat = data.reshape(-1, data.shape[-1])
        if not np.all(np.isfinite(flat)):
            raise ValueError("cannot fit a scaler on non-finite values")
        if center:
            mean = flat.mean(axis=0)
            std = flat.std(axis=0)
        else:
            mean = np.zeros(flat.shape[1])
            std = np.sqrt(np.mean(flat**2, axis=0))
        scale = np.where(std > _MIN_STD, std, 1.0)
        return cls(mean=mean, scale=scale)

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    def _check(self, data: np.ndarray) -> np.ndarray:
        data = np.asarray(data)
        if data.ndim < 1 or data.shape[-1] != self.n_features:
            raise ValueError(
                f"scaler expects {self.n_features} values on the last axis, got shape {data.shape}"
            )
        return data

    def transform(self, data: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        data = self._check(data)
        return ((data - self.mean) / self.scale).astype(dtype, copy=False)

    def inverse_transform(self, data: np.ndarray) -> np.ndarray:
        data = self._check(data)
        return data.astype(np.float64) * self.scale + self.mean

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StandardScaler:
        try:
            mean = np.asarray(data["mean"], dtype=np.float64)
            scale = np.asarray(data["scale"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"scaler data needs numeric lists 'mean' and 'scale': {exc}") from exc
        if mean.ndim != 1 or mean.shape != scale.shape:
            raise ValueError(
                f"scaler 'mean' {mean.shape} and 'scale' {scale.shape} must be equal-length lists"
            )
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise ValueError("scaler 'mean' must be finite and 'scale' finite and positive")
        return cls(mean=mean, scale=scale)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StandardScaler):
            return NotImplemented
        return np.array_equal(self.mean, other.mean) and np.array_equal(self.scale, other.scale)
