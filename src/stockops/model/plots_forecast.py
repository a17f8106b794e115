"""The forecast fan chart: recent closes, the median path, the 10-90 % band and the random walk beside.

Why this chart and not the price line alone: a k-day forecast of a near-random-walk model is a few
tenths of a percent away from the last close, invisible on a chart of years. Drawn over the last weeks
of history with its interval and the naive path (last close carried forward), the chart shows how far
the model actually moves from the random walk and how wide the uncertainty is next to that move. When
the bundle has no edge the median path *is* the naive one, and the title says so.

The x axis counts trading sessions (no weekend or holiday gaps, so the fan is not broken by a Saturday);
its tick labels are the sessions' dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, MaxNLocator

from stockops.model.plot_canvas import SYNTHETIC_FLAG, new_figure, save_png

if TYPE_CHECKING:
    from stockops.model.forecasting import Forecast

DEFAULT_HISTORY_SESSIONS = 60


@dataclass(frozen=True)
class FanPaths:
    """What the fan chart draws, on one session axis: ``dates[i]`` is at x = i.

    History occupies ``x < n_history``; the forecast paths start at the last history point (the as-of
    close, where every path and the band meet) and run over the forecast sessions.
    """

    dates: tuple[date, ...]
    history: np.ndarray  # (n_history,) closes
    median: np.ndarray  # (1 + days,) as-of close, then the forecast closes
    naive: np.ndarray  # (1 + days,) the last close carried forward
    low: np.ndarray | None  # (1 + days,) 10 % bound (as-of close first); None: no interval
    high: np.ndarray | None

    @property
    def n_history(self) -> int:
        return len(self.history)

    @property
    def forecast_x(self) -> np.ndarray:
        return np.arange(self.n_history - 1, len(self.dates))


def fan_paths(history: pd.Series, forecast: Forecast) -> FanPaths:
    """Join the stored closes (date index, ascending, ending on ``forecast.as_of``) and the forecast."""
    if history.empty:
        raise ValueError("history: no closes to draw the forecast after")
    last_day = pd.Timestamp(history.index[-1]).date()
    if last_day != forecast.as_of:
        raise ValueError(f"history ends on {last_day}, the forecast starts from {forecast.as_of}")
    closes = history.to_numpy(dtype=np.float64)
    anchor = forecast.last_close
    points = forecast.points
    has_interval = all(p.low is not None and p.high is not None for p in points)
    return FanPaths(
        dates=(*(pd.Timestamp(d).date() for d in history.index), *(p.date for p in points)),
        history=closes,
        median=np.array([anchor, *(p.close for p in points)]),
        naive=np.array([anchor, *(p.close for p in forecast.naive)]),
        low=np.array([anchor, *(p.low for p in points)]) if has_interval else None,
        high=np.array([anchor, *(p.high for p in points)]) if has_interval else None,
    )


def fan_chart_title(forecast: Forecast, *, no_edge: bool, version: str | None = None) -> str:
    """The chart's title: what, from when, and the two warnings a reader must not miss."""
    label = f"{forecast.ticker}" + (f" v{version}" if version else "")
    title = f"{label}: {len(forecast.points)}-session forecast from {forecast.as_of}"
    if no_edge:
        title += "\nno edge over the random walk: the forecast is the last close"
    if forecast.synthetic:
        title += SYNTHETIC_FLAG
    return title


def plot_forecast_fan(
    history: pd.Series,
    forecast: Forecast,
    path: Path,
    *,
    no_edge: bool,
    version: str | None = None,
    history_sessions: int = DEFAULT_HISTORY_SESSIONS,
) -> Path:
    """Write the fan chart of ``forecast`` after the last ``history_sessions`` closes to ``path`` (PNG)."""
    fan = fan_paths(history.iloc[-history_sessions:], forecast)
    figure = new_figure(10, 5)
    axes = figure.add_subplot(1, 1, 1)
    x_hist = np.arange(fan.n_history)
    x_fc = fan.forecast_x
    axes.plot(x_hist, fan.history, color="black", linewidth=1.2, label="close (history)")
    if fan.low is not None and fan.high is not None:
        axes.fill_between(x_fc, fan.low, fan.high, color="tab:blue", alpha=0.2, label="10-90 % interval")
    axes.plot(x_fc, fan.naive, color="grey", linestyle="--", linewidth=1.2, label="random walk (last close)")
    axes.plot(x_fc, fan.median, color="tab:blue", linewidth=1.8, marker="o", markersize=3, label="median")
    axes.axvline(fan.n_history - 1, color="grey", linewidth=0.8, alpha=0.6)
    axes.text(
        fan.n_history - 1.3,
        0.02,
        f"as of {forecast.as_of}, close {forecast.last_close:,.2f}",
        transform=axes.get_xaxis_transform(),
        ha="right",
        va="bottom",
        fontsize=8,
        color="dimgrey",
    )
    ends = [(fan.median[-1], "tab:blue")]
    if fan.low is not None and fan.high is not None:
        ends += [(fan.low[-1], "tab:blue"), (fan.high[-1], "tab:blue")]
    for value, colour in ends:
        axes.annotate(
            f"{value:,.2f}",
            xy=(x_fc[-1], value),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
            color=colour,
        )
    dates = fan.dates

    def label(value: float, _pos: int) -> str:
        i = round(float(value))
        return dates[i].isoformat() if 0 <= i < len(dates) and abs(value - i) < 1e-6 else ""

    axes.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    axes.xaxis.set_major_formatter(FuncFormatter(label))
    axes.tick_params(axis="x", labelrotation=30, labelsize=8)
    axes.set_xlim(-0.5, len(dates) - 0.5 + max(3.0, 0.06 * len(dates)))  # room for the end labels
    axes.set_title(fan_chart_title(forecast, no_edge=no_edge, version=version), fontsize=11)
    axes.set_xlabel("trading session")
    axes.set_ylabel("close")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", fontsize=8)
    return save_png(figure, path)
