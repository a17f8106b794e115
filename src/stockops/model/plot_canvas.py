"""The drawing surface every StockOps chart shares: a ``Figure`` on the Agg canvas and an atomic PNG write.

No pyplot: ``matplotlib.figure.Figure`` with its own ``FigureCanvasAgg`` holds no global state (no
backend switch, no current figure, nothing to close), so charts can be drawn from a server thread or a
test without leaking figures. The PNG is written to a hidden temp file and moved into place, so a reader
(MLflow's upload, a browser, the demo summary) never sees half a file.

The charts themselves: :mod:`stockops.model.plots_forecast` (the forecast fan chart).
"""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 110
SYNTHETIC_FLAG = " [SYNTHETIC DATA]"


def new_figure(width: float, height: float) -> Figure:
    """A figure with an Agg canvas attached (``constrained`` layout keeps titles and labels inside)."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: Path) -> Path:
    """Write ``figure`` to ``path`` as PNG (parent directories created; temp file + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        figure.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
