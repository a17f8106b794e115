"""Realised forecast error of served answers: what the model said vs what the market did.

Every served answer (ticker, model version, as-of date, the horizon path of predicted closes with its
10 %/90 % bounds, the last close) is joined, step by step, to the actual closes that have arrived since.
A matured point is one (forecast, step) whose target date has an actual close. On the newest ``window``
forecasts with at least one matured point:

- live RMSE of the predicted closes, and the random walk's RMSE (the as-of close carried forward) on the
  *same* points, in price units;
- live skill ``1 - RMSE_model / RMSE_walk`` with a 95 % moving-block bootstrap interval over forecasts
  (`stockops.model.bootstrap`: neighbouring forecasts share target days, so rows are resampled in runs
  of at least the horizon);
- coverage of the 10-90 interval (nominal 0.8), directional accuracy over the points where the model
  called a move, and the counts behind each number.

``degraded`` is set when the interval's upper end is below 0: the live forecasts are significantly worse
than carrying the last close forward, not merely unlucky. Fewer than ``min_forecasts`` matured forecasts
is ``InsufficientData``; nothing is concluded from a handful of days.

Several answers for one (model version, as-of date) are the same forecast served more than once (cache
expiries, replicas, ``days=1`` and ``days=5`` questions: the same window and weights give the same path,
shorter answers being its prefix); only the longest (the last of those) is kept, so a popular day does
not weigh more and no matured step is lost.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from enum import StrEnum
from typing import Any

import numpy as np

from stockops.model.bootstrap import block_length, skill_interval

DEFAULT_WINDOW = 60  # forecasts (as-of dates)
MIN_FORECASTS = 10
NOMINAL_COVERAGE = 0.8  # the 10 %-90 % interval


@dataclass(frozen=True)
class RecordedForecast:
    ticker: str
    model_version: str
    as_of: date
    last_close: float
    dates: tuple[date, ...]
    closes: tuple[float, ...]
    lows: tuple[float | None, ...]
    highs: tuple[float | None, ...]

    @classmethod
    def from_answer(cls, answer: Mapping[str, Any]) -> RecordedForecast:
        """From a predictor answer (`stockops.predictor.responses.build_answer`)."""
        path = answer["forecast"]
        return cls(
            ticker=str(answer["ticker"]),
            model_version=str(answer["model_version"]),
            as_of=date.fromisoformat(answer["as_of"]),
            last_close=float(answer["last_close"]),
            dates=tuple(date.fromisoformat(p["date"]) for p in path),
            closes=tuple(float(p["close"]) for p in path),
            lows=tuple(None if p.get("low") is None else float(p["low"]) for p in path),
            highs=tuple(None if p.get("high") is None else float(p["high"]) for p in path),
        )


class LiveVerdict(StrEnum):
    OK = "Ok"
    DEGRADED = "Degraded"
    INSUFFICIENT_DATA = "InsufficientData"


@dataclass(frozen=True)
class RealisedError:
    verdict: LiveVerdict
    n_forecasts: int
    n_points: int
    rmse: float | None = None
    naive_rmse: float | None = None
    skill: float | None = None
    skill_ci_low: float | None = None
    skill_ci_high: float | None = None
    coverage: float | None = None  # share of points inside the 10-90 interval (None: no interval)
    coverage_count: int = 0
    directional_accuracy: float | None = None  # None: the model called no move
    directional_count: int = 0
    first_as_of: str | None = None
    last_as_of: str | None = None
    message: str = ""

    @property
    def degraded(self) -> bool:
        return self.verdict is LiveVerdict.DEGRADED

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict.value, "degraded": self.degraded}


def latest_per_day(forecasts: Iterable[RecordedForecast]) -> list[RecordedForecast]:
    """One forecast per (ticker, model version, as-of date): the longest path (the last recorded of
    those), in as-of order."""
    kept: dict[tuple[str, str, date], RecordedForecast] = {}
    for f in forecasts:
        key = (f.ticker, f.model_version, f.as_of)
        if key not in kept or len(f.dates) >= len(kept[key].dates):
            kept[key] = f
    return sorted(kept.values(), key=lambda f: f.as_of)


def realised_error(
    forecasts: Iterable[RecordedForecast],
    actual_closes: Mapping[date, float],
    *,
    model_version: str | None = None,
    window: int = DEFAULT_WINDOW,
    min_forecasts: int = MIN_FORECASTS,
    reps: int = 1000,
    seed: int = 0,
) -> RealisedError:
    """Live error of the newest ``window`` matured forecasts (of ``model_version`` when given)."""
    chosen = [
        f for f in latest_per_day(forecasts) if model_version is None or f.model_version == model_version
    ]
    matured: list[tuple[RecordedForecast, list[int]]] = []
    for f in chosen:
        steps = [h for h, d in enumerate(f.dates) if d in actual_closes and d > f.as_of]
        if steps:
            matured.append((f, steps))
    matured = matured[-window:]
    points = sum(len(steps) for _, steps in matured)
    if len(matured) < min_forecasts:
        return RealisedError(
            verdict=LiveVerdict.INSUFFICIENT_DATA,
            n_forecasts=len(matured),
            n_points=points,
            message=f"{len(matured)} matured forecasts (at least {min_forecasts} needed)",
        )

    model_sq = np.zeros(len(matured))
    base_sq = np.zeros(len(matured))
    inside = covered = hits = calls = 0
    for i, (f, steps) in enumerate(matured):
        for h in steps:
            actual = float(actual_closes[f.dates[h]])
            model_sq[i] += (f.closes[h] - actual) ** 2
            base_sq[i] += (f.last_close - actual) ** 2
            low, high = f.lows[h], f.highs[h]
            if low is not None and high is not None:
                covered += 1
                inside += int(low <= actual <= high)
            called = np.sign(f.closes[h] - f.last_close)
            if called != 0:
                calls += 1
                hits += int(called == np.sign(actual - f.last_close))
    rmse = math.sqrt(model_sq.sum() / points)
    naive = math.sqrt(base_sq.sum() / points)
    skill = 1.0 - rmse / naive if naive > 0 else None
    horizon = max(len(f.dates) for f, _ in matured)
    low, high = skill_interval(
        model_sq, base_sq, block=block_length(len(matured), horizon), reps=reps, seed=seed
    )
    ci_low, ci_high = (None, None) if math.isnan(low) else (low, high)
    degraded = ci_high is not None and ci_high < 0
    text = "live skill significantly below the random walk" if degraded else "no evidence of a live loss"
    return RealisedError(
        verdict=LiveVerdict.DEGRADED if degraded else LiveVerdict.OK,
        n_forecasts=len(matured),
        n_points=points,
        rmse=rmse,
        naive_rmse=naive,
        skill=skill,
        skill_ci_low=ci_low,
        skill_ci_high=ci_high,
        coverage=inside / covered if covered else None,
        coverage_count=covered,
        directional_accuracy=hits / calls if calls else None,
        directional_count=calls,
        first_as_of=matured[0][0].as_of.isoformat(),
        last_as_of=matured[-1][0].as_of.isoformat(),
        message=f"{text} over {len(matured)} forecasts ({points} matured points)",
    )


def closes_by_date(dates: Sequence[date], closes: Sequence[float]) -> dict[date, float]:
    """``{date: close}`` from two aligned sequences (a stored close series' index and values)."""
    if len(dates) != len(closes):
        raise ValueError(f"{len(dates)} dates for {len(closes)} closes")
    return dict(zip(dates, (float(c) for c in closes), strict=True))
