"""Stance and confidence by code, over a test set of forecast situations (up, down, flat within noise,
high volatility, stale, synthetic, drifted, no skill...), and the template writer on each: its draft
restates the computed call and the critic approves it with a full score."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from stockops.agent.critic import review
from stockops.agent.facts import (
    AnalysisFacts,
    DriftFacts,
    ForecastFacts,
    ForecastPointFact,
    Freshness,
    MarketFacts,
    MetricFacts,
    NewsFacts,
    NewsItem,
)
from stockops.agent.report import build_report, render_markdown
from stockops.agent.stance import compute_stance
from stockops.agent.template_writer import ordinal, write_template

AS_OF = dt.date(2024, 5, 31)
DATES = [dt.date(2024, 6, d) for d in (3, 4, 5, 6, 7)]


def make_facts(
    *,
    change: float = 3.0,
    half_width: float | None = 2.0,
    skill: float | None = 0.05,
    ci: tuple[float, float] | None = (0.01, 0.09),
    no_edge: bool = False,
    synthetic: bool = False,
    stale_sessions: int = 0,
    regime: str | None = "normal",
    vol: float | None = 22.0,
    accuracy: float = 58.0,
    base: float = 52.0,
    calls: int = 400,
    drift: str | None = "NoDrift",
    question: str = "Will it go up this week?",
    news: tuple[str, ...] = (),
) -> AnalysisFacts:
    """A ticker at 100 whose horizon-end forecast is ``change`` % with a 10-90 % band of ``change`` +-
    ``half_width`` % (the path moves linearly there)."""
    last = 187.25
    points = []
    for k, day in enumerate(DATES, start=1):
        c = change * k / 5
        hw = None if half_width is None else half_width * k / 5
        points.append(
            ForecastPointFact(
                date=day,
                close=last * (1 + c / 100),
                low=None if hw is None else last * (1 + (c - hw) / 100),
                high=None if hw is None else last * (1 + (c + hw) / 100),
            )
        )
    if no_edge:
        points = [p.model_copy(update={"close": last}) for p in points]
    return AnalysisFacts(
        ticker="AAPL",
        question=question,
        forecast=ForecastFacts(
            ticker="AAPL",
            model_name="stockops-aapl",
            model_version="7",
            as_of=AS_OF,
            last_close=last,
            points=tuple(points),
            no_edge=no_edge,
            synthetic=synthetic,
            data_source="csv:AAPL.csv",
        ),
        metrics=MetricFacts(
            skill=skill,
            skill_ci_low=None if ci is None else ci[0],
            skill_ci_high=None if ci is None else ci[1],
            directional_accuracy_pct=accuracy,
            directional_count=calls,
            base_rate_pct=base,
            interval_coverage_pct=79.5,
            test_start=dt.date(2023, 1, 3),
            test_end=dt.date(2024, 5, 24),
            drift=None if drift is None else DriftFacts(verdict=drift, share_pct=8.3),  # type: ignore[arg-type]
        ),
        market=MarketFacts(
            as_of=AS_OF,
            last_close=last,
            change_1d_pct=0.41,
            change_5d_pct=-1.27,
            change_20d_pct=4.86,
            volatility_20d_pct=vol,
            volatility_percentile=None
            if regime is None
            else {"calm": 12, "normal": 50, "elevated": 80, "high": 96}[regime],
            regime=regime,  # type: ignore[arg-type]
            history_sessions=2520,
            news=NewsFacts(source="file news.json", items=tuple(NewsItem(title=t) for t in news))
            if news
            else NewsFacts(source="no news source configured"),
            synthetic=synthetic,
        ),
        freshness=Freshness(today=dt.date(2024, 6, 3), sessions_since_as_of=stale_sessions),
    )


# (id, facts arguments, stance, confidence)
SITUATIONS: list[tuple[str, dict[str, Any], str, str]] = [
    ("up strong, skilled, calm", {}, "BULLISH", "HIGH"),
    ("down strong, skilled", {"change": -3.0}, "BEARISH", "HIGH"),
    ("up moderate (z 0.64)", {"change": 1.0}, "BULLISH", "MEDIUM"),
    ("down moderate (z -0.64)", {"change": -1.0}, "BEARISH", "MEDIUM"),
    ("flat within noise, up", {"change": 0.2}, "NEUTRAL", "MEDIUM"),
    ("flat within noise, down", {"change": -0.3}, "NEUTRAL", "MEDIUM"),
    ("up but skill interval includes 0", {"ci": (-0.01, 0.06), "skill": 0.02}, "NEUTRAL", "LOW"),
    (
        "down but skill below the random walk",
        {"change": -3.0, "skill": -0.05, "ci": (-0.09, -0.01)},
        "NEUTRAL",
        "LOW",
    ),
    ("no edge: forecast is the last close", {"no_edge": True}, "NEUTRAL", "LOW"),
    ("skill unknown", {"skill": None, "ci": None}, "NEUTRAL", "LOW"),
    ("up strong, high volatility regime", {"regime": "high", "vol": 61.0}, "BULLISH", "MEDIUM"),
    (
        "down strong, high volatility regime",
        {"change": -3.0, "regime": "high", "vol": 61.0},
        "BEARISH",
        "MEDIUM",
    ),
    ("flat, high volatility regime", {"change": 0.1, "regime": "high", "vol": 61.0}, "NEUTRAL", "LOW"),
    ("big move inside a very wide interval", {"change": 3.0, "half_width": 10.0}, "NEUTRAL", "MEDIUM"),
    ("up strong, stale data (10 sessions)", {"stale_sessions": 10}, "NEUTRAL", "LOW"),
    ("up strong, stale data (3 sessions)", {"stale_sessions": 3}, "NEUTRAL", "LOW"),
    ("up strong, 2 sessions old is still fresh", {"stale_sessions": 2}, "BULLISH", "HIGH"),
    ("synthetic prices", {"synthetic": True}, "NEUTRAL", "LOW"),
    ("up strong, inputs drifted", {"drift": "Drifted"}, "BULLISH", "LOW"),
    ("up strong, drift never checked", {"drift": None}, "BULLISH", "MEDIUM"),
    ("up strong, direction no better than base rate", {"accuracy": 53.0}, "BULLISH", "MEDIUM"),
    ("no interval: sigma from volatility", {"half_width": None, "vol": 18.0}, "BULLISH", "HIGH"),
    ("no interval and no volatility", {"half_width": None, "vol": None, "regime": None}, "NEUTRAL", "LOW"),
    ("exactly half a sigma is directional", {"change": 0.5 * 2.0 / 1.2816}, "BULLISH", "MEDIUM"),
    ("skill just above zero", {"ci": (0.0005, 0.03), "skill": 0.015}, "BULLISH", "HIGH"),
    (
        "down moderate, elevated volatility",
        {"change": -1.0, "regime": "elevated", "vol": 35.0},
        "BEARISH",
        "MEDIUM",
    ),
    (
        "down, high vol, drifted, few calls",
        {"change": -3.0, "regime": "high", "drift": "Drifted", "calls": 20},
        "BEARISH",
        "LOW",
    ),
    (
        "volatility question, flat",
        {"change": 0.0, "question": "Should I worry about volatility this week?"},
        "NEUTRAL",
        "MEDIUM",
    ),
]


def test_the_test_set_is_large_enough() -> None:
    assert len(SITUATIONS) >= 20


@pytest.mark.parametrize(
    ("kwargs", "stance", "confidence"), [s[1:] for s in SITUATIONS], ids=[s[0] for s in SITUATIONS]
)
def test_stance_and_confidence_follow_the_facts(kwargs: dict[str, Any], stance: str, confidence: str) -> None:
    facts = make_facts(**kwargs)
    call = compute_stance(facts)
    assert (call.stance, call.confidence) == (stance, confidence), call.reasons
    if call.stance == "BULLISH":
        assert call.expected_change_pct > 0
    if call.stance == "BEARISH":
        assert call.expected_change_pct < 0
    assert call.reasons


@pytest.mark.parametrize("kwargs", [s[1] for s in SITUATIONS], ids=[s[0] for s in SITUATIONS])
def test_template_draft_restates_the_call_and_passes_the_critic(kwargs: dict[str, Any]) -> None:
    facts = make_facts(**kwargs, news=("Apple unveils 3 new chips at WWDC 2024",))
    call = compute_stance(facts)
    draft = write_template(facts, call)
    assert (draft.stance, draft.confidence) == (call.stance, call.confidence)
    markdown = render_markdown(build_report(facts, call, draft, generator="template"), facts)
    critique = review(draft, facts, call, markdown)
    assert critique.approved, [o.line() for o in critique.objections]
    assert critique.score.overall == 1.0
    assert critique.score.numbers_checked > 5  # the prose does state numbers, and all are facts


def test_the_same_facts_always_give_the_same_call() -> None:
    calls = {compute_stance(make_facts(change=1.7)).model_dump_json() for _ in range(5)}
    assert len(calls) == 1


def test_a_stale_forecast_says_how_old_it_is() -> None:
    call = compute_stance(make_facts(stale_sessions=12))
    assert any("12 sessions old" in reason for reason in call.reasons)


def test_template_report_says_it_is_not_an_llm() -> None:
    facts = make_facts()
    call = compute_stance(facts)
    markdown = render_markdown(
        build_report(facts, call, write_template(facts, call), generator="template"), facts
    )
    assert "template writer" in markdown
    assert "not an LLM's analysis" in markdown


def test_synthetic_facts_carry_a_banner() -> None:
    facts = make_facts(synthetic=True)
    call = compute_stance(facts)
    markdown = render_markdown(
        build_report(facts, call, write_template(facts, call), generator="template"), facts
    )
    assert "SYNTHETIC DATA" in markdown


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (21, "21st"),
        (92, "92nd"),
        (100, "100th"),
    ],
)
def test_ordinals(n: int, text: str) -> None:
    assert ordinal(n) == text
