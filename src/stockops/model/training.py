"""Training loop: seeded, fast for in-memory data, early stopping that restores the best weights.

Choices and why:

* **AdamW + ReduceLROnPlateau** (halve the rate after ``patience // 2`` epochs without validation
  improvement). OneCycle assumes it runs for the full epoch budget; with early stopping it is cut off at
  an arbitrary point of its cycle, often while the rate is still high. A plateau schedule composes with
  early stopping: the rate drops first, and only if that does not help either does training stop.
* **Early stopping on validation loss** keeps a copy of the best weights and loads them back at the end,
  so the returned model is the one that scored ``best_val_loss`` (not the last, usually worse, epoch).
* **Speed**: the data is a few hundred MB at most, so the tensors are moved to the device once and
  batches are index slices of them (a DataLoader's per-sample collation costs more than the LSTM step for
  a model this size). Evaluation runs under ``torch.inference_mode`` with large batches. CUDA is used when
  available, else CPU with ``num_threads`` (or torch's default).
* **Reproducibility**: python, numpy and torch are seeded, the shuffle uses its own seeded generator and
  cuDNN runs in deterministic mode. On CPU the same seed gives bit-identical weights.
* Gradients are clipped (``grad_clip``, L2 norm): LSTMs on fat-tailed returns occasionally spike.
* **L2-SP** (Li et al., 2018, "Explicit inductive bias for transfer learning"): a fine-tuned child can be
  pulled toward its starting point, ``alpha * sum ||w - w_parent||^2`` over the trainable parameters,
  instead of toward zero: with an :class:`Anchor` the optimiser's weight decay is off, as in the paper
  (decay to zero would fight the pull to the parent). The penalty is part of the optimised loss only;
  the reported train loss stays the plain MSE, so curves compare with and without it.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

from stockops.model.config import TrainingConfig

EVAL_BATCH_SIZE = 8192


class TrainingError(RuntimeError):
    """Training could not produce a usable model (e.g. the loss diverged)."""


@dataclass(frozen=True)
class EpochStats:
    epoch: int  # 1-based
    epochs: int  # the budget (training may stop earlier)
    train_loss: float
    val_loss: float
    lr: float
    seconds: float
    best_epoch: int


@dataclass(frozen=True)
class FitResult:
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    history: list[EpochStats] = field(default_factory=list)
    seconds: float = 0.0
    device: str = "cpu"
    stopped_early: bool = False


@dataclass(frozen=True, eq=False)
class Anchor:
    """The weights a fine-tuned child is pulled toward (L2-SP) and how strongly (``alpha`` > 0)."""

    weights: dict[str, torch.Tensor]
    alpha: float

    @classmethod
    def of(cls, model: nn.Module, alpha: float) -> Anchor:
        """The model's current weights as the anchor (call before training)."""
        if alpha <= 0:
            raise ValueError(f"L2-SP alpha must be > 0, got {alpha}")
        return cls({k: v.detach().clone() for k, v in model.state_dict().items()}, float(alpha))

    def penalty(self, model: nn.Module) -> torch.Tensor:
        """``alpha * sum ||w - w_anchor||^2`` over the trainable parameters (0-d tensor, differentiable)."""
        terms = [
            torch.sum((param - self.weights[name].to(param.device)) ** 2)
            for name, param in model.named_parameters()
            if param.requires_grad
        ]
        return self.alpha * torch.stack(terms).sum()


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices); make cuDNN deterministic (cheap for LSTMs)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The requested device, else CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _as_tensors(
    data: tuple[np.ndarray, np.ndarray], name: str, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = data
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 3 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"{name} must be (x (n, context, f), y (n, horizon)), got {x.shape} and {y.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} has no samples")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError(f"{name} contains non-finite values")
    return (
        torch.as_tensor(x, dtype=torch.float32).to(device),
        torch.as_tensor(y, dtype=torch.float32).to(device),
    )


def evaluate_loss(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = EVAL_BATCH_SIZE
) -> float:
    """Mean squared error over all samples and horizon steps, in eval mode, without autograd."""
    was_training = model.training
    model.eval()
    total = 0.0
    with torch.inference_mode():
        for start in range(0, x.shape[0], batch_size):
            pred = model(x[start : start + batch_size])
            total += float(torch.sum((pred - y[start : start + batch_size]) ** 2))
    model.train(was_training)
    return total / (y.shape[0] * y.shape[1])


def predict(model: nn.Module, x: np.ndarray, device: str | torch.device | None = None) -> np.ndarray:
    """Model outputs for ``x`` (already scaled) as float64 numpy, in eval mode.

    Runs on ``device`` if given (the model is moved there), else where the model's parameters are.
    """
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty (n, context, f) array, got shape {x.shape}")
    if device is not None:
        model.to(resolve_device(device))
    target = next(model.parameters()).device
    model.eval()
    outputs = []
    with torch.inference_mode():
        for start in range(0, x.shape[0], EVAL_BATCH_SIZE):
            batch = torch.as_tensor(x[start : start + EVAL_BATCH_SIZE], dtype=torch.float32).to(target)
            outputs.append(model(batch).cpu().numpy())
    return np.concatenate(outputs).astype(np.float64)


def _progress_bar(enabled: bool) -> Progress:
    console = Console(stderr=True)
    return Progress(
        TextColumn("[bold]training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not (enabled and console.is_terminal),
    )


def _decay(cfg: TrainingConfig, anchor: Anchor | None) -> float:
    """AdamW's weight decay: none under L2-SP, whose penalty replaces the pull toward zero."""
    return 0.0 if anchor is not None else cfg.weight_decay


def _train_epoch(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    trainable: list[nn.Parameter],
    shuffle: torch.Generator,
    cfg: TrainingConfig,
    anchor: Anchor | None = None,
) -> float:
    """One pass over the training part in a seeded random order; the mean training loss (MSE, without
    the L2-SP penalty, which only the optimised loss carries).

    Shared by `fit` and `refit`, so the serving refit optimises exactly as the evaluated run did."""
    model.train()
    n_train = x_train.shape[0]
    order = torch.randperm(n_train, generator=shuffle).to(x_train.device)
    running = 0.0
    for start in range(0, n_train, cfg.batch_size):
        index = order[start : start + cfg.batch_size]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x_train[index]), y_train[index])
        (loss if anchor is None else loss + anchor.penalty(model)).backward()
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(trainable, cfg.grad_clip)
        optimizer.step()
        running += float(loss.detach()) * index.shape[0]
    return running / n_train


def fit(
    model: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    cfg: TrainingConfig,
    *,
    device: str | torch.device | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
    progress: bool = False,
    anchor: Anchor | None = None,
) -> FitResult:
    """Train ``model`` in place on ``train`` with early stopping on ``val``; returns the fit summary.

    Inputs are scaled windows ``x (n, context, f)`` and scaled targets ``y (n, horizon)``. Only
    parameters with ``requires_grad`` are optimised (a frozen LSTM stays bit-identical). On return the
    model holds the best-validation weights and is in eval mode on ``device``. ``cfg.num_threads``
    applies for the duration of the call only.
    """
    previous_threads = torch.get_num_threads()
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    try:
        return _fit(
            model, train, val, cfg, device=device, on_epoch=on_epoch, progress=progress, anchor=anchor
        )
    finally:
        torch.set_num_threads(previous_threads)


def _fit(
    model: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    cfg: TrainingConfig,
    *,
    device: str | torch.device | None,
    on_epoch: Callable[[EpochStats], None] | None,
    progress: bool,
    anchor: Anchor | None,
) -> FitResult:
    started = time.perf_counter()
    seed_everything(cfg.seed)
    target = resolve_device(device)
    model.to(target)
    x_train, y_train = _as_tensors(train, "train", target)
    x_val, y_val = _as_tensors(val, "val", target)

    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise TrainingError("the model has no trainable parameters (everything is frozen)")
    optimizer = torch.optim.AdamW(trainable, lr=cfg.learning_rate, weight_decay=_decay(cfg, anchor))
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=0.5, patience=max(1, cfg.patience // 2)
    )
    loss_fn = nn.MSELoss()
    shuffle = torch.Generator().manual_seed(cfg.seed)

    best_val = math.inf
    best_epoch = 0
    best_state = copy.deepcopy(model.state_dict())
    history: list[EpochStats] = []
    stopped_early = False

    with _progress_bar(progress) as bar:
        task = bar.add_task("fit", total=cfg.epochs, status="")
        for epoch in range(1, cfg.epochs + 1):
            epoch_started = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            train_loss = _train_epoch(
                model, x_train, y_train, optimizer, loss_fn, trainable, shuffle, cfg, anchor
            )
            val_loss = evaluate_loss(model, x_val, y_val)
            if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
                raise TrainingError(
                    f"loss became non-finite at epoch {epoch} (train={train_loss}, val={val_loss}); "
                    f"lower the learning rate ({cfg.learning_rate}) or check the features"
                )
            if val_loss < best_val:
                best_val, best_epoch = val_loss, epoch
                best_state = copy.deepcopy(model.state_dict())
            scheduler.step(val_loss)
            stats = EpochStats(
                epoch=epoch,
                epochs=cfg.epochs,
                train_loss=train_loss,
                val_loss=val_loss,
                lr=lr,
                seconds=time.perf_counter() - epoch_started,
                best_epoch=best_epoch,
            )
            history.append(stats)
            bar.update(
                task, advance=1, status=f"train {train_loss:.4f}  val {val_loss:.4f}  best@{best_epoch}"
            )
            if on_epoch is not None:
                on_epoch(stats)
            if epoch - best_epoch >= cfg.patience:
                stopped_early = epoch < cfg.epochs
                break

    model.load_state_dict(best_state)
    model.eval()
    return FitResult(
        best_epoch=best_epoch,
        best_val_loss=best_val,
        epochs_run=len(history),
        history=history,
        seconds=time.perf_counter() - started,
        device=str(target),
        stopped_early=stopped_early,
    )


def reference_losses(train_y: np.ndarray, val_y: np.ndarray) -> dict[str, float]:
    """Validation MSE (scaled targets, as `fit` reports it) of two forecasts that learned nothing.

    ``random_walk`` predicts a zero return at every step (with a scale-only target scaler, exactly the
    naive forecast); ``drift`` predicts the training part's mean target per step. A curve that only
    reaches one of these has learned nothing beyond it, whatever it reaches "in half the epochs".
    """
    train_y, val_y = np.asarray(train_y, np.float64), np.asarray(val_y, np.float64)
    drift = train_y.mean(axis=0, keepdims=True)
    return {
        "random_walk": float(np.mean(val_y**2)),
        "drift": float(np.mean((val_y - drift) ** 2)),
    }


def refit(
    model: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    cfg: TrainingConfig,
    learning_rates: list[float],
    *,
    device: str | torch.device | None = None,
    anchor: Anchor | None = None,
) -> FitResult:
    """Train ``model`` in place for exactly ``len(learning_rates)`` epochs, epoch ``e`` at rate
    ``learning_rates[e]``: the serving refit on all data, replaying the epoch count and the
    learning-rate schedule that early stopping chose on the evaluation run (there is no validation part
    left to choose them again). Same seeding, optimiser, batching and clipping as :func:`fit`."""
    if not learning_rates:
        raise ValueError("refit needs at least one epoch (one learning rate)")
    previous_threads = torch.get_num_threads()
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    try:
        started = time.perf_counter()
        seed_everything(cfg.seed)
        target = resolve_device(device)
        model.to(target)
        x_train, y_train = _as_tensors(train, "train", target)
        trainable = [p for p in model.parameters() if p.requires_grad]
        if not trainable:
            raise TrainingError("the model has no trainable parameters (everything is frozen)")
        optimizer = torch.optim.AdamW(trainable, lr=learning_rates[0], weight_decay=_decay(cfg, anchor))
        loss_fn = nn.MSELoss()
        shuffle = torch.Generator().manual_seed(cfg.seed)
        history: list[EpochStats] = []
        for epoch, lr in enumerate(learning_rates, start=1):
            epoch_started = time.perf_counter()
            for group in optimizer.param_groups:
                group["lr"] = lr
            train_loss = _train_epoch(
                model, x_train, y_train, optimizer, loss_fn, trainable, shuffle, cfg, anchor
            )
            if not math.isfinite(train_loss):
                raise TrainingError(f"loss became non-finite at refit epoch {epoch}; lower the learning rate")
            history.append(
                EpochStats(
                    epoch=epoch,
                    epochs=len(learning_rates),
                    train_loss=train_loss,
                    val_loss=math.nan,
                    lr=lr,
                    seconds=time.perf_counter() - epoch_started,
                    best_epoch=epoch,
                )
            )
        model.eval()
        return FitResult(
            best_epoch=len(learning_rates),
            best_val_loss=math.nan,
            epochs_run=len(learning_rates),
            history=history,
            seconds=time.perf_counter() - started,
            device=str(target),
        )
    finally:
        torch.set_num_threads(previous_threads)
