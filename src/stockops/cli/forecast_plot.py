"""`stockops predict --plot`: the forecast's fan chart, next to the stored closes it starts from.

Kept out of `cli/app.py` so that `predict` without `--plot` never imports matplotlib (about a third of
a second on a cold start) and the command body stays about forecasting.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from stockops.config import Settings

if TYPE_CHECKING:
    from stockops.model.forecasting import Forecast

PREDICT_OUTPUTS = "predict"


def default_plot_path(settings: Settings, ticker: str, as_of: date) -> Path:
    """``$STOCKOPS_HOME/outputs/predict/<ticker>-<as_of>.png`` (ticker as the store names files:
    ``^GSPC`` -> ``%5EGSPC``, so it never collides with ``GSPC``)."""
    from stockops.featurestore.layout import ticker_file_stem

    return settings.outputs_dir / PREDICT_OUTPUTS / f"{ticker_file_stem(ticker)}-{as_of.isoformat()}.png"


def write_forecast_plot(
    settings: Settings,
    forecast: Forecast,
    *,
    no_edge: bool,
    version: str | None,
    path: Path | None = None,
) -> Path:
    """Draw the fan chart of ``forecast`` after the stored closes up to its as-of day; returns the path."""
    from stockops.feature_access import recent_closes
    from stockops.model.plots_forecast import DEFAULT_HISTORY_SESSIONS, plot_forecast_fan

    history = recent_closes(forecast.ticker, DEFAULT_HISTORY_SESSIONS, settings, until=forecast.as_of)
    target = path if path is not None else default_plot_path(settings, forecast.ticker, forecast.as_of)
    return plot_forecast_fan(history, forecast, target, no_edge=no_edge, version=version)
