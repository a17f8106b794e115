"""Everything needed to forecast, as one object that saves to (and loads from) a plain directory.

Layout of a bundle directory (what MLflow stores as the ``bundle/`` artifact)::

    weights.pt         torch.save(state_dict)  -- loaded with weights_only=True (no pickled code)
    members.pt         (seed ensembles only) list of the other members' state_dicts
    eval_weights.pt, eval_members.pt   (refit only) the same for the evaluation weights
    scaler.json        {"feature": {mean, scale}, "target": {mean, scale}} fitted on the train split only
    feature_spec.json  {columns, version, context_days, horizon_days}
    bundle.json        model config, ticker, lineage (parent ticker/version, strategy), synthetic flag,
                       target description, data dates (train/val/test/refit ends), training config,
                       shrinkage lambdas per step, format version

The served forecast is ``lambda_k * network_k`` (see :mod:`stockops.model.shrinkage`), where ``network``
is the mean over the seed ensemble's members (one unless ``TrainingConfig.ensemble_members`` > 1): with
the target scaler fixed at mean 0, ``lambda = 0`` is exactly the random walk. A bundle without lambdas
(written before they existed) forecasts the raw network output.

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
    EVAL_MEMBERS_FILE,
    EVAL_WEIGHTS_FILE,
    FEATURE_SPEC_FILE,
    MEMBERS_FILE,
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
    # seed ensembles: the members after the first (state_dict / eval_state_dict), same shape each
    extra_members: tuple[dict[str, torch.Tensor], ...] = ()
    eval_extra_members: tuple[dict[str, torch.Tensor], ...] = ()
    # a pooled parent: the other tickers whose windows joined its training part (stockops.model.pooling)
    pool_tickers: tuple[str, ...] = ()
    _networks: list[LSTMForecaster] | None = field(default=None, init=False, repr=False)

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
        self.state_dict = _cpu_copy(self.state_dict)
        self.extra_members = tuple(_cpu_copy(m) for m in self.extra_members)
        if self.eval_state_dict is not None:
            self.eval_state_dict = _cpu_copy(self.eval_state_dict)
        self.eval_extra_members = tuple(_cpu_copy(m) for m in self.eval_extra_members)

    @property
    def members(self) -> tuple[dict[str, torch.Tensor], ...]:
        """The served weights of every ensemble member (one for a plain model)."""
        return (self.state_dict, *self.extra_members)

    @property
    def eval_members(self) -> tuple[dict[str, torch.Tensor], ...]:
        """The evaluation weights of every member (the served ones when there was no refit)."""
        if self.eval_state_dict is None:
            return self.members
        return (self.eval_state_dict, *self.eval_extra_members)

    def set_served_members(self, members: list[dict[str, torch.Tensor]]) -> None:
        """Replace the served weights (the serving refit); forecasts from now on use them."""
        self.state_dict, *rest = (_cpu_copy(m) for m in members)
        self.extra_members = tuple(rest)
        self._networks = None

    # -- the network -----------------------------------------------------------------------------

    def build_network(self, weights: dict[str, torch.Tensor] | None = None) -> LSTMForecaster:
        """A fresh network with ``weights`` (default: the first member's), on CPU, in eval mode."""
        network = LSTMForecaster(self.feature_spec.n_features, self.model_config)
        try:
            network.load_state_dict(self.state_dict if weights is None else weights, strict=True)
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
        if self._networks is None:
            self._networks = [self.build_network(weights) for weights in self.members]
        inputs = self.feature_scaler.transform(windows)
        scaled = np.mean([predict(network, inputs, device=device) for network in self._networks], axis=0)
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
            "ensemble_members": len(self.members),
            "pool_tickers": list(self.pool_tickers),
            "interval_quantiles": list(INTERVAL_QUANTILES) if self.interval_offsets is not None else None,
            "interval_offsets": [list(side) for side in self.interval_offsets]
            if self.interval_offsets is not None
            else None,
            **{name: iso_date(getattr(self, name)) for name in DATA_RANGE_FIELDS},
        }

    def save(self, directory: Path) -> Path:
        """Write the bundle files into ``directory`` (created if needed); returns the directory."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        _save_torch(directory / WEIGHTS_FILE, self.state_dict)
        if self.extra_members:
            _save_torch(directory / MEMBERS_FILE, list(self.extra_members))
        if self.eval_state_dict is not None:
            _save_torch(directory / EVAL_WEIGHTS_FILE, self.eval_state_dict)
            if self.eval_extra_members:
                _save_torch(directory / EVAL_MEMBERS_FILE, list(self.eval_extra_members))
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
        state_dict = _state_dict(_load_torch(weights_path), weights_path)
        eval_path = directory / EVAL_WEIGHTS_FILE
        eval_state_dict = _state_dict(_load_torch(eval_path), eval_path) if eval_path.is_file() else None
        extra_members = _member_list(directory / MEMBERS_FILE)
        eval_extra_members = _member_list(directory / EVAL_MEMBERS_FILE)
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
                extra_members=extra_members,
                pool_tickers=tuple(str(t) for t in meta.get("pool_tickers") or ()),
                eval_extra_members=eval_extra_members,
                **{name: optional_date(meta.get(name)) for name in DATA_RANGE_FIELDS},
            )
        except BundleError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{bundle_path} is invalid: {exc!r}") from exc
        for weights in (*bundle.members, *bundle.eval_members):  # fail now, naming the bundle, on a misfit
            bundle.build_network(weights)
        return bundle


def _cpu_copy(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").clone() for k, v in weights.items()}


def _save_torch(path: Path, payload: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def _load_torch(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise BundleError(f"{path} is not a readable torch state_dict: {exc}") from exc


def _state_dict(value: object, path: Path) -> dict[str, torch.Tensor]:
    if not isinstance(value, dict) or not all(isinstance(v, torch.Tensor) for v in value.values()):
        raise BundleError(f"{path} must hold a state_dict (name -> tensor)")
    return value


def _member_list(path: Path) -> tuple[dict[str, torch.Tensor], ...]:
    """The extra ensemble members stored at ``path`` (none when the file does not exist)."""
    if not path.is_file():
        return ()
    value = _load_torch(path)
    if not isinstance(value, list):
        raise BundleError(f"{path} must hold a list of state_dicts")
    return tuple(_state_dict(member, path) for member in value)
