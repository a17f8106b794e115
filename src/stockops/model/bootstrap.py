"""Block-bootstrap intervals for skill: how sure is "skill +0.01"?

Test windows overlap (neighbouring windows share ``horizon - 1`` target days) and errors cluster in
volatile spells, so resampling single windows would understate the uncertainty. The moving-block
bootstrap (circular, fixed seed) resamples runs of ``block`` consecutive windows, ``block`` at least the
horizon, and recomputes skill ``1 - sqrt(sum e_model^2 / sum e_base^2)`` on every resample. The
interval is the percentile interval of those skills. Everything is vectorised over resamples.
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_REPS = 1000
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95


def block_length(n: int, horizon: int) -> int:
    """``max(horizon, ceil(n^(1/3)))``, at most ``n``: covers the overlap and the usual n^(1/3) rule."""
    return max(1, min(n, max(horizon, math.ceil(n ** (1.0 / 3.0)))))


def block_bootstrap_indices(n: int, block: int, reps: int, seed: int) -> np.ndarray:
    """``(reps, n)`` row indices, each row ``ceil(n / block)`` circular blocks cut to ``n``."""
    if n < 1 or block < 1 or reps < 1:
        raise ValueError(f"n, block and reps must be >= 1, got {n}, {block}, {reps}")
    rng = np.random.default_rng(seed)
    blocks = math.ceil(n / block)
    starts = rng.integers(0, n, size=(reps, blocks))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]) % n
    return idx.reshape(reps, blocks * block)[:, :n]


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (math.nan, math.nan)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(finite, [alpha, 1.0 - alpha])
    return (float(lo), float(hi))


def skill_interval(
    model_sq: np.ndarray,
    base_sq: np.ndarray,
    *,
    block: int,
    reps: int = DEFAULT_REPS,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
) -> tuple[float, float]:
    """Percentile interval of ``1 - sqrt(sum model_sq / sum base_sq)`` over block resamples of the rows
    (per-window squared errors, summed over the steps being scored)."""
    model_sq, base_sq = np.asarray(model_sq, np.float64), np.asarray(base_sq, np.float64)
    idx = block_bootstrap_indices(model_sq.shape[0], block, reps, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        skills = 1.0 - np.sqrt(model_sq[idx].sum(axis=1) / base_sq[idx].sum(axis=1))
    return _percentiles(skills, level)


def skill_difference_interval(
    new_sq: np.ndarray,
    old_sq: np.ndarray,
    base_sq: np.ndarray,
    *,
    block: int,
    reps: int = DEFAULT_REPS,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
) -> tuple[float, float, float]:
    """``(point, lo, hi)`` of skill(new) - skill(old) against the same baseline on the same rows (paired:
    every resample scores both models on the same windows)."""
    new_sq, old_sq, base_sq = (np.asarray(a, np.float64) for a in (new_sq, old_sq, base_sq))
    idx = block_bootstrap_indices(new_sq.shape[0], block, reps, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        base = np.sqrt(base_sq[idx].sum(axis=1))
        diffs = (np.sqrt(old_sq[idx].sum(axis=1)) - np.sqrt(new_sq[idx].sum(axis=1))) / base
        point = (math.sqrt(old_sq.sum()) - math.sqrt(new_sq.sum())) / math.sqrt(base_sq.sum())
    lo, hi = _percentiles(diffs, level)
    return (float(point), lo, hi)
