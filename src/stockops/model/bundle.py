"""Everything needed to forecast, as one object that saves to (and loads from) a plain directory.

Layout of a bundle directory (what MLflow stores as the ``bundle/`` artifact)::

    weights.pt         torch.save(state_dict)  -- loaded with weights_only=True (no pickled code)
    scaler.json        {"feature": {mean, scale}, "target": {mean, scale}} fitted on the train split only
    feature_spec.json  {columns, version, context_days, horizon_days}
    bundle.json        model config, ticker, lineage (parent ticker/version, strategy), synthetic flag,
                       target description, data dates (train/val/test/refit ends), training config,
                       shrinkage lambdas per step, format version

The served forecast is ``lambda_k * network_k`` (see :mod:`stockops.model.shrinkage`): with the target
scaler fixed at mean 0, ``lambda = 0`` is exactly the random walk. A bundle without lambdas (written
before they existed) forecasts the raw network output.

Weights are a bare state_dict rather than a pickled module so a bundle never executes code on load and
survives refactors of the Python class. ``bundle.json`` is written last: a directory with a
``bundle.json`` is complete.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stockops.model.bundle_format import (
    BUNDLE_FILE,
    BUNDLE_FORMAT_VERSION,
    DATA_RANGE_FIELDS,
    EVAL_WEIGHTS_FILE,
    FEATURE_SPEC_FILE,
    SCALER_FILE,
    TARGET_DESCRIPTION,
    WEIGHTS_FILE,
    BundleError,
    FeatureSpec,
    all_shrunk_to_zero,
    atomic_write_json,
    interval_bounds,
    interval_offsets_from_json,
    iso_date,
    optional_date,
    read_json,
    shrunk,
)
from stockops.model.config import ModelConfig, TrainingConfig
from stockops.model.intervals import INTERVAL_QUANTILES
from stockops.model.network import LSTMForecaster
from stockops.model.scaling import StandardScaler
from stockops.model.training import predict


@dataclass(eq=False)
class ModelBundle:
    """A trained model with its scalers, feature spec and lineage.

    Build with ``ModelBundle(...)`` or :meth:`load`; forecast with :meth:`predict_log_returns` (or
    :func:`stockops.model.forecasting.forecast_prices`)."""

    ticker: str
    model_config: ModelConfig
    feature_spec: FeatureSpec
    feature_scaler: StandardScaler
    target_scaler: StandardScaler
    state_dict: dict[str, torch.Tensor]
    synthetic: bool
    parent_ticker: str | None = None
    parent_version: str | None = None
    transfer_strategy: str | None = None
    target: str = TARGET_DESCRIPTION
    data_start: date | None = None  # first feature row used
    data_end: date | None = None  # last feature row used: the "data date" of the model
    training_config: TrainingConfig | None = None
    shrinkage: tuple[float, ...] | None = None  # lambda per horizon step; None = 1 (no shrinkage)
    train_end: date | None = None  # last target day of the training part
    val_end: date | None = None  # last target day of the validation part
    test_end: date | None = None  # last target day of the test part
    refit_end: date | None = None  # last target day the served weights were refitted on (None: no refit)
    # (low, high) log-return offsets per step added to the shrunk forecast: the 10 % / 90 % quantiles of
    # the calibration residuals (stockops.model.intervals); None = no interval
    interval_offsets: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    # weights of the evaluation run when state_dict holds the serving refit (children transfer from them
    # for their own evaluation, stockops.model.transfer.check_parent_overlap); None: no refit
    eval_state_dict: dict[str, torch.Tensor] | None = None
    # last target day the evaluation weights depend on (train + early-stopping part; the calibration part
    # only sets lambdas and intervals, which a child does not inherit)
    eval_weights_end: date | None = None
    _network: LSTMForecaster | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        spec, cfg = self.feature_spec, self.model_config
        problems = []
        if (spec.context_days, spec.horizon_days) != (cfg.context_days, cfg.horizon_days):
            problems.append(
                f"feature spec window {spec.context_days}/{spec.horizon_days} != model config "
                f"{cfg.context_days}/{cfg.horizon_days} (context/horizon)"
            )
        if self.feature_scaler.n_features != spec.n_features:
            problems.append(
                f"feature scaler has {self.feature_scaler.n_features} features, spec has {spec.n_features}"
            )
        if self.target_scaler.n_features != spec.horizon_days:
            problems.append(
                f"target scaler has {self.target_scaler.n_features} steps, horizon is {spec.horizon_days}"
            )
        if self.shrinkage is not None:
            self.shrinkage = tuple(float(v) for v in self.shrinkage)
            if len(self.shrinkage) != spec.horizon_days:
                problems.append(f"{len(self.shrinkage)} shrinkage lambdas for horizon {spec.horizon_days}")
            elif not all(0.0 <= v <= 1.0 for v in self.shrinkage):
                problems.append(f"shrinkage lambdas must lie in [0, 1], got {list(self.shrinkage)}")
        if self.interval_offsets is not None:
            low, high = (tuple(float(v) for v in side) for side in self.interval_offsets)
            self.interval_offsets = (low, high)
            if len(low) != spec.horizon_days or len(high) != spec.horizon_days:
                problems.append(f"interval offsets must have {spec.horizon_days} steps per bound")
            elif any(lo > hi for lo, hi in zip(low, high, strict=True)):
                problems.append(f"interval offsets low {list(low)} above high {list(high)}")
        if problems:
            raise BundleError(f"inconsistent model bundle for {self.ticker}: " + "; ".join(problems))
        self.state_dict = {k: v.detach().to("cpu").clone() for k, v in self.state_dict.items()}
        if self.eval_state_dict is not None:
            self.eval_state_dict = {k: v.detach().to("cpu").clone() for k, v in self.eval_state_dict.items()}

    # -- the network -----------------------------------------------------------------------------

    def build_network(self) -> LSTMForecaster:
        """A fresh network with the bundle's weights, on CPU, in eval mode."""
        network = LSTMForecaster(self.feature_spec.n_features, self.model_config)
        try:
            network.load_state_dict(self.state_dict, strict=True)
        except RuntimeError as exc:
            raise BundleError(
                f"weights of the {self.ticker} bundle do not fit its model config {self.model_config}: {exc}"
            ) from exc
        return network.eval()

    def predict_log_returns(self, windows: np.ndarray, *, device: str | None = None) -> np.ndarray:
        """``windows`` ``(n, context_days, n_features)`` of RAW features (in spec column order) ->
        ``(n, horizon_days)`` cumulative log returns of close[t+k] vs close[t], shrinkage applied."""
        return shrunk(self.predict_raw_log_returns(windows, device=device), self.shrinkage)

    def predict_raw_log_returns(self, windows: np.ndarray, *, device: str | None = None) -> np.ndarray:
        """The network's forecast before shrinkage (what the lambdas are fitted on)."""
        windows = np.asarray(windows)
        expected = (self.feature_spec.context_days, self.feature_spec.n_features)
        if windows.ndim != 3 or windows.shape[1:] != expected or windows.shape[0] == 0:
            raise ValueError(
                f"windows must have shape (n >= 1, {expected[0]}, {expected[1]}) "
                f"(windows, context_days, features), got {windows.shape}"
            )
        if not np.all(np.isfinite(windows)):
            raise ValueError("windows contain non-finite feature values")
        if self._network is None:
            self._network = self.build_network()
        scaled = predict(self._network, self.feature_scaler.transform(windows), device=device)
        return self.target_scaler.inverse_transform(scaled)

    def interval_log_returns(self, point: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """``(low, high)`` 10 % / 90 % bounds around ``point`` (see `interval_bounds`)."""
        return interval_bounds(point, self.interval_offsets)

    @property
    def no_edge(self) -> bool:
        """True when every step is shrunk to 0: the bundle forecasts exactly the random walk."""
        return all_shrunk_to_zero(self.shrinkage)

    # -- persistence ----------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The ``bundle.json`` content (also handy as MLflow params/tags)."""
        return {
            "format_version": BUNDLE_FORMAT_VERSION,
            "ticker": self.ticker,
            "model_config": self.model_config.model_dump(),
            "synthetic": self.synthetic,
            "parent_ticker": self.parent_ticker,
            "parent_version": self.parent_version,
            "transfer_strategy": self.transfer_strategy,
            "target": self.target,
            "data_start": self.data_start.isoformat() if self.data_start else None,
            "data_end": self.data_end.isoformat() if self.data_end else None,
            "training_config": self.training_config.model_dump() if self.training_config else None,
            "shrinkage": list(self.shrinkage) if self.shrinkage is not None else None,
            "no_edge": self.no_edge,
            "interval_quantiles": list(INTERVAL_QUANTILES) if self.interval_offsets is not None else None,
            "interval_offsets": [list(side) for side in self.interval_offsets]
            if self.interval_offsets is not None
            else None,
            **{name: iso_date(getattr(self, name)) for name in DATA_RANGE_FIELDS},
        }

    def save(self, directory: Path) -> Path:
        """Write the four bundle files into ``directory`` (created if needed); returns the directory."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        weights_tmp = directory / f".{WEIGHTS_FILE}.tmp"
        torch.save(self.state_dict, weights_tmp)
        os.replace(weights_tmp, directory / WEIGHTS_FILE)
        if self.eval_state_dict is not None:
            eval_tmp = directory / f".{EVAL_WEIGHTS_FILE}.tmp"
            torch.save(self.eval_state_dict, eval_tmp)
            os.replace(eval_tmp, directory / EVAL_WEIGHTS_FILE)
        atomic_write_json(
            directory / SCALER_FILE,
            {"feature": self.feature_scaler.to_dict(), "target": self.target_scaler.to_dict()},
        )
        atomic_write_json(directory / FEATURE_SPEC_FILE, self.feature_spec.to_dict())
        atomic_write_json(directory / BUNDLE_FILE, self.metadata())
        return directory

    @classmethod
    def load(cls, directory: Path) -> ModelBundle:
        """Read a bundle directory; raises :class:`BundleError` naming the missing or corrupt file."""
        directory = Path(directory)
        if not directory.is_dir():
            raise BundleError(f"model bundle directory {directory} does not exist")
        meta = read_json(directory / BUNDLE_FILE)
        if meta.get("format_version") != BUNDLE_FORMAT_VERSION:
            raise BundleError(
                f"{directory / BUNDLE_FILE} has format_version {meta.get('format_version')!r}, "
                f"this stockops reads {BUNDLE_FORMAT_VERSION}"
            )
        spec_path = directory / FEATURE_SPEC_FILE
        try:
            spec = FeatureSpec.from_dict(read_json(spec_path))
        except ValueError as exc:
            raise BundleError(f"{spec_path} is invalid: {exc}") from exc
        scaler_path = directory / SCALER_FILE
        scalers = read_json(scaler_path)
        try:
            feature_scaler = StandardScaler.from_dict(scalers["feature"])
            target_scaler = StandardScaler.from_dict(scalers["target"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(
                f"{scaler_path} is invalid (needs 'feature' and 'target' scalers): {exc}"
            ) from exc
        weights_path = directory / WEIGHTS_FILE
        if not weights_path.is_file():
            raise BundleError(f"model bundle is missing {WEIGHTS_FILE} (expected at {weights_path})")
        try:
            state_dict = torch.load(weights_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a corrupt file
            raise BundleError(f"{weights_path} is not a readable torch state_dict: {exc}") from exc
        if not isinstance(state_dict, dict) or not all(
            isinstance(v, torch.Tensor) for v in state_dict.values()
        ):
            raise BundleError(f"{weights_path} must hold a state_dict (name -> tensor)")
        eval_state_dict = None
        eval_path = directory / EVAL_WEIGHTS_FILE
        if eval_path.is_file():
            try:
                eval_state_dict = torch.load(eval_path, map_location="cpu", weights_only=True)
            except Exception as exc:  # torch raises many types for a corrupt file
                raise BundleError(f"{eval_path} is not a readable torch state_dict: {exc}") from exc
        bundle_path = directory / BUNDLE_FILE
        try:
            training = meta.get("training_config")
            bundle = cls(
                ticker=str(meta["ticker"]),
                model_config=ModelConfig.model_validate(meta["model_config"]),
                feature_spec=spec,
                feature_scaler=feature_scaler,
                target_scaler=target_scaler,
                state_dict=state_dict,
                synthetic=bool(meta["synthetic"]),
                parent_ticker=meta.get("parent_ticker"),
                parent_version=meta.get("parent_version"),
                transfer_strategy=meta.get("transfer_strategy"),
                target=str(meta.get("target", TARGET_DESCRIPTION)),
                data_start=optional_date(meta.get("data_start")),
                data_end=optional_date(meta.get("data_end")),
                training_config=TrainingConfig.model_validate(training) if training else None,
                shrinkage=meta.get("shrinkage"),
                interval_offsets=interval_offsets_from_json(meta.get("interval_offsets")),
                eval_state_dict=eval_state_dict,
                **{name: optional_date(meta.get(name)) for name in DATA_RANGE_FIELDS},
            )
        except BundleError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{bundle_path} is invalid: {exc!r}") from exc
        bundle.build_network()  # fail now, naming the bundle, if weights and config disagree
        return bundle
