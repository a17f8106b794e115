"""Forecast answers: the JSON object per instance (V1, and what the cache stores) and its V2 tensors.

One answer per instance::

    {"ticker": "AAPL", "model_name": "stockops-aapl", "model_version": "3", "as_of": "2024-05-31",
     "days": 5, "last_close": 191.3,
     "forecast": [{"date": "2024-06-03", "close": 192.1,          # model (median path), next sessions
                   "low": 187.9, "high": 196.0}, ...],           # 10 % / 90 % bounds (null: none)
     "interval": {"low_quantile": 0.1, "high_quantile": 0.9},
     "naive":    [{"date": "2024-06-03", "close": 191.3}, ...],   # random walk: last close carried
     "risk": "medium", "realized_volatility": 0.24,             # see stockops.predictor.risk
     "synthetic": false, "data_source": "csv:...", "no_edge": false, "cached": false}

``no_edge`` is true when validation gave no evidence of an edge and the model forecasts exactly the random
walk (every shrinkage lambda is 0); the answer then also carries ``"note": "no edge over the random walk"``.

``synthetic`` is true when the model was trained on synthetic prices or the window came from the synthetic
source, so a demo answer can never pass for a real one. ``data_source`` is where the window came from
(``request`` when the caller sent it). ``cached`` is added per response, never stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from stockops.predictor.risk import RiskLabel

# the interval's quantiles (stockops.model.intervals.INTERVAL_QUANTILES; that module is not imported here)
INTERVAL_QUANTILES = (0.1, 0.9)


@dataclass(frozen=True)
class AnswerContext:
    """What an answer says about where it came from."""

    ticker: str
    model_name: str
    model_version: str
    synthetic: bool
    data_source: str
    no_edge: bool = False


NO_EDGE_NOTE = "no edge over the random walk"


def build_answer(
    context: AnswerContext,
    *,
    as_of: date,
    last_close: float,
    dates: Sequence[date],
    closes: Sequence[float],
    risk: RiskLabel | None,
    realized_volatility: float | None,
    lows: Sequence[float | None] | None = None,
    highs: Sequence[float | None] | None = None,
) -> dict[str, Any]:
    """The JSON-ready answer for one instance (without ``cached``); ``lows``/``highs`` are the 10 % / 90 %
    bounds per date (None: the model has no interval)."""
    lows = list(lows) if lows is not None else [None] * len(dates)
    highs = list(highs) if highs is not None else [None] * len(dates)

    def price(value: float | None) -> float | None:
        return None if value is None else round(float(value), 6)

    answer: dict[str, Any] = {
        "ticker": context.ticker,
        "model_name": context.model_name,
        "model_version": context.model_version,
        "as_of": as_of.isoformat(),
        "days": len(dates),
        "last_close": round(float(last_close), 6),
        "forecast": [
            {"date": d.isoformat(), "close": round(float(c), 6), "low": price(lo), "high": price(hi)}
            for d, c, lo, hi in zip(dates, closes, lows, highs, strict=True)
        ],
        "interval": {"low_quantile": INTERVAL_QUANTILES[0], "high_quantile": INTERVAL_QUANTILES[1]},
        "naive": [{"date": d.isoformat(), "close": round(float(last_close), 6)} for d in dates],
        "risk": risk,
        "realized_volatility": None if realized_volatility is None else round(realized_volatility, 6),
        "synthetic": context.synthetic,
        "data_source": context.data_source,
        "no_edge": context.no_edge,
    }
    if context.no_edge:
        answer["note"] = NO_EDGE_NOTE
    return answer


def v1_response(answers: Sequence[dict[str, Any]], cached: Sequence[bool]) -> dict[str, Any]:
    """KServe V1 response body: ``{"predictions": [...]}``, one entry per instance in request order."""
    return {"predictions": [{**a, "cached": c} for a, c in zip(answers, cached, strict=True)]}


@dataclass(frozen=True, eq=False)
class OutputTensor:
    name: str
    datatype: str
    data: np.ndarray


def v2_output_tensors(answers: Sequence[dict[str, Any]], cached: Sequence[bool]) -> list[OutputTensor]:
    """V2 outputs, one row per instance; all answers have the same ``days`` (enforced by the parser).

    ``forecast_date``/``forecast_close``/``forecast_low``/``forecast_high``/``naive_close`` are [n, days];
    the rest are [n]. An unknown volatility or bound is NaN (JSON null), an unknown risk the empty string.
    """
    if not answers:
        raise ValueError("no answers to encode")
    days = {a["days"] for a in answers}
    if len(days) != 1:
        raise ValueError(f"V2 answers must share one horizon, got {sorted(days)}")

    def column(key: str) -> np.ndarray:
        return np.array([str(a[key]) for a in answers], dtype=np.object_)

    return [
        OutputTensor("ticker", "BYTES", column("ticker")),
        OutputTensor("model_version", "BYTES", column("model_version")),
        OutputTensor("as_of", "BYTES", column("as_of")),
        OutputTensor(
            "forecast_date",
            "BYTES",
            np.array([[p["date"] for p in a["forecast"]] for a in answers], dtype=np.object_),
        ),
        OutputTensor(
            "forecast_close",
            "FP64",
            np.array([[p["close"] for p in a["forecast"]] for a in answers], dtype=np.float64),
        ),
        OutputTensor("forecast_low", "FP64", _bounds(answers, "low")),
        OutputTensor("forecast_high", "FP64", _bounds(answers, "high")),
        OutputTensor(
            "naive_close",
            "FP64",
            np.array([[p["close"] for p in a["naive"]] for a in answers], dtype=np.float64),
        ),
        OutputTensor("last_close", "FP64", np.array([a["last_close"] for a in answers], dtype=np.float64)),
        OutputTensor("risk", "BYTES", np.array([a["risk"] or "" for a in answers], dtype=np.object_)),
        OutputTensor(
            "realized_volatility",
            "FP64",
            np.array(
                [np.nan if a["realized_volatility"] is None else a["realized_volatility"] for a in answers],
                dtype=np.float64,
            ),
        ),
        OutputTensor("synthetic", "BOOL", np.array([bool(a["synthetic"]) for a in answers], dtype=bool)),
        OutputTensor("data_source", "BYTES", column("data_source")),
        OutputTensor(
            "no_edge", "BOOL", np.array([bool(a.get("no_edge", False)) for a in answers], dtype=bool)
        ),
        OutputTensor("cached", "BOOL", np.array(list(cached), dtype=bool)),
    ]


def _bounds(answers: Sequence[dict[str, Any]], key: str) -> np.ndarray:
    return np.array(
        [[np.nan if p.get(key) is None else p[key] for p in a["forecast"]] for a in answers], dtype=np.float64
    )
