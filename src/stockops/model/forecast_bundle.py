"""What a forecast needs from a model bundle, loadable without torch (for one-shot CLI commands).

A :class:`ForecastBundle` is the serving subset of a :class:`stockops.model.bundle.ModelBundle`: feature
spec, scalers, shrinkage lambdas, interval offsets, provenance and the served weights as numpy arrays,
run by :mod:`stockops.model.lstm_numpy`. ``stockops predict`` keeps one beside its registry cache entry
(:mod:`stockops.registry.local_cache`), written once from the full bundle on a cache miss, so a cache hit
never imports torch. Its forecasts equal the full bundle's up to float32 rounding (a parity test pins
this); the bundle artifacts in MLflow are unchanged.

Layout of its directory::

    weights.npz      the served state_dicts, "<member>/<tensor name>" -> float32 array (np.savez, no pickle)
    forecast.json    ticker, synthetic flag, feature spec, scalers, lambdas, interval offsets
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stockops.model import lstm_numpy
from stockops.model.bundle_format import (
    BundleError,
    FeatureSpec,
    all_shrunk_to_zero,
    atomic_write_json,
    interval_bounds,
    interval_offsets_from_json,
    read_json,
    shrunk,
)
from stockops.model.scaling import StandardScaler

if TYPE_CHECKING:
    from stockops.model.bundle import ModelBundle

WEIGHTS_NPZ = "weights.npz"
FORECAST_FILE = "forecast.json"  # written last: a directory with it is complete
FORECAST_FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class ForecastBundle:
    """The served model, numpy only; same forecasting interface as ``ModelBundle``."""

    ticker: str
    synthetic: bool
    feature_spec: FeatureSpec
    feature_scaler: StandardScaler
    target_scaler: StandardScaler
    members: tuple[dict[str, np.ndarray], ...]  # one per seed-ensemble member
    shrinkage: tuple[float, ...] | None = None
    interval_offsets: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    @classmethod
    def from_model_bundle(cls, bundle: ModelBundle) -> ForecastBundle:
        """The serving subset of a full bundle (its served weights, not the evaluation ones)."""
        return cls(
            ticker=bundle.ticker,
            synthetic=bundle.synthetic,
            feature_spec=bundle.feature_spec,
            feature_scaler=bundle.feature_scaler,
            target_scaler=bundle.target_scaler,
            members=tuple(
                {name: t.detach().cpu().numpy().astype(np.float32) for name, t in weights.items()}
                for weights in bundle.members
            ),
            shrinkage=bundle.shrinkage,
            interval_offsets=bundle.interval_offsets,
        )

    # -- forecasting (the interface stockops.model.forecasting uses) ---------------------------------

    def predict_raw_log_returns(self, windows: np.ndarray) -> np.ndarray:
        """``(n, context_days, n_features)`` RAW features -> ``(n, horizon_days)`` log returns, unshrunk."""
        windows = np.asarray(windows)
        expected = (self.feature_spec.context_days, self.feature_spec.n_features)
        if windows.ndim != 3 or windows.shape[1:] != expected or windows.shape[0] == 0:
            raise ValueError(
                f"windows must have shape (n >= 1, {expected[0]}, {expected[1]}) "
                f"(windows, context_days, features), got {windows.shape}"
            )
        inputs = self.feature_scaler.transform(windows)
        scaled = np.mean([lstm_numpy.forward(weights, inputs) for weights in self.members], axis=0)
        return self.target_scaler.inverse_transform(scaled)

    def predict_log_returns(self, windows: np.ndarray) -> np.ndarray:
        """The served forecast: raw log returns times the lambdas."""
        return shrunk(self.predict_raw_log_returns(windows), self.shrinkage)

    def interval_log_returns(self, point: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        return interval_bounds(point, self.interval_offsets)

    @property
    def no_edge(self) -> bool:
        return all_shrunk_to_zero(self.shrinkage)

    # -- persistence ---------------------------------------------------------------------------------

    def save(self, directory: Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{WEIGHTS_NPZ}.tmp.npz"
        arrays = {
            f"{k}/{name}": array for k, member in enumerate(self.members) for name, array in member.items()
        }
        np.savez(tmp, **arrays)
        os.replace(tmp, directory / WEIGHTS_NPZ)
        atomic_write_json(
            directory / FORECAST_FILE,
            {
                "format_version": FORECAST_FORMAT_VERSION,
                "ticker": self.ticker,
                "synthetic": self.synthetic,
                "feature_spec": self.feature_spec.to_dict(),
                "scaler": {"feature": self.feature_scaler.to_dict(), "target": self.target_scaler.to_dict()},
                "shrinkage": list(self.shrinkage) if self.shrinkage is not None else None,
                "interval_offsets": [list(side) for side in self.interval_offsets]
                if self.interval_offsets is not None
                else None,
            },
        )
        return directory

    @classmethod
    def load(cls, directory: Path) -> ForecastBundle:
        """Read what :meth:`save` wrote; :class:`BundleError` names the file at fault."""
        directory = Path(directory)
        meta_path = directory / FORECAST_FILE
        meta = read_json(meta_path)
        if meta.get("format_version") != FORECAST_FORMAT_VERSION:
            raise BundleError(f"{FORECAST_FILE} has format_version {meta.get('format_version')!r}")
        try:
            with np.load(directory / WEIGHTS_NPZ, allow_pickle=False) as stored:
                members = _split_members({name: stored[name] for name in stored.files})
        except (OSError, ValueError) as exc:
            raise BundleError(f"{WEIGHTS_NPZ} is not a readable weights archive: {exc}") from exc
        try:
            bundle = cls(
                ticker=str(meta["ticker"]),
                synthetic=bool(meta["synthetic"]),
                feature_spec=FeatureSpec.from_dict(meta["feature_spec"]),
                feature_scaler=StandardScaler.from_dict(meta["scaler"]["feature"]),
                target_scaler=StandardScaler.from_dict(meta["scaler"]["target"]),
                members=members,
                shrinkage=_floats(meta.get("shrinkage")),
                interval_offsets=interval_offsets_from_json(meta.get("interval_offsets")),
            )
            for weights in members:
                lstm_numpy.lstm_layer_count(weights)
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{FORECAST_FILE} or {WEIGHTS_NPZ} is invalid: {exc!r}") from exc
        return bundle


def _floats(value: Any) -> tuple[float, ...] | None:
    return None if value is None else tuple(float(v) for v in value)


def _split_members(stored: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], ...]:
    """``{"0/lstm.weight_ih_l0": ..., "1/...": ...}`` -> one weights dict per member, in member order."""
    members: dict[int, dict[str, np.ndarray]] = {}
    for key, array in stored.items():
        member, _, name = key.partition("/")
        if not member.isdigit() or not name:
            raise ValueError(f"unexpected array {key!r} (expected '<member>/<tensor name>')")
        members.setdefault(int(member), {})[name] = array
    if not members or sorted(members) != list(range(len(members))):
        raise ValueError(f"members must be numbered 0..n-1, got {sorted(members)}")
    return tuple(members[k] for k in range(len(members)))
