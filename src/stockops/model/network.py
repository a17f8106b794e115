"""The forecasting network: a stacked LSTM encoder and a direct multi-horizon head.

Direct (all ``horizon`` outputs at once from the last hidden state) rather than recursive: recursive
forecasting feeds predictions back as inputs, compounding errors, and would need to forecast every
feature, not just the close. The head is ``LayerNorm -> Dropout -> Linear``; the LayerNorm keeps the
hidden state's scale stable, which matters when a child reuses a frozen parent LSTM on another ticker.

Submodules are named ``lstm`` and ``head``: :mod:`stockops.model.transfer` freezes ``lstm`` by name.
"""

from __future__ import annotations

import torch
from torch import nn

from stockops.model.config import ModelConfig


class LSTMForecaster(nn.Module):
    """``(batch, context, n_features)`` scaled features -> ``(batch, horizon)`` scaled log returns."""

    def __init__(self, n_features: int, config: ModelConfig) -> None:
        super().__init__()
        if n_features < 1:
            raise ValueError(f"n_features must be >= 1, got {n_features}")
        self.n_features = n_features
        self.config = config
        self.lstm = nn.LSTM(
            input_size=n_features,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            # torch warns (and does nothing) for dropout with a single layer.
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.head = nn.Sequential(
            nn.LayerNorm(config.hidden_size),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden_size, config.horizon_days),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output, _ = self.lstm(x)
        return self.head(output[:, -1, :])
