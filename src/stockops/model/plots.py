"""Prediction-vs-actual chart of the test split (PNG), drawn without pyplot.

Shows the actual close, the 1-step-ahead prediction and the H-step-ahead prediction, each plotted at the
date it forecasts, so a lagging model (one that just echoes the last close) is visible at a glance. Uses
``matplotlib.figure.Figure`` with the Agg canvas: no global backend switch, no display, thread-safe
enough for a server.
"""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from stockops.model.evaluation import SplitPredictions


def plot_predictions(predictions: SplitPredictions, path: Path, *, title: str | None = None) -> Path:
    """Write the chart to ``path`` (PNG; parent directories created; written atomically)."""
    path = Path(path)
    horizon = predictions.predicted.shape[1]
    target_dates = predictions.target_dates
    figure = Figure(figsize=(11, 5), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot(
        target_dates[:, 0], predictions.actual[:, 0], color="black", linewidth=1.2, label="actual close"
    )
    axes.plot(
        target_dates[:, 0],
        predictions.predicted[:, 0],
        color="tab:blue",
        linewidth=0.9,
        label="1-day-ahead forecast",
    )
    if horizon > 1:
        axes.plot(
            target_dates[:, -1],
            predictions.predicted[:, -1],
            color="tab:orange",
            linewidth=0.9,
            alpha=0.85,
            label=f"{horizon}-day-ahead forecast",
        )
    axes.set_title(title or "Test split: forecast vs actual")
    axes.set_xlabel("date")
    axes.set_ylabel("close")
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    figure.autofmt_xdate()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    figure.savefig(tmp, format="png")
    os.replace(tmp, path)
    return path
