"""Dated price forecasts from a bundle and the latest feature window, with the naive forecast beside.

Used by the predictor and the CLI. Inputs are validated before the network runs and every failure is a
:class:`ForecastInputError` (a ``ValueError``) whose message starts with the offending field, so a server
can turn it into a 4xx that tells the caller what to fix. Forecast dates are the next ``days`` NYSE
trading sessions after ``as_of`` (weekends and exchange holidays skipped, :mod:`stockops.data.calendar`):
the k-th point is dated on the session k trading days ahead.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pandas.tseries.offsets import BDay
from pydantic import BaseModel, ConfigDict

from stockops.model.bundle_format import FeatureSpec


class Forecastable(Protocol):
    """What a forecast needs from a model: ``ModelBundle`` (torch) and ``ForecastBundle`` (numpy) both are."""

    ticker: str
    synthetic: bool
    feature_spec: FeatureSpec

    def predict_log_returns(self, windows: np.ndarray) -> np.ndarray: ...

    def interval_log_returns(self, point: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None: ...


class ForecastInputError(ValueError):
    """Invalid forecast input; ``field`` names the input at fault."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class ForecastPoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    date: dt.date
    close: float
    low: float | None = None  # 10 % bound (stockops.model.intervals); None: the model has no interval
    high: float | None = None  # 90 % bound


class Forecast(BaseModel):
    model_config = ConfigDict(frozen=True)

    ticker: str
    as_of: dt.date
    last_close: float
    points: list[ForecastPoint]
    naive: list[ForecastPoint]
    synthetic: bool


def _as_date(as_of: Any) -> dt.date:
    if isinstance(as_of, dt.datetime | pd.Timestamp):
        return as_of.date()
    if isinstance(as_of, dt.date):
        return as_of
    if isinstance(as_of, str):
        try:
            return dt.date.fromisoformat(as_of)
        except ValueError:
            pass
    raise ForecastInputError("as_of", f"must be a date (YYYY-MM-DD), got {as_of!r}")


def business_days_after(as_of: dt.date, days: int) -> list[dt.date]:
    """The next ``days`` business days strictly after ``as_of``."""
    start = pd.Timestamp(as_of)
    return [(start + BDay(k)).date() for k in range(1, days + 1)]


def trading_days_after(as_of: dt.date, days: int) -> list[dt.date]:
    """The next ``days`` NYSE sessions strictly after ``as_of`` (the forecast dates)."""
    from stockops.data.calendar import trading_sessions_after

    return trading_sessions_after(as_of, days)


def validate_forecast_inputs(
    bundle: Forecastable, window: Any, last_close: Any, as_of: Any, days: Any
) -> tuple[np.ndarray, float, dt.date, int]:
    """Checked and normalised ``(window, last_close, as_of, days)``; raises :class:`ForecastInputError`."""
    horizon = bundle.feature_spec.horizon_days
    if isinstance(days, bool) or not isinstance(days, int | np.integer):
        raise ForecastInputError("days", f"must be an integer between 1 and {horizon}, got {days!r}")
    if not 1 <= int(days) <= horizon:
        raise ForecastInputError("days", f"must be between 1 and {horizon} (the model's horizon), got {days}")
    try:
        array = np.asarray(window, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ForecastInputError("window", f"must be a numeric array: {exc}") from exc
    expected = (bundle.feature_spec.context_days, bundle.feature_spec.n_features)
    if array.shape != expected:
        raise ForecastInputError(
            "window",
            f"must have shape {expected} (context_days, features {list(bundle.feature_spec.columns)}), "
            f"got {array.shape}",
        )
    if not np.all(np.isfinite(array)):
        row, col = np.argwhere(~np.isfinite(array))[0]
        raise ForecastInputError(
            "window",
            f"contains a non-finite value at row {row}, feature {bundle.feature_spec.columns[col]!r}",
        )
    if isinstance(last_close, bool) or not isinstance(last_close, int | float | np.number):
        raise ForecastInputError("last_close", f"must be a positive number, got {last_close!r}")
    close = float(last_close)
    if not math.isfinite(close) or close <= 0:
        raise ForecastInputError("last_close", f"must be a finite positive price, got {last_close!r}")
    return array, close, _as_date(as_of), int(days)


def forecast_prices(
    bundle: Forecastable, window: np.ndarray, last_close: float, as_of: dt.date, days: int
) -> Forecast:
    """Forecast closes for the next ``days`` trading sessions after ``as_of`` from one raw feature window
    ``(context_days, n_features)`` whose last row is ``as_of``, whose close was ``last_close``."""
    array, close, as_of_date, n_days = validate_forecast_inputs(bundle, window, last_close, as_of, days)
    log_returns = bundle.predict_log_returns(array[None, :, :])[0, :n_days]
    dates = trading_days_after(as_of_date, n_days)
    prices = close * np.exp(log_returns)
    bounds = bundle.interval_log_returns(log_returns[None, :])
    lows = [None] * n_days if bounds is None else [float(v) for v in close * np.exp(bounds[0][0])]
    highs = [None] * n_days if bounds is None else [float(v) for v in close * np.exp(bounds[1][0])]
    return Forecast(
        ticker=bundle.ticker,
        as_of=as_of_date,
        last_close=close,
        points=[
            ForecastPoint(date=d, close=float(p), low=lo, high=hi)
            for d, p, lo, hi in zip(dates, prices, lows, highs, strict=True)
        ],
        naive=[ForecastPoint(date=d, close=close) for d in dates],
        synthetic=bundle.synthetic,
    )
