"""The random-walk baselines every model is measured against.

For daily prices the best simple forecast is "tomorrow's close = today's close" (and the same for every
step ahead): under a random walk no model can beat it, and most published stock LSTMs do not. A model
whose skill ``1 - RMSE_model / RMSE_naive`` is not above zero has learned nothing usable.
"""

from __future__ import annotations

import numpy as np


def random_walk_log_returns(n: int, horizon: int) -> np.ndarray:
    """The random walk's forecast as cumulative log returns: all zeros, shape ``(n, horizon)``."""
    return np.zeros((n, horizon), dtype=np.float64)


def random_walk_prices(last_close: np.ndarray, horizon: int) -> np.ndarray:
    """Last close carried forward: ``(n,)`` -> ``(n, horizon)``."""
    last_close = np.asarray(last_close, dtype=np.float64)
    return np.repeat(last_close[:, None], horizon, axis=1)


def random_walk_with_drift_prices(last_close: np.ndarray, horizon: int, drift: float) -> np.ndarray:
    """``close * exp(k * drift)`` for k = 1..horizon: the walk with a constant daily log-return drift
    (the training part's mean), ``(n,)`` -> ``(n, horizon)``. A model that only learned the drift of its
    training years beats the zero-drift walk in a rising market, but not this one."""
    last_close = np.asarray(last_close, dtype=np.float64)
    return last_close[:, None] * np.exp(drift * np.arange(1, horizon + 1))[None, :]
