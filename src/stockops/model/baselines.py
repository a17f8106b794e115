"""The random-walk baseline every model is measured against.

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
