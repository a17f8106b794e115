"""A pooled parent: other tickers' windows join the parent's training part, without moving its cut-offs.

A parent trained on one index learns that index's dynamics; children are single stocks. Pooling adds
stocks' windows to the parent's training data, so the representation a child inherits has seen stock-like
behaviour. Two rules keep it honest:

* **Same cut-off.** A pooled ticker contributes only windows whose targets end by the parent's last
  training target day, so the parent's evaluation weights still depend on nothing later than its own
  train + early-stopping parts (the parent-overlap rule, :func:`stockops.model.transfer.check_parent_overlap`,
  is unchanged). Validation, calibration and test stay the parent's own ticker: the reported metrics are
  those of the index, as without pooling. The serving refit may use every window up to the last day.
* **Own statistics.** Each pooled ticker is scaled by its own scalers, fitted on the rows it
  contributes for training (features) and their targets (scale only), exactly as a child scales itself,
  so every ticker reaches the network standardised and a child meets the inputs the parent learned on.

Callers must not pool a ticker that is later evaluated as a child of this parent: the parent would have
seen that child's history (benchmarks pool tickers disjoint from the children they score).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from stockops.model.scaling import StandardScaler
from stockops.model.windows import make_windows


@dataclass(frozen=True)
class PooledPart:
    """One pooled ticker's scaled windows: ``train`` up to the cut-off, ``refit`` all of them."""

    ticker: str
    train: tuple[np.ndarray, np.ndarray]
    refit: tuple[np.ndarray, np.ndarray]


class PoolError(ValueError):
    """A pooled frame cannot contribute (wrong columns, too short, nothing before the cut-off)."""


def pooled_part(
    ticker: str,
    features: pd.DataFrame,
    columns: Sequence[str],
    context: int,
    horizon: int,
    cutoff: date,
) -> PooledPart:
    """The scaled training windows ``ticker`` adds: targets ending by ``cutoff`` (train), all (refit)."""
    missing = [c for c in ("close", *columns) if c not in features.columns]
    if missing:
        raise PoolError(f"pooled ticker {ticker}: feature frame lacks {missing}")
    values = features[list(columns)].to_numpy(dtype=np.float64)
    try:
        windows = make_windows(values, features["close"].to_numpy(dtype=np.float64), context, horizon)
    except ValueError as exc:
        raise PoolError(f"pooled ticker {ticker}: {exc}") from exc
    last_target = features.index[windows.anchor + horizon]
    keep = np.flatnonzero(np.asarray(last_target.date) <= cutoff)
    if keep.size == 0:
        raise PoolError(f"pooled ticker {ticker} has no window whose targets end by the cut-off {cutoff}")
    last_row = int(windows.anchor[keep[-1]])
    feature_scaler = StandardScaler.fit(values[: last_row + 1])
    target_scaler = StandardScaler.fit(windows.y[keep], center=False)

    def scaled(index: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray]:
        return feature_scaler.transform(windows.x[index]), target_scaler.transform(windows.y[index])

    return PooledPart(ticker=ticker, train=scaled(keep), refit=scaled(slice(None)))


def with_pool(
    own: tuple[np.ndarray, np.ndarray], parts: Sequence[PooledPart], which: str
) -> tuple[np.ndarray, np.ndarray]:
    """``own`` scaled windows followed by the pooled parts' ``which`` ("train" or "refit") windows."""
    if not parts:
        return own
    xs = [own[0], *(getattr(p, which)[0] for p in parts)]
    ys = [own[1], *(getattr(p, which)[1] for p in parts)]
    return np.concatenate(xs).astype(own[0].dtype), np.concatenate(ys).astype(own[1].dtype)
