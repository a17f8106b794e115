"""ParentModel: the index-level model (default ^GSPC) that TickerModels transfer from."""

from __future__ import annotations

from pydantic import Field

from stockops.crd.base import KEEP_DEFAULT, CrdModel, cel
from stockops.crd.spec_blocks import (
    TICKER_PATTERN,
    CronRetrain,
    DataSpec,
    EvaluationSpec,
    FeaturesSpec,
    ImageSpec,
    ModelSpec,
    PromotionSpec,
    ResourcesSpec,
    SchedulingSpec,
    TrainingSpec,
)
from stockops.crd.status_blocks import ModelStatus

DEFAULT_PARENT_TICKER = "^GSPC"


class ParentModelSpec(CrdModel):
    """Desired state of a ParentModel: what to train the shared parent network on, and how."""

    ticker: str = Field(
        default=DEFAULT_PARENT_TICKER,
        pattern=TICKER_PATTERN,
        max_length=16,
        description="Symbol the parent learns market dynamics from, e.g. ^GSPC (the S&P 500 index).",
        json_schema_extra={
            KEEP_DEFAULT: True,
            "x-kubernetes-validations": [
                cel("self == oldSelf", "ticker is immutable; create a new ParentModel instead")
            ],
        },
    )
    data: DataSpec | None = Field(default=None, description="Price source and date range.")
    features: FeaturesSpec | None = Field(default=None, description="Feature set the model is trained on.")
    model: ModelSpec | None = Field(default=None, description="Network shape and window sizes.")
    training: TrainingSpec | None = Field(default=None, description="Optimisation and Job limits.")
    promotion: PromotionSpec | None = Field(default=None, description="Promotion gate.")
    evaluation: EvaluationSpec | None = Field(
        default=None, description="Walk-forward backtest after training (unset: none)."
    )
    resources: ResourcesSpec | None = Field(
        default=None, description="CPU, memory and GPUs of the training Job."
    )
    scheduling: SchedulingSpec | None = Field(default=None, description="Node selector and tolerations.")
    image: ImageSpec | None = Field(default=None, description="Container image overrides.")
    retrain: CronRetrain | None = Field(default=None, description="Periodic retraining.")
    suspend: bool | None = Field(
        default=None,
        description="true: start no new training and suspend a running training Job; false/unset: run.",
    )


class ParentModel(CrdModel):
    """A ParentModel resource as the operator reads it."""

    spec: ParentModelSpec = Field(description="Desired state.")
    status: ModelStatus | None = Field(default=None, description="Observed state, written by the operator.")
