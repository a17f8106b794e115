"""Spec blocks shared by ParentModel and TickerModel (data, model, training, resources, ...).

Fields are optional unless the API cannot work without them: an unset field means "the trainer's /
operator's default", which keeps the stored objects small and the schema free of defaults that Argo CD
would report as drift. Ranges are enforced here and therefore by the API server on apply.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import ConfigDict, Field

from stockops.crd.base import CrdModel, cel

# A Yahoo-style symbol: upper-case letters/digits, dots and dashes, an optional leading caret for indices.
TICKER_PATTERN = r"^\^?[A-Z0-9][A-Z0-9.\-]{0,14}$"
# A Kubernetes resource quantity such as 500m, 2, 1.5, 512Mi, 4Gi.
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"
# Five cron fields (minute hour day-of-month month day-of-week) or a @shortcut.
CRON_PATTERN = r"^(@(hourly|daily|weekly|monthly|yearly)|([0-9*/,\-]+ ){4}[0-9*/,\-]+)$"
# An object name a reference can point at (DNS-1123 subdomain).
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
# An IANA time zone name as CronJob's spec.timeZone takes it (Area/Location, or UTC).
TIME_ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$"

# The trainer's defaults for the window sizes; the CEL rule below needs them to compare a set field
# against an unset one. Keep in step with stockops.model.config.ModelConfig.
DEFAULT_CONTEXT_DAYS = 60
DEFAULT_HORIZON_DAYS = 5

DataSourceName = Literal["auto", "yfinance", "synthetic", "csv"]


class DataSpec(CrdModel):
    """Where the training prices come from and which dates are used."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.source) || self.source != 'csv' || has(self.csvPath)",
                    "data.csvPath is required when data.source is 'csv'",
                    field_path=".csvPath",
                ),
                cel(
                    "!has(self.start) || !has(self.end) || self.start < self.end",
                    "data.start must be before data.end",
                    field_path=".start",
                ),
            ]
        }
    )

    source: DataSourceName | None = Field(
        default=None,
        description=(
            "Price source: 'yfinance' (Yahoo Finance), 'csv' (files <TICKER>.csv under csvPath), "
            "'synthetic' (generated demo prices; flagged as synthetic everywhere) or 'auto' (yfinance, "
            "falling back to synthetic). Unset: the operator's default data source."
        ),
    )
    csv_path: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description=(
            "Directory inside the training container, or an http(s):// URL of a folder, holding "
            "<TICKER>.csv files (source 'csv')."
        ),
    )
    start: dt.date | None = Field(
        default=None, description="First date of history to train on (YYYY-MM-DD). Unset: all history."
    )
    end: dt.date | None = Field(
        default=None, description="Last date of history to train on (YYYY-MM-DD). Unset: up to the latest."
    )


class FeaturesSpec(CrdModel):
    """Which feature set the model is trained on."""

    version: str | None = Field(
        default=None,
        max_length=64,
        description=(
            "Feature-set version the trainer must use; training fails with reason BadData when the "
            "trainer's feature set differs. Unset: the trainer's current feature set."
        ),
    )
    store: Literal["direct", "feast"] | None = Field(
        default=None,
        description=(
            "'feast' builds the training set from the Feast offline store (point-in-time correct); "
            "'direct' computes features from the prices in the trainer. Unset: the trainer's default."
        ),
    )


class ModelSpec(CrdModel):
    """Network shape and window sizes of the parent (children inherit them through transfer)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    f"(has(self.horizonDays) ? self.horizonDays : {DEFAULT_HORIZON_DAYS}) < "
                    f"(has(self.contextDays) ? self.contextDays : {DEFAULT_CONTEXT_DAYS})",
                    f"model.horizonDays must be smaller than model.contextDays (defaults: horizon "
                    f"{DEFAULT_HORIZON_DAYS}, context {DEFAULT_CONTEXT_DAYS})",
                    field_path=".horizonDays",
                )
            ]
        }
    )

    architecture: Literal["lstm"] | None = Field(
        default=None, description="Network family. Only 'lstm' is implemented."
    )
    hidden_size: int | None = Field(default=None, ge=4, le=1024, description="Units per recurrent layer.")
    num_layers: int | None = Field(
        default=None, ge=1, le=8, description="Number of stacked recurrent layers."
    )
    dropout: float | None = Field(
        default=None, ge=0.0, le=0.9, description="Dropout between recurrent layers (0 to 0.9)."
    )
    context_days: int | None = Field(
        default=None,
        ge=5,
        le=512,
        description=f"Trading days the model reads (default {DEFAULT_CONTEXT_DAYS}).",
    )
    horizon_days: int | None = Field(
        default=None,
        ge=1,
        le=60,
        description=f"Trading days ahead the model forecasts (default {DEFAULT_HORIZON_DAYS}).",
    )


class TrainingSpec(CrdModel):
    """Optimisation settings and how the training Job may run."""

    epochs: int | None = Field(default=None, ge=1, le=1000, description="Maximum training epochs.")
    batch_size: int | None = Field(default=None, ge=1, le=4096, description="Mini-batch size.")
    learning_rate: float | None = Field(
        default=None, gt=0.0, le=1.0, description="Adam learning rate (0 < lr <= 1)."
    )
    patience: int | None = Field(
        default=None, ge=0, le=200, description="Early stopping: epochs without validation improvement."
    )
    seed: int | None = Field(
        default=None, ge=0, le=2**31 - 1, description="Random seed (runs are repeatable)."
    )
    ensemble_members: int | None = Field(
        default=None,
        ge=1,
        le=16,
        description=(
            "Seed ensemble: train this many networks (seeds seed, seed+1, ...) and forecast their mean. "
            "Costs that many times the training time. Unset: one network."
        ),
    )
    backoff_limit: int | None = Field(
        default=None,
        ge=0,
        le=10,
        description=(
            "Retries of the training Job after a failed attempt (Job backoffLimit). Data errors are "
            "never retried. Unset: the operator's default."
        ),
    )
    active_deadline_seconds: int | None = Field(
        default=None,
        ge=60,
        le=7 * 24 * 3600,
        description="Wall-clock limit of the training Job; past it the Job fails with DeadlineExceeded.",
    )


class EvaluationSpec(CrdModel):
    """Evaluation beyond the single held-out test split."""

    walk_forward_folds: int | None = Field(
        default=None,
        ge=2,
        le=10,
        description=(
            "Run a walk-forward backtest after training: the tail of the history (half its windows) is "
            "cut into this many test blocks and the whole experiment is repeated once per block on the "
            "days before it (expanding window), then the out-of-sample forecasts are traded long/flat "
            "beside buy-and-hold. Summary in status.backtest, details in the training's MLflow run. "
            "Costs one training per fold (two for a TickerModel: its parent is retrained per fold). "
            "Unset: no backtest."
        ),
    )


class ResourcesSpec(CrdModel):
    """Compute for the training Job (and, in TickerModel.serving, for the predictor)."""

    gpu: int | None = Field(
        default=None,
        ge=0,
        le=8,
        description=(
            "NVIDIA GPUs per pod (nvidia.com/gpu limit). Above 0 the pod also tolerates the "
            "nvidia.com/gpu taint and selects GPU nodes."
        ),
    )
    cpu: str | None = Field(
        default=None,
        pattern=QUANTITY_PATTERN,
        max_length=32,
        description="CPU request, a Kubernetes quantity such as '500m' or '2'.",
    )
    memory: str | None = Field(
        default=None,
        pattern=QUANTITY_PATTERN,
        max_length=32,
        description="Memory request and limit, a Kubernetes quantity such as '2Gi'.",
    )


class Toleration(CrdModel):
    """A pod toleration (same meaning as in a Pod spec)."""

    key: str | None = Field(default=None, max_length=253, description="Taint key the toleration matches.")
    operator: Literal["Exists", "Equal"] | None = Field(
        default=None, description="'Equal' (key and value match) or 'Exists' (key matches)."
    )
    value: str | None = Field(default=None, max_length=63, description="Taint value for operator 'Equal'.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to tolerate; unset tolerates all effects."
    )
    toleration_seconds: int | None = Field(
        default=None, ge=0, description="For NoExecute: how long the pod stays bound after the taint appears."
    )


class SchedulingSpec(CrdModel):
    """Where the operator's pods may run."""

    node_selector: dict[str, str] | None = Field(
        default=None, description="Node labels the pods require (merged with the GPU selector when gpu > 0)."
    )
    tolerations: list[Toleration] | None = Field(
        default=None, max_length=32, description="Extra tolerations for the pods."
    )


class ImageSpec(CrdModel):
    """Container image overrides (defaults: the operator's docker.io/stockops/trainer and .../predictor,
    tagged with the release)."""

    trainer: str | None = Field(
        default=None, min_length=1, max_length=512, description="Image of the training Job."
    )
    predictor: str | None = Field(
        default=None, min_length=1, max_length=512, description="Image of the InferenceService predictor."
    )
    pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        default=None, description="imagePullPolicy for both images."
    )


class CronRetrain(CrdModel):
    """When a trained model is trained again without a spec change."""

    schedule: str | None = Field(
        default=None,
        pattern=CRON_PATTERN,
        max_length=128,
        description=(
            "Cron schedule (five fields, or @hourly/@daily/@weekly/@monthly/@yearly) in timeZone: each "
            "time it fires after the last training finished, a new training Job starts."
        ),
    )
    time_zone: str | None = Field(
        default=None,
        pattern=TIME_ZONE_PATTERN,
        max_length=64,
        description=(
            "IANA time zone the schedule is read in, as CronJob's spec.timeZone (e.g. America/New_York; "
            "daylight-saving shifts follow the zone). Unset: UTC."
        ),
    )


DriftMethod = Literal["ks", "wasserstein", "psi", "jensenshannon", "anderson", "cramer_von_mises", "auto"]


class MonitoringSpec(CrdModel):
    """Scheduled checks of the served version: input drift (Evidently) and realised forecast error."""

    schedule: str | None = Field(
        default=None,
        pattern=CRON_PATTERN,
        max_length=128,
        description=(
            "Cron schedule of the check Job (five fields or an @shortcut) in timeZone, e.g. '30 17 * * 1-5' "
            "in America/New_York: after the close on trading days. Unset: checks run only on demand "
            "(the stockops.io/monitor annotation)."
        ),
    )
    time_zone: str | None = Field(
        default=None,
        pattern=TIME_ZONE_PATTERN,
        max_length=64,
        description="IANA time zone of the schedule, as CronJob's spec.timeZone. Unset: UTC.",
    )
    window: int | None = Field(
        default=None,
        ge=20,
        le=2000,
        description="Newest sessions compared with the training reference (unset: 60).",
    )
    method: DriftMethod | None = Field(
        default=None,
        description=(
            "Evidently's per-feature test: 'ks' (Kolmogorov-Smirnov, p < 0.05), a distance, or 'auto' "
            "(Evidently's choice). Unset: ks."
        ),
    )
    live_window: int | None = Field(
        default=None,
        ge=10,
        le=1000,
        description="Newest matured served forecasts the live error is computed over (unset: 60).",
    )


class PromotionSpec(CrdModel):
    """The gate a newly trained version must pass to become 'production' and be served."""

    min_skill: float | None = Field(
        default=None,
        ge=-1.0,
        le=1.0,
        description=(
            "Minimum test skill (1 - RMSE/naive RMSE) for promotion. Below it the version is registered "
            "but not served. Unset: the trainer's default, 0 (not worse than the random walk; a model "
            "with no edge forecasts the random walk and passes). A version that is significantly worse "
            "than the current production one on the same test days is never promoted."
        ),
    )
    allow_synthetic: bool | None = Field(
        default=None,
        description=(
            "true: a version trained on synthetic prices (data.source synthetic, or auto after Yahoo "
            "could not be reached, or a parent that was) may become 'production'. Unset/false: it is "
            "registered, labelled synthetic, and never served."
        ),
    )
