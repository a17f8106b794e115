"""The one training orchestration (CLI, trainer and benchmarks all call :func:`run_experiment`).

Steps, each in its own module: windows -> chronological split with purging gaps -> scalers fitted on the
train part only (the target scaler scale-only, so 0 means the random walk) -> network (fresh, or
transferred from a parent bundle) -> fit with early stopping on the EARLIER half of the validation part ->
shrinkage lambdas per step fitted on the LATER half (after a purging gap; early stopping never looked
at it, :func:`stockops.model.splits.split_validation`) -> forecast the test part through the finished
bundle (the exact path serving uses) -> metrics in price units beside the random walks. A child's
scalers are fitted on the child's own train split: the parent contributes weights, never statistics of
another ticker's prices.

Pure of MLflow and of files: logging, registering and plotting are the caller's business.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from stockops.model.bundle import TARGET_DESCRIPTION, FeatureSpec, ModelBundle
from stockops.model.config import ModelConfig, TrainingConfig, TransferConfig
from stockops.model.evaluation import EvaluationReport, SplitPredictions, evaluate
from stockops.model.intervals import ewma_volatility, residual_offsets
from stockops.model.network import LSTMForecaster
from stockops.model.pooling import PooledPart, PoolError, pooled_part, with_pool
from stockops.model.scaling import StandardScaler
from stockops.model.shrinkage import ShrinkageFit, fit_shrinkage
from stockops.model.splits import Split, chronological_split, split_validation
from stockops.model.training import (
    Anchor,
    EpochStats,
    FitResult,
    fit,
    reference_losses,
    refit,
    seed_everything,
)
from stockops.model.transfer import check_parent_overlap, prepare_transfer
from stockops.model.windows import Windows, make_windows

__all__ = [
    "ExperimentDataError",
    "ExperimentResult",
    "PartSummary",
    "SplitPredictions",
    "SplitSummary",
    "TestSet",
    "run_experiment",
]


# Below this many training windows a model cannot learn anything and the val/test parts (a few
# windows each) cannot measure it; refuse instead of reporting noise.
MIN_TRAIN_WINDOWS = 64


class ExperimentDataError(ValueError):
    """The feature frame cannot be trained on (missing columns, gaps, too little history)."""


class PartSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    size: int
    first_anchor: date
    last_anchor: date
    first_target: date
    last_target: date


class SplitSummary(BaseModel):
    """Date ranges and sizes of train/val/test (anchors = forecast origins; targets = forecast days)."""

    model_config = ConfigDict(frozen=True)

    train: PartSummary
    val: PartSummary
    test: PartSummary
    gap_windows: int
    total_windows: int
    early_stopping: PartSummary | None = None  # the earlier validation windows (early stopping)
    calibration: PartSummary | None = None  # the later validation windows (lambdas, intervals)


@dataclass(frozen=True, eq=False)
class TestSet:
    """The test part's raw inputs, so another version can be scored on exactly the same days."""

    x: np.ndarray  # (n, context, f) raw features
    y: np.ndarray  # (n, horizon) true cumulative log returns
    predicted: np.ndarray  # (n, horizon) the evaluation weights' shrunk forecast (never the refit's)
    last_close: np.ndarray  # (n,)
    anchor_dates: pd.DatetimeIndex  # (n,)
    target_dates: np.ndarray  # (n, horizon) datetime64


@dataclass(frozen=True)
class ExperimentResult:
    bundle: ModelBundle
    report: EvaluationReport  # TEST split only
    fit: FitResult
    test_predictions: SplitPredictions
    split: SplitSummary
    shrinkage: ShrinkageFit | None = None  # None when disabled
    train_drift: float = 0.0  # mean daily log return of the training targets (the drift baseline)
    test_set: TestSet | None = None
    parent_cutoff: date | None = None  # last day the parent's evaluation weights saw (children)
    # validation loss (MSE of scaled targets, as in fit.history) of forecasts that learned nothing:
    # "random_walk" predicts 0, "drift" the train part's mean target per step (stockops.model.training)
    reference_val_losses: dict[str, float] | None = None
    member_fits: tuple[FitResult, ...] = ()  # every seed-ensemble member's fit (``fit`` is the first's)


def _check_frame(features: pd.DataFrame, feature_columns: Sequence[str], ticker: str) -> None:
    where = f"feature frame for {ticker}"
    if not isinstance(features.index, pd.DatetimeIndex):
        raise ExperimentDataError(
            f"{where} must be indexed by date (DatetimeIndex), got {type(features.index).__name__}"
        )
    if not features.index.is_monotonic_increasing or not features.index.is_unique:
        raise ExperimentDataError(f"{where} must have unique dates in ascending order")
    if not feature_columns:
        raise ExperimentDataError(f"{where}: feature_columns is empty")
    missing = [c for c in ("close", *feature_columns) if c not in features.columns]
    if missing:
        raise ExperimentDataError(f"{where} lacks columns {missing}; it has {list(features.columns)}")
    for column in ("close", *feature_columns):
        values = features[column].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            first = features.index[int(np.argmax(bad))].date()
            raise ExperimentDataError(
                f"{where}: column {column!r} has {int(bad.sum())} missing/non-finite values "
                f"(first on {first})"
            )
    if (features["close"] <= 0).any():
        first = features.index[int(np.argmax((features["close"] <= 0).to_numpy()))].date()
        raise ExperimentDataError(f"{where}: close must be positive (first non-positive on {first})")


def _part_summary(part: range, windows: Windows, index: pd.DatetimeIndex, horizon: int) -> PartSummary:
    first, last = int(windows.anchor[part.start]), int(windows.anchor[part.stop - 1])
    return PartSummary(
        size=len(part),
        first_anchor=index[first].date(),
        last_anchor=index[last].date(),
        first_target=index[first + 1].date(),
        last_target=index[last + horizon].date(),
    )


def _split_summary(
    split: Split, windows: Windows, index: pd.DatetimeIndex, horizon: int, early: range, calibration: range
) -> SplitSummary:
    return SplitSummary(
        train=_part_summary(split.train, windows, index, horizon),
        val=_part_summary(split.val, windows, index, horizon),
        test=_part_summary(split.test, windows, index, horizon),
        gap_windows=horizon,
        total_windows=len(windows),
        early_stopping=_part_summary(early, windows, index, horizon),
        calibration=_part_summary(calibration, windows, index, horizon),
    )


def _default_feature_version() -> str:
    from stockops.data.features import FEATURE_SET_VERSION

    return FEATURE_SET_VERSION


def _member_config(train_cfg: TrainingConfig, member: int) -> TrainingConfig:
    """Member ``k`` of a seed ensemble trains exactly as a single model would with seed ``seed + k``."""
    return train_cfg if member == 0 else train_cfg.model_copy(update={"seed": train_cfg.seed + member})


def _anchor(network: LSTMForecaster, transfer: TransferConfig | None) -> Anchor | None:
    """The L2-SP anchor (the parent's weights the child starts from) when the transfer asks for one."""
    if transfer is None or transfer.l2_sp <= 0:
        return None
    return Anchor.of(network, transfer.l2_sp)


def _refit_for_serving(
    bundle: ModelBundle,
    windows: Windows,
    part: Callable[[range], tuple[np.ndarray, np.ndarray]],
    train_cfg: TrainingConfig,
    member_fits: Sequence[FitResult],
    *,
    pooled: Sequence[PooledPart],
    parent: ModelBundle | None,
    transfer: TransferConfig | None,
    spec: FeatureSpec,
    model_cfg: ModelConfig,
    device: str | None,
) -> None:
    """Refit the served weights on every window (targets up to the last session of the frame).

    Epoch count and learning-rate schedule are those early stopping chose on the evaluation run; the
    lambdas, interval offsets and scalers stay (fitted on data the evaluation weights never trained on;
    the scalers being the train part's, both weight sets read the same inputs). A child starts from the
    parent's served weights. Each ensemble member is refitted with its own seed and schedule. The
    evaluation weights are kept as ``eval_state_dict`` / ``eval_extra_members``.
    """
    served = []
    for member, evaluation_fit in enumerate(member_fits):
        rates = [stats.lr for stats in evaluation_fit.history[: max(1, evaluation_fit.best_epoch)]]
        member_cfg = _member_config(train_cfg, member)
        seed_everything(member_cfg.seed)
        if parent is not None and transfer is not None:
            network = prepare_transfer(parent, transfer.strategy, spec, model_cfg, member=member)
        else:
            network = LSTMForecaster(spec.n_features, model_cfg)
        refit(
            network,
            with_pool(part(range(0, len(windows))), pooled, "refit"),
            member_cfg,
            rates,
            device=device,
            anchor=_anchor(network, transfer),
        )
        served.append(network.state_dict())
    bundle.eval_state_dict, bundle.eval_extra_members = bundle.state_dict, bundle.extra_members
    bundle.set_served_members(served)


def run_experiment(
    features: pd.DataFrame,
    *,
    ticker: str,
    feature_columns: Sequence[str],
    model_cfg: ModelConfig | None = None,
    train_cfg: TrainingConfig | None = None,
    parent: ModelBundle | None = None,
    transfer: TransferConfig | None = None,
    synthetic: bool,
    feature_version: str | None = None,
    parent_version: str | None = None,
    device: str | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
    progress: bool = False,
    test_windows: int | None = None,
    pool: Mapping[str, pd.DataFrame] | None = None,
) -> ExperimentResult:
    """Train (or transfer) and evaluate one model on ``features`` (index date, ``close`` + feature columns).

    ``model_cfg`` defaults to :class:`ModelConfig` for a parent and to the parent's config for a child
    (a child's config may only change dropout). ``transfer`` defaults to fine-tuning when a ``parent`` is
    given. ``feature_version`` defaults to :data:`stockops.data.features.FEATURE_SET_VERSION`.
    ``parent_version`` (the parent's registry version) is recorded in the child's bundle for lineage.
    ``test_windows`` fixes the size of the test part (the last windows) instead of
    ``train_cfg.test_fraction``: a walk-forward fold (:mod:`stockops.model.walk_forward`) tests on its block.
    ``pool`` (ticker -> feature frame, parents only) adds those tickers' windows to the training part, up
    to this frame's training cut-off (:mod:`stockops.model.pooling`); evaluation stays on ``features``.
    """
    train_cfg = train_cfg or TrainingConfig()
    if pool and parent is not None:
        raise ValueError("only a parent can be pooled over other tickers (a child transfers from one)")
    if transfer is not None and parent is None:
        raise ValueError("a transfer config was given without a parent bundle")
    if parent is not None:
        transfer = transfer or TransferConfig()
        model_cfg = model_cfg or parent.model_config
    model_cfg = model_cfg or ModelConfig()
    columns = tuple(feature_columns)
    _check_frame(features, columns, ticker)
    context, horizon = model_cfg.context_days, model_cfg.horizon_days

    closes = features["close"].to_numpy(dtype=np.float64)
    try:
        windows = make_windows(features[list(columns)].to_numpy(dtype=np.float64), closes, context, horizon)
        split = chronological_split(
            len(windows),
            horizon,
            train_cfg.val_fraction,
            train_cfg.test_fraction,
            min_train=MIN_TRAIN_WINDOWS,
            n_test=test_windows,
        )
        early_val, calibration = split_validation(split.val, horizon)
    except ValueError as exc:
        raise ExperimentDataError(f"{ticker}: {exc}") from exc

    # Scalers see only what the train windows see: feature rows up to the last train anchor, train targets.
    last_train_row = int(windows.anchor[split.train.stop - 1])
    feature_scaler = StandardScaler.fit(
        features[list(columns)].to_numpy(dtype=np.float64)[: last_train_row + 1]
    )
    target_scaler = StandardScaler.fit(windows.y[split.train.start : split.train.stop], center=False)

    def part(r: range) -> tuple[np.ndarray, np.ndarray]:
        return (
            feature_scaler.transform(windows.x[r.start : r.stop]),
            target_scaler.transform(windows.y[r.start : r.stop]),
        )

    spec = FeatureSpec(
        columns=columns,
        version=feature_version or _default_feature_version(),
        context_days=context,
        horizon_days=horizon,
    )
    summary = _split_summary(split, windows, features.index, horizon, early_val, calibration)
    try:
        pooled = [
            pooled_part(name, frame, columns, context, horizon, summary.train.last_target)
            for name, frame in (pool or {}).items()
        ]
    except PoolError as exc:
        raise ExperimentDataError(f"{ticker}: {exc}") from exc
    parent_cutoff = None
    if parent is not None and transfer is not None:
        train_cfg = train_cfg.model_copy(
            update={
                "learning_rate": transfer.effective_learning_rate(train_cfg.learning_rate),
                "epochs": transfer.epochs or train_cfg.epochs,
            }
        )
    networks: list[LSTMForecaster] = []
    member_fits: list[FitResult] = []
    for member in range(train_cfg.ensemble_members):
        member_cfg = _member_config(train_cfg, member)
        seed_everything(member_cfg.seed)  # the initial weights are part of what the seed fixes
        if parent is not None and transfer is not None:
            network = prepare_transfer(
                parent, transfer.strategy, spec, model_cfg, evaluation=True, member=member
            )
            model_cfg = network.config
            if member == 0:  # evaluated from the parent's evaluation weights: they must predate the test
                parent_cutoff = check_parent_overlap(parent, summary.test.first_target)
        else:
            network = LSTMForecaster(len(columns), model_cfg)
        member_fits.append(
            fit(
                network,
                with_pool(part(split.train), pooled, "train"),
                part(early_val),
                member_cfg,
                device=device,
                on_epoch=on_epoch,
                progress=progress,
                anchor=_anchor(network, transfer),
            )
        )
        networks.append(network)
    fit_result = member_fits[0]

    bundle = ModelBundle(
        ticker=ticker,
        model_config=model_cfg,
        feature_spec=spec,
        feature_scaler=feature_scaler,
        target_scaler=target_scaler,
        state_dict=networks[0].state_dict(),
        extra_members=tuple(n.state_dict() for n in networks[1:]),
        pool_tickers=tuple(part.ticker for part in pooled),
        synthetic=synthetic,
        parent_ticker=parent.ticker if parent is not None else None,
        parent_version=parent_version if parent is not None else None,
        transfer_strategy=transfer.strategy if transfer is not None else None,
        target=TARGET_DESCRIPTION,
        data_start=features.index[0].date(),
        data_end=features.index[-1].date(),
        training_config=train_cfg,
        train_end=summary.train.last_target,
        val_end=summary.val.last_target,
        eval_weights_end=summary.early_stopping.last_target if summary.early_stopping else None,
        test_end=summary.test.last_target,
    )
    shrinkage = None
    cal = calibration
    if train_cfg.shrinkage:
        raw_cal = bundle.predict_raw_log_returns(windows.x[cal.start : cal.stop], device=fit_result.device)
        shrinkage = fit_shrinkage(raw_cal, windows.y[cal.start : cal.stop], min_t=train_cfg.shrinkage_min_t)
        bundle.shrinkage = shrinkage.lambdas
    cal_point = bundle.predict_log_returns(windows.x[cal.start : cal.stop], device=fit_result.device)
    offsets = residual_offsets(cal_point, windows.y[cal.start : cal.stop])
    bundle.interval_offsets = (tuple(offsets[0]), tuple(offsets[1]))

    test = split.test
    x_test, y_test = windows.x[test.start : test.stop], windows.y[test.start : test.stop]
    last_close = windows.last_close[test.start : test.stop]
    anchors = windows.anchor[test.start : test.stop]
    pred = bundle.predict_log_returns(x_test, device=fit_result.device)
    anchor_dates = features.index[anchors]
    train_drift = float(np.mean(windows.y[split.train.start : split.train.stop, 0]))
    daily = np.diff(np.log(closes), prepend=np.log(closes[0]))
    sigma = ewma_volatility(daily, init_variance=float(np.mean(daily[1 : last_train_row + 1] ** 2)))
    report = evaluate(
        pred,
        y_test,
        last_close,
        anchor_dates,
        train_drift=train_drift,
        seed=train_cfg.seed,
        interval=bundle.interval_log_returns(pred),
        ewma_sigma=sigma[anchors],
    )
    if train_cfg.refit:
        _refit_for_serving(
            bundle,
            windows,
            part,
            train_cfg,
            member_fits,
            pooled=pooled,
            parent=parent,
            transfer=transfer,
            spec=spec,
            model_cfg=model_cfg,
            device=device,
        )
        bundle.refit_end = features.index[-1].date()
    target_rows = anchors[:, None] + np.arange(1, horizon + 1)[None, :]
    predictions = SplitPredictions(
        anchor_dates=anchor_dates,
        target_dates=features.index.to_numpy()[target_rows],
        last_close=last_close,
        predicted=last_close[:, None] * np.exp(pred),
        actual=last_close[:, None] * np.exp(y_test),
        low=last_close[:, None] * np.exp(pred + offsets[0][None, :]),
        high=last_close[:, None] * np.exp(pred + offsets[1][None, :]),
    )
    return ExperimentResult(
        bundle=bundle,
        report=report,
        fit=fit_result,
        member_fits=tuple(member_fits),
        test_predictions=predictions,
        split=summary,
        shrinkage=shrinkage,
        train_drift=train_drift,
        parent_cutoff=parent_cutoff,
        reference_val_losses=reference_losses(part(split.train)[1], part(early_val)[1]),
        test_set=TestSet(
            x=x_test,
            y=y_test,
            predicted=pred,
            last_close=last_close,
            anchor_dates=anchor_dates,
            target_dates=predictions.target_dates,
        ),
    )
