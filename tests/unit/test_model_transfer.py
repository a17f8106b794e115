"""Transfer: freeze keeps the parent's LSTM bit for bit, fine-tune moves everything, mismatches refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stockops.model.bundle import FeatureSpec, ModelBundle
from stockops.model.config import ModelConfig, TrainingConfig
from stockops.model.network import LSTMForecaster
from stockops.model.scaling import StandardScaler
from stockops.model.training import fit, seed_everything
from stockops.model.transfer import TransferError, prepare_transfer

COLUMNS = ("log_return", "rsi_norm", "volatility_20")
CFG = ModelConfig(hidden_size=16, num_layers=2, dropout=0.0, context_days=10, horizon_days=3)
SPEC = FeatureSpec(columns=COLUMNS, version="v1", context_days=10, horizon_days=3)


def _parent() -> ModelBundle:
    seed_everything(1)
    rng = np.random.default_rng(1)
    return ModelBundle(
        ticker="^GSPC",
        model_config=CFG,
        feature_spec=SPEC,
        feature_scaler=StandardScaler.fit(rng.normal(size=(50, 3))),
        target_scaler=StandardScaler.fit(rng.normal(size=(50, 3))),
        state_dict=LSTMForecaster(3, CFG).state_dict(),
        synthetic=True,
    )


def _train(network: torch.nn.Module) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(96, 10, 3)).astype(np.float32)
    y = rng.normal(size=(96, 3)).astype(np.float32)
    fit(network, (x[:64], y[:64]), (x[64:], y[64:]), TrainingConfig(epochs=2, batch_size=16, num_threads=1))


def test_freeze_keeps_lstm_bit_identical_and_trains_the_head() -> None:
    parent = _parent()
    child = prepare_transfer(parent, "freeze", SPEC)
    assert all(not p.requires_grad for p in child.lstm.parameters())

    _train(child)

    after = child.state_dict()
    lstm_keys = [k for k in after if k.startswith("lstm.")]
    head_keys = [k for k in after if k.startswith("head.")]
    assert lstm_keys and head_keys
    assert all(torch.equal(after[k], parent.state_dict[k]) for k in lstm_keys)
    assert all(not torch.equal(after[k], parent.state_dict[k]) for k in head_keys)


def test_fine_tune_trains_every_parameter_from_the_parents_start() -> None:
    parent = _parent()
    child = prepare_transfer(parent, "fine-tune", SPEC)
    start = {k: v.clone() for k, v in child.state_dict().items()}
    assert all(torch.equal(start[k], parent.state_dict[k]) for k in start)
    assert all(p.requires_grad for p in child.parameters())

    _train(child)

    after = child.state_dict()
    assert all(not torch.equal(after[k], parent.state_dict[k]) for k in after)


def test_mismatched_feature_spec_is_refused_naming_every_difference() -> None:
    child_spec = FeatureSpec(
        columns=("log_return", "volume_z", "volatility_20"), version="v2", context_days=30, horizon_days=3
    )
    with pytest.raises(TransferError) as info:
        prepare_transfer(_parent(), "freeze", child_spec)
    message = str(info.value)
    assert "^GSPC" in message
    assert "columns differ" in message and "rsi_norm" in message and "volume_z" in message
    assert "version: 'v1' != 'v2'" in message
    assert "context_days: 10 != 30" in message
    assert "horizon_days" not in message


def test_mismatched_model_shape_is_refused() -> None:
    with pytest.raises(TransferError, match="hidden_size: parent 16 != child 32"):
        prepare_transfer(_parent(), "fine-tune", SPEC, CFG.model_copy(update={"hidden_size": 32}))


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(TransferError, match="'thaw'"):
        prepare_transfer(_parent(), "thaw", SPEC)  # type: ignore[arg-type]
