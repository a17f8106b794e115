"""Sliding windows over a feature series: ``context`` days of features in, ``horizon`` log returns out.

For an anchor day ``t`` (the last day the model sees) the input is ``features[t-context+1 .. t]`` and the
target is ``y[k-1] = ln(C[t+k] / C[t])`` for ``k = 1..horizon``: cumulative log returns from the anchor's
close. The target is scale-free (see :mod:`stockops.model`), additive across days, and turns back into a
price exactly as ``C[t] * exp(y)``.

Everything is vectorised with ``sliding_window_view`` (a view, then one contiguous float32 copy), so the
full ^GSPC history (~24k days) windows in milliseconds instead of the seconds a per-sample pandas loop
takes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


@dataclass(frozen=True)
class Windows:
    """Model-ready samples. ``anchor[i]`` is the row index of day ``t`` in the source series."""

    x: np.ndarray  # (n, context, f) float32, raw (unscaled) features
    y: np.ndarray  # (n, horizon) float64 cumulative log returns
    anchor: np.ndarray  # (n,) int64
    last_close: np.ndarray  # (n,) float64, C[t]

    def __len__(self) -> int:
        return int(self.x.shape[0])


def _check_series(features: np.ndarray, closes: np.ndarray, context: int, horizon: int) -> None:
    if features.ndim != 2:
        raise ValueError(f"features must be a 2-D array (days, features), got shape {features.shape}")
    if closes.ndim != 1 or closes.shape[0] != features.shape[0]:
        raise ValueError(
            f"closes must be a 1-D array with one value per feature row ({features.shape[0]}), "
            f"got shape {closes.shape}"
        )
    if context < 1 or horizon < 1:
        raise ValueError(f"context and horizon must be >= 1, got context={context}, horizon={horizon}")
    if not np.all(np.isfinite(features)):
        row, col = np.argwhere(~np.isfinite(features))[0]
        raise ValueError(f"features contain a non-finite value at row {row}, column {col}")
    if not np.all(np.isfinite(closes)) or np.any(closes <= 0):
        row = int(np.argwhere(~(np.isfinite(closes) & (closes > 0)))[0][0])
        raise ValueError(f"closes must be finite and positive; row {row} is {closes[row]!r}")


def make_windows(features: np.ndarray, closes: np.ndarray, context: int, horizon: int) -> Windows:
    """Every complete (input, target) pair of the series, anchors in chronological order.

    Anchors run from ``context - 1`` (first full input) to ``T - 1 - horizon`` (last day with a full
    target), so ``n = T - context - horizon + 1``.
    """
    features = np.asarray(features)
    closes = np.asarray(closes, dtype=np.float64)
    _check_series(features, closes, context, horizon)
    days = features.shape[0]
    n = days - context - horizon + 1
    if n < 1:
        raise ValueError(
            f"too few days to make one window: {days} days, need at least context ({context}) + "
            f"horizon ({horizon}) = {context + horizon}"
        )
    # (days - context + 1, f, context) -> first n inputs, transposed to (n, context, f).
    x_view = sliding_window_view(features, context, axis=0)[:n]
    x = np.ascontiguousarray(x_view.transpose(0, 2, 1), dtype=np.float32)
    log_close = np.log(closes)
    # Windows of horizon + 1 log closes starting at each anchor: [ln C[t], ln C[t+1], .., ln C[t+h]].
    y_view = sliding_window_view(log_close, horizon + 1)[context - 1 : context - 1 + n]
    y = y_view[:, 1:] - y_view[:, :1]
    anchor = np.arange(context - 1, context - 1 + n, dtype=np.int64)
    return Windows(x=x, y=np.ascontiguousarray(y), anchor=anchor, last_close=closes[anchor].copy())


def latest_window(features: np.ndarray, context: int) -> np.ndarray:
    """The input for forecasting from the last day of the series: ``features[-context:]`` as float32."""
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"features must be a 2-D array (days, features), got shape {features.shape}")
    if features.shape[0] < context:
        raise ValueError(f"need {context} days of features for one input window, got {features.shape[0]}")
    return np.ascontiguousarray(features[-context:], dtype=np.float32)
