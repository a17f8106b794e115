"""Model/training/transfer configuration: defaults of the default parent, validated ranges."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from stockops.model.config import ModelConfig, TrainingConfig, TransferConfig


def test_defaults_are_the_default_parents() -> None:
    model, training = ModelConfig(), TrainingConfig()
    assert (model.hidden_size, model.num_layers, model.dropout) == (64, 2, 0.1)
    assert (model.context_days, model.horizon_days) == (60, 5)
    assert (training.batch_size, training.learning_rate, training.epochs, training.patience) == (
        256,
        1e-3,
        30,
        5,
    )
    assert (training.grad_clip, training.weight_decay, training.seed) == (1.0, 1e-5, 42)


@pytest.mark.parametrize(
    ("factory", "field"),
    [
        (lambda: ModelConfig(hidden_size=0), "hidden_size"),
        (lambda: ModelConfig(dropout=1.0), "dropout"),
        (lambda: TrainingConfig(learning_rate=0), "learning_rate"),
        (lambda: TrainingConfig(val_fraction=0.4, test_fraction=0.4), "val_fraction"),
        (lambda: TrainingConfig(epoch=3), "epoch"),
        (lambda: TransferConfig(strategy="thaw"), "strategy"),
    ],
)
def test_out_of_range_values_are_refused_naming_the_field(factory, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        factory()


def test_transfer_learning_rate() -> None:
    assert TransferConfig(strategy="fine-tune").effective_learning_rate(1e-3) == pytest.approx(1e-4)
    assert TransferConfig(strategy="freeze").effective_learning_rate(1e-3) == 1e-3
    assert TransferConfig(strategy="fine-tune", learning_rate=5e-4).effective_learning_rate(1e-3) == 5e-4
