"""Typed model, training and transfer configuration (pydantic, validated ranges).

The defaults are the ones chosen for the default parent (``^GSPC``): 60 trading days in, 5 out, a
2-layer LSTM with 64 units. That is small on purpose: daily returns carry little signal, and a larger
network mostly memorises noise (a public 3x128 implementation lost badly to the random walk). The
training defaults (AdamW 1e-3, batch 256, early stopping with patience 5) finish on a laptop CPU in
minutes for the full index history. This module imports no torch so the operator can use it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TransferStrategy = Literal["freeze", "fine-tune"]


class ModelConfig(BaseModel):
    """Shape of the network and of its input/output windows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hidden_size: int = Field(default=64, ge=1, le=4096, description="LSTM units per layer.")
    num_layers: int = Field(default=2, ge=1, le=8, description="Stacked LSTM layers.")
    dropout: float = Field(
        default=0.1, ge=0.0, lt=1.0, description="Dropout between LSTM layers and before the head."
    )
    context_days: int = Field(default=60, ge=2, le=2000, description="Trading days of features per input.")
    horizon_days: int = Field(default=5, ge=1, le=250, description="Trading days forecast ahead.")


class TrainingConfig(BaseModel):
    """Optimisation settings; the same for a parent and (unless overridden by transfer) a child."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int = Field(default=30, ge=1, le=10_000)
    batch_size: int = Field(default=256, ge=1, le=1_000_000)
    learning_rate: float = Field(default=1e-3, gt=0.0, le=1.0)
    patience: int = Field(default=5, ge=1, le=10_000, description="Epochs without val improvement to stop.")
    seed: int = Field(default=42, ge=0, le=2**32 - 1)
    grad_clip: float = Field(default=1.0, ge=0.0, description="Max gradient L2 norm; 0 disables clipping.")
    weight_decay: float = Field(default=1e-5, ge=0.0, le=1.0)
    val_fraction: float = Field(default=0.15, gt=0.0, lt=0.5)
    test_fraction: float = Field(default=0.15, gt=0.0, lt=0.5)
    num_threads: int | None = Field(
        default=None, ge=1, le=1024, description="torch CPU threads; None = default."
    )
    shrinkage: bool = Field(
        default=True,
        description="Shrink each step's forecast toward the random walk by a lambda fitted on validation.",
    )
    shrinkage_min_t: float = Field(
        default=1.96, ge=0.0, le=100.0, description="HAC t-statistic a lambda needs to be kept (else 0)."
    )
    ensemble_members: int = Field(
        default=1,
        ge=1,
        le=16,
        description=(
            "Seed ensemble: members trained with seeds seed, seed+1, ...; the forecast is their mean "
            "(before shrinkage). Costs members x the training time; see benchmarks/forecast_skill.py."
        ),
    )
    refit: bool = Field(
        default=True,
        description=(
            "After evaluation, refit the served weights on all data (best epoch count and learning-rate "
            "schedule of the evaluation run, same lambdas and intervals); the metrics stay held-out ones."
        ),
    )

    @model_validator(mode="after")
    def _leave_room_for_training(self) -> TrainingConfig:
        if self.val_fraction + self.test_fraction > 0.6:
            raise ValueError(
                f"val_fraction + test_fraction must be at most 0.6 so most data trains the model, "
                f"got {self.val_fraction} + {self.test_fraction}"
            )
        return self


class TransferConfig(BaseModel):
    """How a child starts from its parent.

    ``freeze`` keeps the recurrent layers exactly as the parent learned them and trains only the head
    (cheap, safest when the child has little history). ``fine-tune`` trains everything at a lower
    learning rate (``learning_rate`` if given, else the training learning rate times
    ``fine_tune_lr_factor``) so the parent's representation is adjusted rather than overwritten.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: TransferStrategy = "fine-tune"
    epochs: int | None = Field(default=None, ge=1, le=10_000, description="None = training epochs.")
    learning_rate: float | None = Field(default=None, gt=0.0, le=1.0, description="None = derived.")
    fine_tune_lr_factor: float = Field(default=0.1, gt=0.0, le=1.0)
    l2_sp: float = Field(
        default=0.0,
        ge=0.0,
        le=100.0,
        description=(
            "L2-SP strength: penalty alpha * sum ||w - w_parent||^2 toward the parent's weights over the "
            "trained parameters (weight decay off while it is on); 0 = off (stockops.model.training.Anchor)."
        ),
    )

    def effective_learning_rate(self, base_learning_rate: float) -> float:
        """The learning rate the child trains with."""
        if self.learning_rate is not None:
            return self.learning_rate
        if self.strategy == "fine-tune":
            return base_learning_rate * self.fine_tune_lr_factor
        return base_learning_rate
