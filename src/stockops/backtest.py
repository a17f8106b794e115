"""Walk-forward backtests on the pipeline's own inputs: ``stockops backtest`` and the trainer.

Both take a :class:`stockops.pipeline.TrainRequest` (the same ticker, source, dates, model and
training config a training would use) and run :func:`stockops.model.walk_forward.run_walk_forward`
on the features the training pipeline reads (through Feast). A child's folds transfer from parents
retrained per fold on the registered parent's ticker, first day and config, so a backtest of a
TickerModel measures what its trainings do. The CLI logs its own MLflow run (kind ``backtest``); the
trainer logs into the training run, before the version is published (a failed backtest fails the
training instead of leaving a registered version the resource did not ask for).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from stockops.config import Settings
from stockops.data.features import FEATURE_SET_VERSION, MODEL_FEATURES
from stockops.feature_access import training_data
from stockops.model.config import ModelConfig, TrainingConfig, TransferConfig
from stockops.pipeline import TrainRequest, inherited_provenance
from stockops.registry import naming

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from stockops.model.backtest_summary import FoldResult, WalkForwardSummary
    from stockops.model.bundle import ModelBundle
    from stockops.model.walk_forward import ParentTraining, WalkForwardConfig

log = logging.getLogger(__name__)
FoldCallback = Callable[["FoldResult"], None]


@dataclass(frozen=True)
class BacktestOutcome:
    summary: WalkForwardSummary
    run_id: str
    data_source: str
    data_as_of: str
    data_note: str | None


def check_history(
    features: pd.DataFrame, model_cfg: ModelConfig, request: TrainRequest, config: WalkForwardConfig
) -> None:
    """Refuse a history too short for the folds before anything trains (names the rows needed)."""
    from stockops.model.walk_forward import plan_walk_forward

    plan_walk_forward(features, model_cfg, request.training, config)


def parent_training(request: TrainRequest, parent: ModelBundle, settings: Settings) -> ParentTraining:
    """How each fold's parent is trained: the registered parent's ticker, first day and configs."""
    from stockops.model.walk_forward import ParentTraining

    data = training_data(parent.ticker, request.source, settings, start=parent.data_start, end=None)
    return ParentTraining(
        ticker=parent.ticker,
        features=data.features,
        model_cfg=parent.model_config,
        train_cfg=parent.training_config or TrainingConfig(),
        transfer=request.transfer or TransferConfig(),
        synthetic=data.synthetic or bool(parent.synthetic),
    )


def walk_forward_in_run(
    client: MlflowClient,
    run_id: str,
    request: TrainRequest,
    settings: Settings,
    *,
    features: pd.DataFrame,
    model_cfg: ModelConfig,
    parent: ModelBundle | None,
    synthetic: bool,
    config: WalkForwardConfig,
    on_fold: FoldCallback | None = None,
) -> WalkForwardSummary:
    """Run the folds, logging each as it finishes and the summary at the end into ``run_id``."""
    from stockops.model.walk_forward import run_walk_forward
    from stockops.registry.backtest_logging import log_fold, log_summary

    def fold_done(fold: FoldResult) -> None:
        log_fold(client, run_id, fold)
        log.info(
            "walk-forward %s fold %d/%d: test %s..%s skill %s",
            request.ticker,
            fold.fold,
            config.folds,
            fold.test_start,
            fold.test_end,
            "n/a" if fold.skill is None else f"{fold.skill:+.4f}",
        )
        if on_fold is not None:
            on_fold(fold)

    summary = run_walk_forward(
        features,
        ticker=request.ticker,
        feature_columns=MODEL_FEATURES,
        model_cfg=model_cfg,
        train_cfg=request.training,
        config=config,
        synthetic=synthetic,
        feature_version=FEATURE_SET_VERSION,
        parent=parent_training(request, parent, settings) if parent is not None else None,
        on_fold=fold_done,
    )
    log_summary(client, run_id, summary)
    return summary


def run_backtest(
    request: TrainRequest,
    settings: Settings,
    config: WalkForwardConfig,
    *,
    on_fold: FoldCallback | None = None,
) -> BacktestOutcome:
    """``stockops backtest``: a walk-forward of ``request`` in its own MLflow run (nothing registered)."""
    from stockops.pipeline import resolve_parent
    from stockops.registry.publish import training_run
    from stockops.registry.tracking import TrackingTarget, connect

    data = training_data(request.ticker, request.source, settings, start=request.start, end=request.end)
    client = connect(TrackingTarget.from_settings(settings))
    parent, parent_label = resolve_parent(request, client)
    model_cfg = request.model or (parent.model_config if parent is not None else ModelConfig())
    check_history(data.features, model_cfg, request, config)
    synthetic, note = inherited_provenance(
        data.synthetic,
        data.note,
        parent_synthetic=bool(parent is not None and parent.synthetic),
        parent=parent_label,
    )
    tags = {
        naming.TAG_TICKER: request.ticker,
        naming.TAG_KIND: "backtest",
        naming.TAG_SYNTHETIC: str(synthetic).lower(),
        naming.TAG_DATA_SOURCE: data.data_source,
    }
    if parent_label:
        tags[naming.TAG_PARENT_MODEL], tags[naming.TAG_PARENT_VERSION] = parent_label.split("/")
    params: dict[str, Any] = {
        "ticker": request.ticker,
        "model_kind": request.kind,
        "data_source": data.data_source,
        "start": request.start,
        "end": request.end,
        "data_as_of": data.as_of,
        "feature_set_version": FEATURE_SET_VERSION,
        **{f"walk_forward.{k}": v for k, v in config.model_dump().items()},
        **{f"model.{k}": v for k, v in model_cfg.model_dump().items()},
        **{f"training.{k}": v for k, v in request.training.model_dump().items()},
    }
    if request.transfer is not None and parent is not None:
        params.update({f"transfer.{k}": v for k, v in request.transfer.model_dump().items()})
    run_name = f"backtest-{naming.registered_model_name(request.ticker)}"
    with training_run(client, run_name=run_name, params=params, tags=tags) as run_id:
        summary = walk_forward_in_run(
            client,
            run_id,
            request,
            settings,
            features=data.features,
            model_cfg=model_cfg,
            parent=parent,
            synthetic=synthetic,
            config=config,
            on_fold=on_fold,
        )
    return BacktestOutcome(
        summary=summary,
        run_id=run_id,
        data_source=data.data_source,
        data_as_of=data.as_of.isoformat(),
        data_note=note,
    )
