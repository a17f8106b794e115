"""The critic: checks a draft against the facts and returns concrete fixes (pure, deterministic).

Three checks, the same ones the agent evaluation scores (`scoring`):

* numbers: every number in the prose must be one of the facts (a price, a change, a metric, a count, a
  date, or a number in a news headline), at the precision it is written with ("313" and "313.33" both
  match 313.3299); ISO dates must be dates of the facts. A number that matches nothing is an objection
  that names the nearest fact.
* stance: the draft's restated stance and confidence must be the computed ones, and the prose must not
  assert another stance ("bullish" when the call is NEUTRAL) or another confidence ("high confidence"
  when it is LOW). Negated mentions ("not bullish", "neither bullish nor bearish") do not count.
* sections: every prose part is non-empty and every required section heading is in the rendered report.

Regular expressions read the *draft's prose* here, which is the critic's job; the stance itself is never
parsed out of text (it comes from `stance.compute_stance`, and the LLM restates it in a typed field).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from stockops.agent.facts import AnalysisFacts
from stockops.agent.report import (
    PROSE_SECTIONS,
    REQUIRED_SECTIONS,
    Critique,
    DraftProse,
    Objection,
)
from stockops.agent.scoring import score_checks
from stockops.agent.stance import StanceCall

# Numbers that define the facts rather than state them: the 1/5/20-session windows, the 10 % and 90 %
# interval bounds and the 95 % skill interval.
DEFINITION_NUMBERS = (1.0, 5.0, 20.0, 10.0, 90.0, 95.0)
# allowed in prose, but never what a fix suggests in place of a wrong number
_NOT_SUGGESTED = ("year of", "day of", "definition", "session ", "horizon", "model version")

_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9_.])[-+−]?\$?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:st|nd|rd|th)?(?![A-Za-z0-9_])"
)
_NEGATION = re.compile(r"\b(not|no|nor|neither|never|without|isn't|aren't|wasn't|cannot|can't|n't)\b")
_STANCE_WORDS = {
    "BULLISH": re.compile(r"\b(bullish|bull case|buy signal|strong buy)\b", re.IGNORECASE),
    "BEARISH": re.compile(r"\b(bearish|bear case|sell signal|strong sell)\b", re.IGNORECASE),
    "NEUTRAL": re.compile(r"\b(neutral)\b", re.IGNORECASE),
}
_CONFIDENCE_WORDS = re.compile(
    r"\b(low|medium|moderate|high)[- ]confidence\b"
    r"|\bconfidence (?:is |of |level )?(low|medium|moderate|high)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class FactNumber:
    label: str
    value: float


def fact_numbers(facts: AnalysisFacts, call: StanceCall) -> list[FactNumber]:
    """Every number a report may state, labelled for the critic's fix messages."""
    f, m, mk = facts.forecast, facts.metrics, facts.market
    out: list[FactNumber] = [FactNumber("last close", f.last_close), FactNumber("horizon", f.horizon_days)]
    for k, p in enumerate(f.points, start=1):
        out.append(FactNumber(f"median {p.date}", p.close))
        out.append(FactNumber(f"change to {p.date}", p.change_pct(f.last_close)))
        if p.low is not None:
            out.append(FactNumber(f"10% bound {p.date}", p.low))
        if p.high is not None:
            out.append(FactNumber(f"90% bound {p.date}", p.high))
        out.append(FactNumber(f"session {k}", k))
    bounds = f.interval_change_pct
    if bounds is not None:
        out += [FactNumber("10% bound change", bounds[0]), FactNumber("90% bound change", bounds[1])]
    if f.model_version.isdigit():
        out.append(FactNumber("model version", float(f.model_version)))
    for label, ratio in (
        ("skill", m.skill),
        ("skill 95% low", m.skill_ci_low),
        ("skill 95% high", m.skill_ci_high),
    ):
        if ratio is not None:
            out += [FactNumber(label, ratio), FactNumber(f"{label} (percent)", 100.0 * ratio)]
    for label, pct in (
        ("directional accuracy", m.directional_accuracy_pct),
        ("base rate", m.base_rate_pct),
        ("interval coverage", m.interval_coverage_pct),
        ("drifted features", m.drift.share_pct if m.drift else None),
        ("1-session change", mk.change_1d_pct),
        ("5-session change", mk.change_5d_pct),
        ("20-session change", mk.change_20d_pct),
        ("20-day volatility", mk.volatility_20d_pct),
        ("volatility percentile", mk.volatility_percentile),
    ):
        if pct is not None:
            out += [FactNumber(label, pct), FactNumber(f"{label} (fraction)", pct / 100.0)]
    if m.directional_count is not None:
        out.append(FactNumber("directional calls", m.directional_count))
    out += [
        FactNumber("history sessions", mk.history_sessions),
        FactNumber("market last close", mk.last_close),
        FactNumber("sessions since the data date", facts.freshness.sessions_since_as_of),
        FactNumber("expected change", call.expected_change_pct),
    ]
    if call.sigma_pct is not None:
        out.append(FactNumber("sigma", call.sigma_pct))
    if call.z is not None:
        out.append(FactNumber("z", call.z))
    for day in fact_dates(facts):
        out += [FactNumber(f"year of {day}", day.year), FactNumber(f"day of {day}", day.day)]
    for item in mk.news.items:
        for text, _ in _numbers_in(item.title):
            out.append(FactNumber(f"headline '{item.title[:40]}'", _to_float(text)))
    out += [FactNumber("definition", v) for v in DEFINITION_NUMBERS]
    return [n for n in out if math.isfinite(n.value)]


def fact_dates(facts: AnalysisFacts) -> set[dt.date]:
    f, m = facts.forecast, facts.metrics
    days = {f.as_of, facts.market.as_of, facts.freshness.today, *(p.date for p in f.points)}
    days |= {d for d in (m.test_start, m.test_end) if d is not None}
    return days


def review(prose: DraftProse, facts: AnalysisFacts, call: StanceCall, markdown: str) -> Critique:
    """All checks on one draft; approved when nothing is objected to."""
    objections: list[Objection] = []
    numbers_total, numbers_bad = _check_numbers(prose, facts, call, objections)
    stance_total, stance_bad = _check_stance(prose, call, objections)
    sections_total, sections_bad = _check_sections(prose, markdown, objections)
    score = score_checks(
        numbers=(numbers_total, numbers_bad),
        stance=(stance_total, stance_bad),
        sections=(sections_total, sections_bad),
    )
    return Critique(approved=not objections, objections=tuple(objections), score=score)


def prose_parts(prose: DraftProse) -> Iterable[tuple[str, str]]:
    """(section, text) for every prose field (list fields item by item)."""
    for field, section in PROSE_SECTIONS.items():
        value = getattr(prose, field)
        for text in value if isinstance(value, list) else [value]:
            yield section, text


def _check_numbers(
    prose: DraftProse, facts: AnalysisFacts, call: StanceCall, objections: list[Objection]
) -> tuple[int, int]:
    known = fact_numbers(facts, call)
    dates = fact_dates(facts)
    total = bad = 0
    for section, text in prose_parts(prose):
        for match in _DATE.finditer(text):
            total += 1
            try:
                day = dt.date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                day = None
            if day not in dates:
                bad += 1
                objections.append(
                    Objection(
                        check="numbers",
                        section=section,
                        problem=f"the date {match[0]} is not a date of the facts.",
                        fix=f"use the data date {facts.forecast.as_of} or a forecast date "
                        f"({facts.forecast.points[0].date} to {facts.forecast.end.date}), or remove it.",
                    )
                )
        for token, decimals in _numbers_in(_DATE.sub(" ", text)):
            total += 1
            value = _to_float(token)
            if not any(_matches(value, decimals, n.value) for n in known):
                bad += 1
                stated = [n for n in known if not n.label.startswith(_NOT_SUGGESTED)] or known
                nearest = min(stated, key=lambda n: abs(abs(n.value) - abs(value)))
                objections.append(
                    Objection(
                        check="numbers",
                        section=section,
                        problem=f"the number {token} is not in the facts.",
                        fix=f"state a fact instead (nearest: {nearest.label} = {nearest.value:.4g}) "
                        "or remove the number.",
                    )
                )
    return total, bad


def _check_stance(prose: DraftProse, call: StanceCall, objections: list[Objection]) -> tuple[int, int]:
    total = bad = 0
    why = call.reasons[0] if call.reasons else "see the facts"
    total += 1
    if prose.stance != call.stance:
        bad += 1
        objections.append(
            Objection(
                check="stance",
                section="Stance",
                problem=f"the draft's stance is {prose.stance} but the facts give {call.stance} ({why}).",
                fix=f"set stance to {call.stance} and write prose that agrees with it.",
            )
        )
    total += 1
    if prose.confidence != call.confidence:
        bad += 1
        objections.append(
            Objection(
                check="confidence",
                section="Stance",
                problem=f"the draft's confidence is {prose.confidence} but the facts give {call.confidence}.",
                fix=f"set confidence to {call.confidence}.",
            )
        )
    for section, text in prose_parts(prose):
        for stance, pattern in _STANCE_WORDS.items():
            if stance == call.stance:
                continue
            for match in pattern.finditer(text):
                if _negated(text, match.start()):
                    continue
                total += 1
                bad += 1
                objections.append(
                    Objection(
                        check="stance",
                        section=section,
                        problem=f"the prose says '{match[0]}' but the stance is {call.stance} ({why}).",
                        fix=f"remove '{match[0]}'; describe the call as {call.stance}"
                        + (" (no directional call)" if call.stance == "NEUTRAL" else "")
                        + ".",
                    )
                )
        for match in _CONFIDENCE_WORDS.finditer(text):
            said = (match[1] or match[2]).upper().replace("MODERATE", "MEDIUM")
            if said == call.confidence or _negated(text, match.start()):
                continue
            total += 1
            bad += 1
            objections.append(
                Objection(
                    check="confidence",
                    section=section,
                    problem=f"the prose says '{match[0]}' but the confidence is {call.confidence}.",
                    fix=f"say {call.confidence.lower()} confidence, or leave it to the Stance section.",
                )
            )
    return total, bad


def _check_sections(prose: DraftProse, markdown: str, objections: list[Objection]) -> tuple[int, int]:
    total = bad = 0
    for field, section in PROSE_SECTIONS.items():
        total += 1
        value = getattr(prose, field)
        empty = not any(v.strip() for v in value) if isinstance(value, list) else not value.strip()
        if empty:
            bad += 1
            objections.append(
                Objection(
                    check="sections",
                    section=section,
                    problem=f"{section} is empty.",
                    fix=f"write the {section} section from the facts.",
                )
            )
    headings = {line[3:].strip() for line in markdown.splitlines() if line.startswith("## ")}
    for section in REQUIRED_SECTIONS:
        total += 1
        if section not in headings:
            bad += 1
            objections.append(
                Objection(
                    check="sections",
                    section=section,
                    problem=f"the report has no '{section}' section.",
                    fix=f"add the '## {section}' section.",
                )
            )
    return total, bad


def _numbers_in(text: str) -> list[tuple[str, int]]:
    """(number as written, decimals) for each number in ``text`` (signs and $ dropped)."""
    found = []
    for match in _NUMBER.finditer(text):
        integer, fraction = match[1], match[2] or ""
        found.append((integer + fraction, max(len(fraction) - 1, 0)))
    return found


def _to_float(token: str) -> float:
    return float(token.replace(",", ""))


def _matches(value: float, decimals: int, fact: float) -> bool:
    """``value`` written with ``decimals`` decimals is ``fact`` rounded to that precision."""
    return abs(abs(fact) - abs(value)) <= 10.0**-decimals * 0.5 + 1e-9 * max(1.0, abs(fact))


def _negated(text: str, start: int) -> bool:
    """A negation among the four words before ``start`` ("no reason to be bullish")."""
    before = text[:start].split()[-4:]
    return bool(_NEGATION.search(" ".join(before).lower()))
