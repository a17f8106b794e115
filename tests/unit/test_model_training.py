"""Training: early stopping hands back the best weights, a seed fixes the result, failures are loud."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stockops.model.config import ModelConfig, TrainingConfig
from stockops.model.network import LSTMForecaster
from stockops.model.training import (
    Anchor,
    EpochStats,
    TrainingError,
    evaluate_loss,
    fit,
    predict,
    reference_losses,
    seed_everything,
)

CFG = ModelConfig(hidden_size=32, num_layers=1, dropout=0.0, context_days=8, horizon_days=2)


def _noise(seed: int = 0) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Pure-noise data: the model can only overfit, so validation loss soon gets worse."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(128, 8, 3)).astype(np.float32)
    y = rng.normal(size=(128, 2)).astype(np.float32)
    return (x[:64], y[:64]), (x[64:], y[64:])


def test_network_maps_windows_to_horizon_outputs() -> None:
    net = LSTMForecaster(3, ModelConfig(hidden_size=8, num_layers=2, context_days=8, horizon_days=4))
    assert net(torch.zeros(5, 8, 3)).shape == (5, 4)
    assert {name for name, _ in net.named_children()} == {"lstm", "head"}


def test_early_stopping_restores_the_best_weights() -> None:
    train, val = _noise()
    seed_everything(0)
    model = LSTMForecaster(3, CFG)
    seen: list[EpochStats] = []

    result = fit(
        model,
        train,
        val,
        TrainingConfig(epochs=40, batch_size=16, learning_rate=0.01, patience=4, num_threads=1),
        on_epoch=seen.append,
    )

    assert result.stopped_early and result.best_epoch < result.epochs_run < 40
    assert result.epochs_run - result.best_epoch == 4
    assert seen == result.history and [s.epoch for s in seen] == list(range(1, result.epochs_run + 1))
    assert result.best_val_loss == min(s.val_loss for s in seen)
    assert seen[-1].val_loss != result.best_val_loss  # the last epoch was worse ...
    returned = evaluate_loss(model, torch.from_numpy(val[0]), torch.from_numpy(val[1]))
    assert returned == pytest.approx(result.best_val_loss, rel=1e-6)  # ... and the model is the best one
    assert not model.training


def test_learning_rate_drops_on_a_plateau_before_stopping() -> None:
    train, val = _noise()
    seed_everything(0)
    result = fit(
        LSTMForecaster(3, CFG),
        train,
        val,
        TrainingConfig(epochs=40, batch_size=16, learning_rate=0.01, patience=4, num_threads=1),
    )
    assert result.history[0].lr == 0.01
    assert result.history[-1].lr < 0.01


def _train_once(seed: int) -> dict[str, torch.Tensor]:
    train, val = _noise()
    seed_everything(seed)
    model = LSTMForecaster(
        3, ModelConfig(hidden_size=16, num_layers=2, dropout=0.2, context_days=8, horizon_days=2)
    )
    fit(model, train, val, TrainingConfig(epochs=3, batch_size=16, seed=seed, num_threads=1))
    return model.state_dict()


def test_same_seed_gives_identical_weights_and_another_seed_does_not() -> None:
    first, second, other = _train_once(7), _train_once(7), _train_once(8)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_fully_frozen_model_is_refused() -> None:
    train, val = _noise()
    model = LSTMForecaster(3, CFG)
    model.requires_grad_(False)
    with pytest.raises(TrainingError, match="no trainable parameters"):
        fit(model, train, val, TrainingConfig(epochs=1))


def test_diverging_loss_is_a_training_error() -> None:
    (x, y), val = _noise()
    with pytest.raises(TrainingError, match="non-finite at epoch 1"):
        fit(LSTMForecaster(3, CFG), (x, y * 1e30), val, TrainingConfig(epochs=2, grad_clip=0.0))


def test_bad_shapes_name_the_part() -> None:
    train, (xv, yv) = _noise()
    with pytest.raises(ValueError, match="val must be"):
        fit(LSTMForecaster(3, CFG), train, (xv, yv[:3]), TrainingConfig(epochs=1))


def test_predict_returns_float64_in_eval_mode() -> None:
    model = LSTMForecaster(3, CFG)
    out = predict(model, np.zeros((3, 8, 3), dtype=np.float32))
    assert out.shape == (3, 2) and out.dtype == np.float64 and not model.training


def _distance(model: torch.nn.Module, anchor: dict[str, torch.Tensor]) -> float:
    return float(sum(torch.sum((p.detach() - anchor[n]) ** 2) for n, p in model.named_parameters()))


def test_l2_sp_keeps_a_fine_tuned_model_near_its_start() -> None:
    train, val = _noise()
    cfg = TrainingConfig(epochs=6, batch_size=16, learning_rate=0.01, patience=10, num_threads=1)
    seed_everything(0)
    start = LSTMForecaster(3, CFG).state_dict()

    def tuned(alpha: float) -> tuple[float, list[EpochStats]]:
        model = LSTMForecaster(3, CFG)
        model.load_state_dict(start)
        anchor = Anchor.of(model, alpha) if alpha > 0 else None
        result = fit(model, train, val, cfg, anchor=anchor)
        return _distance(model, start), result.history

    free, free_history = tuned(0.0)
    pulled, pulled_history = tuned(1.0)

    assert pulled < 0.2 * free  # the penalty holds the weights near the anchor ...
    assert pulled > 0.0  # ... without freezing them
    assert free_history[-1].train_loss < pulled_history[-1].train_loss  # free to overfit the noise


def test_anchor_penalty_is_alpha_times_squared_distance_over_trainable_parameters() -> None:
    model = LSTMForecaster(3, CFG)
    anchor = Anchor.of(model, 0.5)
    with torch.no_grad():
        model.head[2].bias.add_(2.0)  # horizon 2: two entries moved by 2 -> distance 8
        model.lstm.weight_hh_l0.add_(1.0)
    model.lstm.requires_grad_(False)  # frozen parameters are not pulled
    assert float(anchor.penalty(model).detach()) == pytest.approx(0.5 * 8.0)
    with pytest.raises(ValueError, match="alpha"):
        Anchor.of(model, 0.0)


def test_reference_losses_of_forecasts_that_learned_nothing() -> None:
    train_y = np.array([[1.0, 2.0], [3.0, 2.0]])  # per-step means 2 and 2
    val_y = np.array([[2.0, 0.0], [0.0, 4.0]])
    losses = reference_losses(train_y, val_y)
    assert losses["random_walk"] == pytest.approx((4 + 0 + 0 + 16) / 4)
    assert losses["drift"] == pytest.approx((0 + 4 + 4 + 4) / 4)
