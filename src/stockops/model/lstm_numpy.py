"""The forecasting network's forward pass in numpy, for one-shot commands that cannot afford torch.

``import torch`` alone costs about 3 s of CPU on a 2-core machine, more than everything else
``stockops predict`` does. Inference of :class:`stockops.model.network.LSTMForecaster` in eval mode is a
few small matrix products, so the CLI runs it here from weights exported once (``weights.npz``, see
:mod:`stockops.model.forecast_bundle`). The maths mirrors torch exactly, in float32 like torch:

* ``nn.LSTM`` gates, per layer and step: ``i, f, g, o = split(W_ih x + b_ih + W_hh h + b_hh, 4)``,
  ``c = sigmoid(f) c + sigmoid(i) tanh(g)``, ``h = sigmoid(o) tanh(c)``; the next layer reads the hidden
  sequence of the one below (inter-layer dropout is off in eval mode);
* the head: ``LayerNorm`` (biased variance, eps 1e-5) on the last hidden state, ``Dropout`` (identity in
  eval mode), ``Linear``.

Training, evaluation and the KServe predictor keep using torch; a parity test pins this module to it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

LAYER_NORM_EPS = 1e-5  # torch.nn.LayerNorm's default, which the network uses
HEAD_NORM = "head.0"  # nn.Sequential(LayerNorm, Dropout, Linear) as named in the state_dict
HEAD_LINEAR = "head.2"


class WeightsError(ValueError):
    """The exported weights do not describe an ``LSTMForecaster`` (missing or misshapen tensors)."""


def lstm_layer_count(weights: Mapping[str, np.ndarray]) -> int:
    """How many stacked layers the weights hold (``lstm.weight_ih_l0`` .. ``l{n-1}``)."""
    count = 0
    while f"lstm.weight_ih_l{count}" in weights:
        count += 1
    if count == 0:
        raise WeightsError("no LSTM layer in the weights (expected lstm.weight_ih_l0)")
    return count


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # 0.5 * (1 + tanh(x / 2)) is the overflow-free form of 1 / (1 + exp(-x))
    return np.float32(0.5) * (np.float32(1.0) + np.tanh(np.float32(0.5) * x))


def _tensor(weights: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    try:
        return np.asarray(weights[name], dtype=np.float32)
    except KeyError:
        raise WeightsError(f"weights lack {name}") from None


def _lstm_layer(x: np.ndarray, weights: Mapping[str, np.ndarray], layer: int) -> np.ndarray:
    """``(batch, steps, in)`` -> ``(batch, steps, hidden)`` hidden states of one LSTM layer."""
    w_ih = _tensor(weights, f"lstm.weight_ih_l{layer}")
    w_hh = _tensor(weights, f"lstm.weight_hh_l{layer}")
    bias = _tensor(weights, f"lstm.bias_ih_l{layer}") + _tensor(weights, f"lstm.bias_hh_l{layer}")
    hidden = w_hh.shape[1]
    if w_ih.shape != (4 * hidden, x.shape[2]) or w_hh.shape != (4 * hidden, hidden):
        raise WeightsError(
            f"layer {layer}: weight_ih {w_ih.shape} / weight_hh {w_hh.shape} do not fit input width "
            f"{x.shape[2]} and hidden size {hidden}"
        )
    batch, steps, _ = x.shape
    inputs = x @ w_ih.T + bias  # all steps' input contributions in one product
    h = np.zeros((batch, hidden), np.float32)
    c = np.zeros((batch, hidden), np.float32)
    out = np.empty((batch, steps, hidden), np.float32)
    for t in range(steps):
        gates = inputs[:, t, :] + h @ w_hh.T
        i, f, g, o = np.split(gates, 4, axis=1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        out[:, t, :] = h
    return out


def forward(weights: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """``(batch, context, n_features)`` scaled features -> ``(batch, horizon)`` scaled log returns (float64),
    what ``LSTMForecaster.eval()(x)`` returns."""
    values = np.asarray(x, dtype=np.float32)
    if values.ndim != 3 or values.shape[0] == 0:
        raise ValueError(f"x must be a non-empty (n, context, features) array, got shape {values.shape}")
    for layer in range(lstm_layer_count(weights)):
        values = _lstm_layer(values, weights, layer)
    last = values[:, -1, :]
    mean = last.mean(axis=1, keepdims=True)
    var = ((last - mean) ** 2).mean(axis=1, keepdims=True)
    normed = (last - mean) / np.sqrt(var + np.float32(LAYER_NORM_EPS))
    normed = normed * _tensor(weights, f"{HEAD_NORM}.weight") + _tensor(weights, f"{HEAD_NORM}.bias")
    out = normed @ _tensor(weights, f"{HEAD_LINEAR}.weight").T + _tensor(weights, f"{HEAD_LINEAR}.bias")
    return out.astype(np.float64)
