"""Stance (BULLISH / BEARISH / NEUTRAL) and confidence (LOW / MEDIUM / HIGH), computed from the facts.

Code decides them, never the LLM: the same facts always give the same call, and a unit-test table pins
the rules. The writer (LLM or template) only writes prose around the call; the critic rejects prose that
contradicts it.

Stance. Directional only when all of these hold, else NEUTRAL:

1. the model has an edge: not ``no_edge`` and its test skill's 95 % interval lies above 0 (a forecast
   indistinguishable from the random walk is NEUTRAL, whatever its sign);
2. the data is real and fresh (not synthetic; at most `STALE_AFTER_SESSIONS` finished sessions old);
3. the expected move at the horizon is distinguishable from the model's own noise: ``|z| >= 0.5`` where
   ``z`` = expected change / sigma and sigma is read off the 10-90 % interval (its half-width / 1.2816),
   or, without an interval, the realised 20-day volatility scaled to the horizon.

Then BULLISH when the expected change is positive, BEARISH when negative.

Confidence. LOW when the call rests on missing evidence (no edge, stale or synthetic data, no sigma) or
the inputs drifted. Otherwise points for: ``|z| >= 1`` (a move of a full sigma), directional accuracy
above the base rate by two standard errors, a volatility regime that is not ``high``, a drift check that
found none. Directional: 4 points HIGH, 2-3 MEDIUM, else LOW. NEUTRAL from a skilled model that expects
a small move: MEDIUM, LOW in a high-volatility regime.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict

from stockops.agent.facts import AnalysisFacts

Stance = Literal["BULLISH", "BEARISH", "NEUTRAL"]
Confidence = Literal["LOW", "MEDIUM", "HIGH"]

Z_DIRECTIONAL = 0.5
Z_STRONG = 1.0
Z_10_90 = 1.2816  # the normal quantile of 90 %: a 10-90 % interval spans 2 x 1.2816 sigma
TRADING_DAYS_PER_YEAR = 252


class StanceCall(BaseModel):
    """The call and the reasons behind it (the report lists the reasons)."""

    model_config = ConfigDict(frozen=True)

    stance: Stance
    confidence: Confidence
    expected_change_pct: float
    sigma_pct: float | None
    z: float | None
    reasons: tuple[str, ...]


def horizon_sigma_pct(facts: AnalysisFacts) -> float | None:
    """One standard deviation of the horizon-end change, in percent (interval first, else volatility)."""
    bounds = facts.forecast.interval_change_pct
    if bounds is not None and bounds[1] > bounds[0]:
        return (bounds[1] - bounds[0]) / (2.0 * Z_10_90)
    vol = facts.market.volatility_20d_pct
    if vol is not None and vol > 0:
        return vol * math.sqrt(facts.forecast.horizon_days / TRADING_DAYS_PER_YEAR)
    return None


def compute_stance(facts: AnalysisFacts) -> StanceCall:
    forecast, metrics, market = facts.forecast, facts.metrics, facts.market
    change = forecast.expected_change_pct
    sigma = horizon_sigma_pct(facts)
    z = change / sigma if sigma else None

    blockers: list[str] = []
    if forecast.no_edge:
        blockers.append("the model showed no edge in validation and forecasts the last close")
    elif not metrics.beats_random_walk:
        blockers.append(_skill_reason(metrics.skill, metrics.skill_ci_low, metrics.skill_ci_high))
    if forecast.synthetic or market.synthetic:
        blockers.append("the prices are synthetic, not the real market")
    if facts.freshness.stale:
        blockers.append(
            f"the data date {forecast.as_of} is {facts.freshness.sessions_since_as_of} sessions old"
        )
    if z is None:
        blockers.append("the forecast has no interval and no volatility to judge its size against")

    reasons: list[str] = list(blockers)
    if blockers:
        stance: Stance = "NEUTRAL"
    elif abs(z or 0.0) < Z_DIRECTIONAL:
        stance = "NEUTRAL"
        reasons.append(f"the expected move ({change:+.2f}%) is within half a sigma of noise")
    else:
        stance = "BULLISH" if change > 0 else "BEARISH"
        reasons.append(f"the model beats the random walk and expects {change:+.2f}% (z {z:+.2f})")

    drifted = metrics.drift is not None and metrics.drift.verdict == "Drifted"
    if drifted:
        reasons.append("the model's inputs drifted from its training data")
    if market.regime == "high":
        reasons.append("volatility is in its high regime")
    confidence = _confidence(stance, blockers, drifted, facts, z)
    return StanceCall(
        stance=stance,
        confidence=confidence,
        expected_change_pct=change,
        sigma_pct=sigma,
        z=z,
        reasons=tuple(reasons),
    )


def _confidence(
    stance: Stance, blockers: list[str], drifted: bool, facts: AnalysisFacts, z: float | None
) -> Confidence:
    if blockers or drifted or z is None:
        return "LOW"
    calm_enough = facts.market.regime != "high"
    if stance == "NEUTRAL":
        return "MEDIUM" if calm_enough else "LOW"
    drift = facts.metrics.drift
    points = sum(
        (
            abs(z) >= Z_STRONG,
            facts.metrics.direction_beats_base_rate,
            calm_enough,
            drift is not None and drift.verdict == "NoDrift",
        )
    )
    if points == 4:
        return "HIGH"
    return "MEDIUM" if points >= 2 else "LOW"


def _skill_reason(skill: float | None, low: float | None, high: float | None) -> str:
    if skill is None or low is None or high is None:
        return "the model's skill against the random walk is unknown"
    return (
        f"the model's skill against the random walk ({skill:+.4f}, 95% interval {low:+.4f} to {high:+.4f}) "
        "is indistinguishable from zero"
    )
