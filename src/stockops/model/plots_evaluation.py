"""Test-split charts that can show a model failing: predicted vs realised returns, and rolling skill.

They replace the price-over-time chart (actual close with the 1-day-ahead forecast on top), which looks
perfect for any near-random-walk model because a day's move is tiny next to years of price range. The
numbers drawn come from :mod:`stockops.model.diagnostics`; see there for what each one means.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from stockops.model.diagnostics import (
    DEFAULT_ROLLING_WINDOW,
    least_squares_line,
    rolling_skills,
    rolling_window_size,
    skill,
    split_returns,
)
from stockops.model.evaluation import SplitPredictions
from stockops.model.plot_canvas import new_figure, save_png

SCATTER_COLUMNS = 5
MAX_SCATTER_POINTS = 4000  # beyond this the cloud is thinned evenly (the fit uses every point)


def _signed(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:+.{digits}f}"


def plot_return_scatter(predictions: SplitPredictions, path: Path, *, title: str) -> Path:
    """One panel per horizon step: realised vs predicted k-step return (percent), with the y = x line,
    the zero lines, the least-squares line and the step's skill vs the random walk in the panel title."""
    returns = split_returns(predictions)
    n, horizon = returns.predicted.shape
    columns = min(horizon, SCATTER_COLUMNS)
    rows = math.ceil(horizon / columns)
    figure = new_figure(3.3 * columns, 3.3 * rows + 0.6)
    grid = figure.subplots(rows, columns, squeeze=False)
    thin = slice(None, None, max(1, math.ceil(n / MAX_SCATTER_POINTS)))
    for k in range(rows * columns):
        axes = grid[k // columns][k % columns]
        if k >= horizon:
            axes.set_visible(False)
            continue
        x, y = 100.0 * returns.predicted[:, k], 100.0 * returns.realised[:, k]
        fit = least_squares_line(x, y)
        step_skill = skill(predictions.predicted[:, k], predictions.actual[:, k], predictions.last_close)
        axes.scatter(x[thin], y[thin], s=6, alpha=0.35, color="tab:blue", linewidths=0, zorder=2)
        axes.axhline(0.0, color="black", linewidth=0.6, zorder=1)
        axes.axvline(0.0, color="black", linewidth=0.6, zorder=1)
        spread = float(np.ptp(x))
        pad = 0.08 * spread if spread > 0 else max(0.05, 0.1 * float(np.std(y)))
        x_lo, x_hi = float(x.min()) - pad, float(x.max()) + pad
        line_x = np.array([x_lo, x_hi])
        axes.plot(line_x, line_x, color="grey", linestyle="--", linewidth=1.0, label="y = x")
        if fit is not None:
            axes.plot(
                line_x,
                fit.slope * line_x + fit.intercept,
                color="tab:red",
                linewidth=1.4,
                label=f"fit, slope {fit.slope:.2f}",
            )
        # the spreads say how far the forecast dares to move next to what happens
        note = (
            f"sd predicted {np.std(x):.2g} %, realised {np.std(y):.2g} %"
            if fit is not None
            else "constant forecast: no slope"
        )
        axes.text(
            0.5,
            0.03,
            note,
            transform=axes.transAxes,
            ha="center",
            fontsize=7,
            color="tab:red" if fit is None else "dimgrey",
        )
        axes.set_xlim(x_lo, x_hi)
        y_lim = float(np.quantile(np.abs(y), 0.995)) * 1.1 or 1.0
        axes.set_ylim(-y_lim, y_lim)
        axes.set_title(f"step {k + 1}: skill {_signed(step_skill)}", fontsize=10)
        axes.set_xlabel("predicted return (%)", fontsize=8)
        if k % columns == 0:
            axes.set_ylabel("realised return (%)", fontsize=8)
        axes.xaxis.set_major_locator(MaxNLocator(nbins=4))
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.3)
        axes.legend(loc="upper left", fontsize=7)
    figure.suptitle(
        f"{title}\npredicted vs realised return per step ({n} forecast origins): "
        "a model that learned nothing shows a flat cloud",
        fontsize=10,
    )
    return save_png(figure, path)


def plot_rolling_skill(
    predictions: SplitPredictions,
    path: Path,
    *,
    title: str,
    train_drift: float,
    window: int = DEFAULT_ROLLING_WINDOW,
) -> Path:
    """Rolling ``1 - RMSE/RMSE_baseline`` over ``window`` consecutive test origins for step 1 and the last
    step, against the random walk (top) and the walk with the training drift (bottom), with the zero
    line. A skill that is positive only inside one episode shows as one bump."""
    n, horizon = predictions.predicted.shape
    size = rolling_window_size(n, window)
    steps = (1,) if horizon == 1 else (1, horizon)
    curves = rolling_skills(predictions, steps, train_drift=train_drift, window=size)
    dates = np.asarray(predictions.anchor_dates.to_numpy())
    figure = new_figure(11, 6.5)
    top, bottom = figure.subplots(2, 1, sharex=True)
    colours = ("tab:blue", "tab:orange")
    panels = (
        (top, "vs the random walk (last close)", "vs_random_walk", "whole_vs_random_walk"),
        (
            bottom,
            f"vs the random walk with training drift ({train_drift * 1e4:+.1f} bp/day)",
            "vs_drift",
            "whole_vs_drift",
        ),
    )
    for axes, label, series, whole in panels:
        for curve, colour in zip(curves, colours, strict=False):
            axes.plot(
                dates,
                getattr(curve, series),
                color=colour,
                linewidth=1.1,
                label=f"step {curve.step} (whole test part {_signed(getattr(curve, whole))})",
            )
        axes.axhline(0.0, color="black", linewidth=0.8, zorder=1)
        axes.set_ylabel("skill", fontsize=9)
        axes.set_title(label, fontsize=10)
        axes.grid(alpha=0.3)
        axes.legend(loc="best", fontsize=8)
    bottom.set_xlabel(f"forecast origin (end of each {size}-session window)", fontsize=9)
    figure.suptitle(
        f"{title}\nrolling {size}-session skill = 1 - RMSE/RMSE_baseline (> 0 beats it)", fontsize=10
    )
    return save_png(figure, path)
