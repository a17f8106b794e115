"""The training pipeline used by the CLI, the trainer Job and the demo: data -> features -> model ->
evaluation -> MLflow run, registry version and promotion gate.

One function per use (`train_and_register`), so the three entry points cannot drift apart.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stockops.config import Settings
from stockops.data.features import FEATURE_SET_VERSION, MODEL_FEATURES
from stockops.feature_access import training_data
from stockops.model.config import ModelConfig, TrainingConfig, TransferConfig
from stockops.registry import naming
from stockops.registry.promotion import DEFAULT_MIN_SKILL

log = logging.getLogger(__name__)

DEFAULT_START = date(2004, 1, 1)
# Baselines and uncertainty carried into the CR status beside every skill.
STATUS_BASELINE_KEYS = (
    "skill_ci_low",
    "skill_ci_high",
    "skill_vs_drift",
    "drift_rmse",
    "up_rate",
    "interval_coverage",
    "pinball",
    "ewma_coverage",
    "ewma_pinball",
)


class TrainRequest(BaseModel):
    """Everything one training needs; the trainer builds it from the CR spec, the CLI from flags."""

    model_config = ConfigDict(extra="forbid")

    ticker: str
    kind: Literal["parent", "child"]
    source: str = "auto"
    start: date | None = DEFAULT_START
    end: date | None = None
    model: ModelConfig | None = Field(default=None, description="None: defaults (parent) or the parent's.")
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    parent_ticker: str | None = None
    parent_version: str | None = Field(default=None, description="None: the parent's production alias.")
    transfer: TransferConfig | None = None
    min_skill: float = DEFAULT_MIN_SKILL
    allow_synthetic: bool = Field(
        default=True,
        description="Whether a model trained on synthetic prices may be promoted (the trainer: only when "
        "the resource sets promotion.allowSynthetic; the local CLI: yes, labelled synthetic).",
    )
    job_name: str | None = None
    walk_forward_folds: int | None = Field(
        default=None, ge=2, le=10, description="Also run a walk-forward backtest with this many folds."
    )


@dataclass
class TrainingSummary:
    """What a training produced; printed by the CLI and written as the Job's termination message."""

    ticker: str
    kind: str
    model_name: str
    model_version: str
    run_id: str
    promoted: bool
    promotion_reason: str
    production_version: str | None
    synthetic: bool
    data_source: str
    data_as_of: str
    data_note: str | None
    metrics: dict[str, Any]
    best_epoch: int
    epochs_run: int
    train_seconds: float
    parent: str | None = None
    plot_paths: dict[str, str] = field(default_factory=dict)  # chart name -> PNG (see PLOT_FILES)
    split: dict[str, Any] = field(default_factory=dict)
    backtest: dict[str, Any] | None = None  # WalkForwardSummary.compact() when the request asked for one

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def termination_message(self) -> dict[str, Any]:
        """The compact one-line JSON the operator reads (kept well under the 4 KiB kubelet limit)."""
        keep = (
            "rmse",
            "mae",
            "mape",
            "naive_rmse",
            "skill",
            "directional_accuracy",
            "directional_count",
            "n_windows",
            *STATUS_BASELINE_KEYS,
            "no_edge",
        )
        return {
            "ok": True,
            "ticker": self.ticker,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "run_id": self.run_id,
            "promoted": self.promoted,
            "promotion_reason": self.promotion_reason,
            "production_version": self.production_version,
            "synthetic": self.synthetic,
            "data_as_of": self.data_as_of,
            "data_note": self.data_note,
            "metrics": {
                **{k: self.metrics[k] for k in keep if k in self.metrics},
                "per_horizon": _compact_per_horizon(self.metrics.get("per_horizon") or []),
                "data_ranges": {k: v for k, v in (self.metrics.get("data_ranges") or {}).items() if v},
            },
            **({"backtest": self.backtest} if self.backtest else {}),
        }


# Bytes of the termination message the per-step rows may take (the whole message must stay < 4 KiB).
PER_HORIZON_BUDGET = 2300


def _compact_per_horizon(
    rows: list[dict[str, Any]], limit: int = 10, budget: int = PER_HORIZON_BUDGET
) -> list[dict[str, Any]]:
    """The per-step metrics the CR status shows, rounded, unknown ones left out and capped at ``limit``
    steps and at ``budget`` bytes of JSON, so the message stays < 4 KiB with intervals and baselines
    beside every skill (the first steps are kept: they are the ones a daily user reads)."""
    fields = (
        "step",
        "rmse",
        "naive_rmse",
        "skill",
        "directional_accuracy",
        "directional_count",
        *STATUS_BASELINE_KEYS,
        "shrinkage",
        "interval_low",
        "interval_high",
    )

    def compact(value: Any) -> Any:
        return round(value, 6) if isinstance(value, float) else value

    kept: list[dict[str, Any]] = []
    used = 2
    for r in rows[:limit]:
        row = {f: compact(r[f]) for f in fields if r.get(f) is not None}
        used += len(json.dumps(row, separators=(",", ":"))) + 1
        if used > budget:
            break
        kept.append(row)
    return kept


def resolve_parent(request: TrainRequest, client: Any) -> tuple[Any, str | None]:
    """(parent bundle, "name/version") a child request transfers from; (None, None) for a parent.

    The version is the request's, else the parent's production alias (`registry.loading`)."""
    if request.kind != "child":
        return None, None
    from stockops.registry.loading import load_bundle

    if not request.parent_ticker:
        raise ValueError(f"child model {request.ticker} needs a parent ticker")
    parent_name = naming.registered_model_name(request.parent_ticker)
    bundle, version = load_bundle(parent_name, request.parent_version, client=client)
    return bundle, f"{parent_name}/{version}"


def train_and_register(
    request: TrainRequest,
    settings: Settings,
    *,
    progress: bool = False,
    output_dir: Path | None = None,
    on_epoch: Callable[[Any], None] | None = None,
) -> TrainingSummary:
    """Fetch data, train (from scratch or from the parent), evaluate on the test split, publish.

    ``on_epoch`` is called with each epoch's stats after they are logged to the run (the local gateway
    shows progress with it)."""
    from stockops.backtest import check_history, walk_forward_in_run
    from stockops.model.experiment import run_experiment
    from stockops.monitoring.reference import reference_rows
    from stockops.registry.publish import publish, training_run
    from stockops.registry.tracking import TrackingTarget, connect, epoch_logger

    started = time.perf_counter()
    data = training_data(request.ticker, request.source, settings, start=request.start, end=request.end)
    features = data.features
    client = connect(TrackingTarget.from_settings(settings))

    parent_bundle, parent_label = resolve_parent(request, client)
    model_cfg = request.model or (parent_bundle.model_config if parent_bundle else ModelConfig())
    synthetic, data_note = inherited_provenance(
        data.synthetic,
        data.note,
        parent_synthetic=bool(parent_bundle is not None and parent_bundle.synthetic),
        parent=parent_label,
    )
    walk_forward = _walk_forward(request)
    if walk_forward is not None:  # a history too short for the folds fails before anything trains
        check_history(features, model_cfg, request, walk_forward)

    tags = {
        naming.TAG_TICKER: request.ticker,
        naming.TAG_KIND: request.kind,
        naming.TAG_SYNTHETIC: str(synthetic).lower(),
        naming.TAG_DATA_SOURCE: data.data_source,
    }
    if request.job_name:
        tags[naming.TAG_JOB_NAME] = request.job_name
    if parent_label:
        tags[naming.TAG_PARENT_MODEL], tags[naming.TAG_PARENT_VERSION] = parent_label.split("/")
    params: dict[str, Any] = {
        "ticker": request.ticker,
        "kind": request.kind,
        "data_source": data.data_source,
        "start": request.start,
        "end": request.end,
        "data_as_of": data.as_of,
        "feature_set_version": FEATURE_SET_VERSION,
        "features": list(MODEL_FEATURES),
        **{f"model.{k}": v for k, v in model_cfg.model_dump().items()},
        **{f"training.{k}": v for k, v in request.training.model_dump().items()},
    }
    if request.transfer:
        params.update({f"transfer.{k}": v for k, v in request.transfer.model_dump().items()})

    run_name = f"{request.kind}-{naming.registered_model_name(request.ticker)}"
    with training_run(client, run_name=run_name, params=params, tags=tags) as run_id:
        result = run_experiment(
            features,
            ticker=request.ticker,
            feature_columns=MODEL_FEATURES,
            model_cfg=model_cfg,
            train_cfg=request.training,
            parent=parent_bundle,
            transfer=request.transfer if parent_bundle is not None else None,
            synthetic=synthetic,
            feature_version=FEATURE_SET_VERSION,
            parent_version=parent_label.split("/")[1] if parent_label else None,
            on_epoch=_each(epoch_logger(client, run_id), on_epoch),
            progress=progress,
        )
        data_ranges = _data_ranges(result)
        for name, value in data_ranges.items():
            if value is not None:
                client.set_tag(run_id, f"stockops.{name}", value)
        out = output_dir or settings.outputs_dir / naming.registered_model_name(request.ticker)
        out.mkdir(parents=True, exist_ok=True)
        plot_paths = write_training_plots(result, features, out, title=_plot_title(request, synthetic))
        metrics = result.report.model_dump(mode="json")
        if result.bundle.shrinkage is not None:
            for row, lam in zip(metrics["per_horizon"], result.bundle.shrinkage, strict=True):
                row["shrinkage"] = lam
        if result.bundle.interval_offsets is not None:
            low, high = result.bundle.interval_offsets
            for row, lo, hi in zip(metrics["per_horizon"], low, high, strict=True):
                row["interval_low"], row["interval_high"] = lo, hi
        metrics.update(
            {
                "ticker": request.ticker,
                "synthetic": synthetic,
                "data_source": data.data_source,
                "data_as_of": data.as_of.isoformat(),
                "data_note": data_note,
                "split": result.split.model_dump(mode="json"),
                "best_epoch": result.fit.best_epoch,
                "epochs_run": result.fit.epochs_run,
                "parent": parent_label,
                "shrinkage": result.shrinkage.to_dict() if result.shrinkage else None,
                "no_edge": result.bundle.no_edge,
                "data_ranges": data_ranges,
                "refit": result.bundle.refit_end is not None,
                "evaluated_on": "test split (chronological, never seen in training or early stopping)",
            }
        )
        if walk_forward is not None:  # before publishing: a failed backtest registers nothing
            metrics["backtest"] = walk_forward_in_run(
                client,
                run_id,
                request,
                settings,
                features=features,
                model_cfg=model_cfg,
                parent=parent_bundle,
                synthetic=synthetic,
                config=walk_forward,
            ).compact()
        published = publish(
            client,
            run_id,
            ticker=request.ticker,
            bundle=result.bundle,
            reference=reference_rows(
                features, result.bundle.feature_spec.columns, result.split.train.last_anchor
            ),
            metrics=metrics,
            plot_paths=list(plot_paths.values()),
            example_window=_example_window(features, model_cfg.context_days),
            min_skill=request.min_skill,
            comparison=_compare_with_production(client, request.ticker, result),
            allow_synthetic=request.allow_synthetic,
        )
    metrics["model_version"] = published.version
    (out / "metrics.json").write_text(_json(metrics))
    return TrainingSummary(
        ticker=request.ticker,
        kind=request.kind,
        model_name=published.model_name,
        model_version=published.version,
        run_id=published.run_id,
        promoted=published.promoted,
        promotion_reason=published.promotion_reason,
        production_version=published.production_version,
        synthetic=synthetic,
        data_source=data.data_source,
        data_as_of=data.as_of.isoformat(),
        data_note=data_note,
        metrics=metrics,
        best_epoch=result.fit.best_epoch,
        epochs_run=result.fit.epochs_run,
        train_seconds=round(time.perf_counter() - started, 2),
        parent=parent_label,
        plot_paths={name: str(path) for name, path in plot_paths.items()},
        split=metrics["split"],
        backtest=metrics.get("backtest"),
    )


def _each(*callbacks: Callable[[Any], None] | None) -> Callable[[Any], None]:
    """One epoch callback that calls each given one in order."""
    chosen = [c for c in callbacks if c is not None]

    def call(stats: Any) -> None:
        for callback in chosen:
            callback(stats)

    return call


# The training run's charts (MLflow artifacts under plots/, and files in the output folder).
PLOT_FILES = {
    "returns": "predicted_vs_realised_returns.png",
    "rolling_skill": "rolling_skill.png",
    "forecast": "forecast_fan.png",
}


def write_training_plots(result: Any, features: Any, out: Path, *, title: str) -> dict[str, Path]:
    """The test split's predicted-vs-realised returns and rolling skill, and the fan chart of the
    forecast this version makes from the newest window (what `stockops predict` would show)."""
    from stockops.model.forecasting import forecast_prices
    from stockops.model.plots_evaluation import plot_return_scatter, plot_rolling_skill
    from stockops.model.plots_forecast import plot_forecast_fan

    paths = {name: out / file for name, file in PLOT_FILES.items()}
    plot_return_scatter(result.test_predictions, paths["returns"], title=title)
    plot_rolling_skill(
        result.test_predictions, paths["rolling_skill"], title=title, train_drift=result.train_drift
    )
    spec = result.bundle.feature_spec
    window = features[list(spec.columns)].to_numpy(dtype="float64")[-spec.context_days :]
    closes = features["close"]
    forecast = forecast_prices(
        result.bundle, window, float(closes.iloc[-1]), closes.index[-1].date(), spec.horizon_days
    )
    plot_forecast_fan(closes, forecast, paths["forecast"], no_edge=result.bundle.no_edge)
    return paths


def _walk_forward(request: TrainRequest) -> Any:
    """The backtest the request asks for (a WalkForwardConfig), or None."""
    from stockops.model.walk_forward import WalkForwardConfig

    folds = request.walk_forward_folds
    return None if folds is None else WalkForwardConfig(folds=folds)


def _data_ranges(result: Any) -> dict[str, str | None]:
    """Where each part ends (last target day): what the held-out metrics and the served weights saw."""
    from stockops.model.bundle import DATA_RANGE_FIELDS

    bundle = result.bundle
    ranges = {name: _iso(getattr(bundle, name)) for name in DATA_RANGE_FIELDS}
    ranges["parent_cutoff"] = _iso(result.parent_cutoff)
    return ranges


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def inherited_provenance(
    data_synthetic: bool, data_note: str | None, *, parent_synthetic: bool, parent: str | None
) -> tuple[bool, str | None]:
    """``(synthetic, note)`` of a model: a child transferred from a parent that learned synthetic prices
    carries what that parent learned, so it is marked synthetic too, whatever its own data."""
    if not parent_synthetic:
        return data_synthetic, data_note
    why = f"parent {parent or '?'} was trained on synthetic data"
    return True, "; ".join(filter(None, [data_note, why]))


def _compare_with_production(client: Any, ticker: str, result: Any) -> Any:
    """The new version vs the current production one on the new test days it never saw (None when there
    is no production version or it cannot read these inputs)."""
    from stockops.model.bundle import BundleError
    from stockops.model.comparison import compare_versions
    from stockops.registry.loading import ModelNotFoundError, load_bundle

    test = result.test_set
    if test is None:
        return None
    name = naming.registered_model_name(ticker)
    try:
        production, version = load_bundle(name, None, client=client)
    except (ModelNotFoundError, BundleError) as exc:
        log.info("no comparable production version of %s: %s", name, exc)
        return None
    if production.feature_spec != result.bundle.feature_spec:
        log.warning("production version %s of %s has other inputs; not compared", version, name)
        return None
    seen = production.refit_end or production.val_end or production.data_end
    return compare_versions(
        production_version=version,
        new_log_ret=test.predicted,  # the evaluation weights' forecast: the refit has seen these days
        production_log_ret=production.predict_log_returns(test.x),
        true_log_ret=test.y,
        last_close=test.last_close,
        anchor_dates=test.anchor_dates,
        production_seen_until=seen,
    )


def _example_window(features: Any, context_days: int) -> Any:
    """The newest input window, as the model signature's example (shape (1, context, n_features))."""
    return features[list(MODEL_FEATURES)].to_numpy(dtype="float32")[-context_days:][None, ...]


def _plot_title(request: TrainRequest, synthetic: bool) -> str:
    flag = " [SYNTHETIC DATA]" if synthetic else ""
    return f"{request.ticker} ({request.kind}) - test split{flag}"


def _json(payload: dict[str, Any]) -> str:
    import json

    return json.dumps(payload, indent=2, sort_keys=True, default=str)
