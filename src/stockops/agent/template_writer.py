"""The deterministic writer used when no LLM endpoint is configured: the same facts, filled into fixed
sentences. Its reports say ``generator: template`` and are never presented as an LLM's analysis.

It is also the reference the critic is tested against: every number it writes is a fact at the
precision the report prints it, so a template draft is always approved.
"""

from __future__ import annotations

import re

from stockops.agent.facts import AnalysisFacts
from stockops.agent.report import DraftProse
from stockops.agent.stance import StanceCall

_VOLATILITY_QUESTION = re.compile(r"\b(volatil|risk|swing|worr|crash|drawdown|safe)", re.IGNORECASE)


def write_template(facts: AnalysisFacts, call: StanceCall) -> DraftProse:
    f, mk = facts.forecast, facts.market
    end = f.end
    bounds = f.interval_change_pct
    interval = (
        f", with a 10-90% range of {end.low:.2f} to {end.high:.2f} ({bounds[0]:+.2f}% to {bounds[1]:+.2f}%)"
        if bounds is not None and end.low is not None and end.high is not None
        else ""
    )
    path = (
        f"{f.model_name} version {f.model_version} expects {end.close:.2f} on {end.date} "
        f"({call.expected_change_pct:+.2f}% from the {f.as_of} close of {f.last_close:.2f}){interval}."
    )
    summary = f"{call.stance} with {call.confidence.lower()} confidence: {call.reasons[0]}. {path}"

    vol = _volatility_sentence(facts)
    if _VOLATILITY_QUESTION.search(facts.question):
        answer = f"{vol} {path} The call is {call.stance} because {call.reasons[0]}."
    else:
        answer = f"{path} The call is {call.stance} because {call.reasons[0]}. {vol}"

    moves = ", ".join(
        f"{value:+.2f}% over {label}"
        for value, label in (
            (mk.change_1d_pct, "1 session"),
            (mk.change_5d_pct, "5 sessions"),
            (mk.change_20d_pct, "20 sessions"),
        )
        if value is not None
    )
    news = (
        f"Headlines ({mk.news.source}): " + "; ".join(item.title for item in mk.news.items[:3]) + "."
        if mk.news.items
        else f"No headlines: {mk.news.source}."
    )
    market_view = f"The price moved {moves or 'by an unknown amount'}. {vol} {news}"
    return DraftProse(
        stance=call.stance,
        confidence=call.confidence,
        summary=summary[:600],
        answer=answer[:800],
        market_view=market_view[:600],
        risks=_risks(facts, call),
        limitations=_limitations(facts),
    )


def _volatility_sentence(facts: AnalysisFacts) -> str:
    mk = facts.market
    if mk.volatility_20d_pct is None:
        return "Recent volatility is unknown (too few sessions)."
    rank = (
        f", at the {ordinal(round(mk.volatility_percentile))} percentile of {mk.history_sessions} sessions "
        f"({mk.regime} regime)"
        if mk.volatility_percentile is not None
        else ""
    )
    return f"20-day volatility is {mk.volatility_20d_pct:.2f}% annualised{rank}."


def _risks(facts: AnalysisFacts, call: StanceCall) -> list[str]:
    f, m, mk = facts.forecast, facts.metrics, facts.market
    risks: list[str] = []
    if not m.beats_random_walk:
        risks.append("The model does not beat the random walk with confidence: treat its path as noise.")
    bounds = f.interval_change_pct
    if bounds is not None:
        risks.append(
            f"The 10-90% interval at {f.end.date} spans {bounds[0]:+.2f}% to {bounds[1]:+.2f}%: "
            "one in five outcomes falls outside it."
        )
    if mk.regime in ("elevated", "high"):
        risks.append(f"Volatility is {mk.regime}: moves larger than usual are more likely.")
    if m.drift is not None and m.drift.verdict == "Drifted":
        risks.append(
            "Input drift: recent features differ from the training data, so past skill may not hold."
        )
    if facts.freshness.stale:
        risks.append(
            f"Stale data: {facts.freshness.sessions_since_as_of} sessions have closed since {f.as_of}."
        )
    if f.synthetic or mk.synthetic:
        risks.append("Synthetic prices: nothing here is about the real market.")
    return risks[:5] or ["A surprise (earnings, guidance, macro news) can move the price past the interval."]


def _limitations(facts: AnalysisFacts) -> list[str]:
    m = facts.metrics
    coverage = (
        f" (it held {m.interval_coverage_pct:.2f}% of test outcomes)" if m.interval_coverage_pct else ""
    )
    return [
        "It sees only this ticker's past prices and volume: no earnings, news, macro data or order flow.",
        f"Events after {facts.forecast.as_of} (earnings dates, central-bank meetings) are unknown to it.",
        f"Its interval is calibrated on past data{coverage} and can be too narrow when the regime changes.",
        "This is a model's forecast, not investment advice.",
    ]


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, ..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
