"""TickerModel: one stock's model, transferred from a ParentModel, gated, then served by KServe."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stockops.crd.base import CrdModel, cel
from stockops.crd.spec_blocks import (
    NAME_PATTERN,
    QUANTITY_PATTERN,
    TICKER_PATTERN,
    CronRetrain,
    DataSpec,
    EvaluationSpec,
    FeaturesSpec,
    ImageSpec,
    MonitoringSpec,
    PromotionSpec,
    ResourcesSpec,
    SchedulingSpec,
    TrainingSpec,
)
from stockops.crd.status_blocks import TickerModelStatus


class ParentRef(CrdModel):
    """Reference to a ParentModel in the same namespace."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=NAME_PATTERN,
        description="Name of the ParentModel to transfer from.",
    )


class TransferSpec(CrdModel):
    """How the parent's weights are adapted to this ticker."""

    strategy: Literal["freeze", "fine-tune"] | None = Field(
        default=None,
        description=(
            "'freeze': keep the parent's recurrent layers fixed and train the head; 'fine-tune': train "
            "all layers from the parent's weights at a lower learning rate. Unset: the trainer's default."
        ),
    )
    epochs: int | None = Field(default=None, ge=1, le=1000, description="Maximum transfer epochs.")
    learning_rate: float | None = Field(
        default=None, gt=0.0, le=1.0, description="Learning rate for the transfer (0 < lr <= 1)."
    )
    l2_sp: float | None = Field(
        default=None,
        alias="l2SP",
        ge=0.0,
        le=100.0,
        description=(
            "L2-SP strength: pull the trained weights toward the parent's, alpha * sum ||w - w_parent||^2 "
            "(weight decay off while it is on). Unset or 0: off."
        ),
    )


class ServingResources(CrdModel):
    """Compute for each predictor replica."""

    cpu: str | None = Field(
        default=None, pattern=QUANTITY_PATTERN, max_length=32, description="CPU request, e.g. '500m'."
    )
    memory: str | None = Field(
        default=None,
        pattern=QUANTITY_PATTERN,
        max_length=32,
        description="Memory request and limit, e.g. '1Gi'.",
    )


class ServingSpec(CrdModel):
    """The KServe InferenceService that serves the promoted version."""

    enabled: bool | None = Field(
        default=None, description="Create an InferenceService for the promoted version (unset: true)."
    )
    replicas: int | None = Field(default=None, ge=1, le=20, description="Predictor replicas (unset: 1).")
    cache_ttl_seconds: int | None = Field(
        default=None,
        ge=1,
        le=7 * 24 * 3600,
        description="Seconds a cached forecast stays valid (unset: the predictor default).",
    )
    resources: ServingResources | None = Field(default=None, description="Predictor CPU and memory.")


class TickerRetrainSpec(CronRetrain):
    """When the TickerModel is trained again without a spec change."""

    on_parent_change: bool | None = Field(
        default=None,
        description="true: retrain when the parent publishes a new model version; unset/false: keep it.",
    )
    on_drift: bool | None = Field(
        default=None,
        description=(
            "true: a monitoring check that finds the served version's inputs Drifted starts a training "
            "(reason Drift). The new version passes the same promotion gate before it is served."
        ),
    )
    on_degraded: bool | None = Field(
        default=None,
        description=(
            "true: a monitoring check whose live skill is significantly below the random walk "
            "(Degraded) starts a training (reason Degraded)."
        ),
    )
    min_interval_minutes: int | None = Field(
        default=None,
        ge=1,
        le=366 * 24 * 60,
        description=(
            "Minimum minutes between the end of one training and a drift- or degradation-triggered one, "
            "so flapping drift cannot loop (unset: 1440, a day)."
        ),
    )


class TickerModelSpec(CrdModel):
    """Desired state of a TickerModel: which stock, from which parent, how to serve it."""

    ticker: str = Field(
        pattern=TICKER_PATTERN,
        max_length=16,
        description="Stock symbol, e.g. AAPL.",
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("self == oldSelf", "ticker is immutable; create a new TickerModel instead")
            ]
        },
    )
    parent_ref: ParentRef = Field(description="The ParentModel whose weights this model starts from.")
    transfer: TransferSpec | None = Field(default=None, description="Transfer-learning strategy.")
    serving: ServingSpec | None = Field(default=None, description="KServe serving of the promoted version.")
    promotion: PromotionSpec | None = Field(default=None, description="Promotion gate.")
    data: DataSpec | None = Field(default=None, description="Price source and date range.")
    features: FeaturesSpec | None = Field(
        default=None, description="Feature set (must match the parent's; the trainer checks)."
    )
    training: TrainingSpec | None = Field(default=None, description="Optimisation and Job limits.")
    evaluation: EvaluationSpec | None = Field(
        default=None, description="Walk-forward backtest after training (unset: none)."
    )
    resources: ResourcesSpec | None = Field(
        default=None, description="CPU, memory and GPUs of the training Job."
    )
    scheduling: SchedulingSpec | None = Field(default=None, description="Node selector and tolerations.")
    image: ImageSpec | None = Field(default=None, description="Container image overrides.")
    retrain: TickerRetrainSpec | None = Field(default=None, description="Retraining triggers.")
    monitoring: MonitoringSpec | None = Field(
        default=None, description="Drift and live-error checks of the served version."
    )
    suspend: bool | None = Field(
        default=None,
        description="true: start no new training and suspend a running training Job; false/unset: run.",
    )


class TickerModel(CrdModel):
    """A TickerModel resource as the operator reads it."""

    spec: TickerModelSpec = Field(description="Desired state.")
    status: TickerModelStatus | None = Field(
        default=None, description="Observed state, written by the operator."
    )
