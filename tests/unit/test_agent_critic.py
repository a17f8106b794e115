"""The critic: numbers against the facts, stance and confidence against the computed call, required
sections; each objection carries a concrete fix; the score follows the checks."""

from __future__ import annotations

import datetime as dt

import pytest

from stockops.agent.critic import fact_numbers, review
from stockops.agent.facts import (
    AnalysisFacts,
    ForecastFacts,
    ForecastPointFact,
    Freshness,
    MarketFacts,
    MetricFacts,
    NewsFacts,
    NewsItem,
)
from stockops.agent.report import DraftProse, build_report, render_markdown
from stockops.agent.scoring import score_checks, share_passed
from stockops.agent.stance import StanceCall, compute_stance
from stockops.agent.template_writer import write_template


@pytest.fixture
def facts() -> AnalysisFacts:
    """No skill against the random walk: the call is NEUTRAL / LOW."""
    last = 313.33
    days = [dt.date(2026, 8, d) for d in (10, 11, 12, 13, 14)]
    return AnalysisFacts(
        ticker="AAPL",
        question="Should I worry about volatility this week?",
        forecast=ForecastFacts(
            ticker="AAPL",
            model_name="stockops-aapl",
            model_version="1",
            as_of=dt.date(2026, 8, 7),
            last_close=last,
            points=tuple(
                ForecastPointFact(date=d, close=last, low=last - 3 - k, high=last + 4 + k)
                for k, d in enumerate(days)
            ),
        ),
        metrics=MetricFacts(
            skill=0.0011,
            skill_ci_low=-0.0028,
            skill_ci_high=0.0049,
            directional_accuracy_pct=52.5,
            directional_count=200,
            base_rate_pct=55.86,
            interval_coverage_pct=76.3,
        ),
        market=MarketFacts(
            as_of=dt.date(2026, 8, 7),
            last_close=last,
            change_5d_pct=1.43,
            volatility_20d_pct=38.0,
            volatility_percentile=92.0,
            regime="high",
            history_sessions=1356,
            news=NewsFacts(source="file news.json", items=(NewsItem(title="Apple sells 45 million phones"),)),
        ),
        freshness=Freshness(today=dt.date(2026, 8, 10), sessions_since_as_of=0),
    )


@pytest.fixture
def call(facts: AnalysisFacts) -> StanceCall:
    return compute_stance(facts)


def draft(facts: AnalysisFacts, call: StanceCall, **changes: object) -> DraftProse:
    return write_template(facts, call).model_copy(update=changes)


def critique_of(prose: DraftProse, facts: AnalysisFacts, call: StanceCall):  # type: ignore[no-untyped-def]
    markdown = render_markdown(build_report(facts, call, prose, generator="llm:test"), facts)
    return review(prose, facts, call, markdown)


def test_the_fixture_is_neutral_low(call: StanceCall) -> None:
    assert (call.stance, call.confidence) == ("NEUTRAL", "LOW")


def test_bullish_prose_on_a_neutral_call_is_rejected_with_a_fix(
    facts: AnalysisFacts, call: StanceCall
) -> None:
    prose = draft(facts, call, summary="AAPL looks bullish: buy before Friday.")
    critique = critique_of(prose, facts, call)
    assert not critique.approved
    [objection] = [o for o in critique.objections if o.check == "stance"]
    assert objection.section == "Summary"
    assert "'bullish'" in objection.problem and "NEUTRAL" in objection.problem
    assert "remove 'bullish'" in objection.fix and "NEUTRAL" in objection.fix
    assert critique.score.stance < 1.0


def test_a_restated_stance_that_differs_is_rejected(facts: AnalysisFacts, call: StanceCall) -> None:
    prose = draft(facts, call, stance="BULLISH", confidence="HIGH")
    critique = critique_of(prose, facts, call)
    checks = {o.check: o for o in critique.objections}
    assert "set stance to NEUTRAL" in checks["stance"].fix
    assert "set confidence to LOW" in checks["confidence"].fix
    assert critique.score.stance < 1.0


@pytest.mark.parametrize(
    "text",
    [
        "There is no reason to be bullish here.",
        "The model is neither bullish nor bearish.",
        "This is not a bearish signal.",
        "The call is neutral.",
    ],
)
def test_negated_or_agreeing_stance_words_pass(facts: AnalysisFacts, call: StanceCall, text: str) -> None:
    critique = critique_of(draft(facts, call, summary=text), facts, call)
    assert not [o for o in critique.objections if o.check == "stance"], critique.objections


def test_a_contradicting_confidence_is_rejected(facts: AnalysisFacts, call: StanceCall) -> None:
    critique = critique_of(draft(facts, call, answer="We say this with high confidence."), facts, call)
    [objection] = [o for o in critique.objections if o.check == "confidence"]
    assert "'high confidence'" in objection.problem and "low confidence" in objection.fix


def test_an_invented_price_is_rejected_naming_the_nearest_fact(
    facts: AnalysisFacts, call: StanceCall
) -> None:
    critique = critique_of(draft(facts, call, answer="Expect 350.00 by Friday."), facts, call)
    [objection] = [o for o in critique.objections if o.check == "numbers"]
    assert "350.00" in objection.problem
    assert "nearest" in objection.fix
    assert critique.score.numbers < 1.0


def test_an_invented_date_is_rejected(facts: AnalysisFacts, call: StanceCall) -> None:
    critique = critique_of(draft(facts, call, answer="By 2026-09-30 it will be higher."), facts, call)
    assert any("2026-09-30" in o.problem for o in critique.objections)


@pytest.mark.parametrize(
    "text",
    [
        "The last close was 313.33.",
        "The last close was about 313.",
        "Volatility is 38.00% annualised, the 92nd percentile.",
        "Skill is +0.0011 (0.11%), with a 95% interval from -0.0028 to +0.0049.",
        "Directional accuracy 52.5% against 55.86% over 200 calls, data date 2026-08-07.",
        "A headline says Apple sold 45 million phones.",
        "Over 5 sessions the price moved +1.43%; the 10-90% band is wide.",
    ],
)
def test_numbers_from_the_facts_pass_at_the_precision_written(
    facts: AnalysisFacts, call: StanceCall, text: str
) -> None:
    critique = critique_of(draft(facts, call, answer=text), facts, call)
    assert not [o for o in critique.objections if o.check == "numbers"], critique.objections


def test_a_wrong_rounding_is_rejected(facts: AnalysisFacts, call: StanceCall) -> None:
    critique = critique_of(draft(facts, call, answer="The last close was 313.40."), facts, call)
    assert [o for o in critique.objections if o.check == "numbers"]


def test_empty_sections_are_rejected(facts: AnalysisFacts, call: StanceCall) -> None:
    critique = critique_of(draft(facts, call, risks=[], limitations=["  "], answer=""), facts, call)
    empty = {o.section for o in critique.objections if o.check == "sections"}
    assert empty == {"Risks", "What the model cannot know", "Answer"}
    assert critique.score.sections < 1.0


def test_missing_headings_are_rejected(facts: AnalysisFacts, call: StanceCall) -> None:
    prose = draft(facts, call)
    markdown = render_markdown(build_report(facts, call, prose, generator="template"), facts)
    critique = review(prose, facts, call, markdown.replace("## Risks", "## Dangers"))
    assert any(o.section == "Risks" and "no 'Risks' section" in o.problem for o in critique.objections)


def test_fact_numbers_include_percent_and_fraction_forms(facts: AnalysisFacts, call: StanceCall) -> None:
    values = {round(n.value, 6) for n in fact_numbers(facts, call)}
    assert {0.525, 52.5, 0.11, 313.33, 45.0} <= values


def test_score_is_the_mean_of_the_shares() -> None:
    score = score_checks(numbers=(10, 1), stance=(2, 0), sections=(13, 13))
    assert (score.numbers, score.stance, score.sections) == (0.9, 1.0, 0.0)
    assert score.overall == pytest.approx((0.9 + 1.0 + 0.0) / 3, abs=1e-4)
    assert share_passed(0, 0) == 1.0
    with pytest.raises(ValueError):
        share_passed(1, 2)


def test_remaining_objections_are_printed_in_the_report(facts: AnalysisFacts, call: StanceCall) -> None:
    prose = draft(facts, call, summary="Bullish!")
    critique = critique_of(prose, facts, call)
    report = build_report(
        facts,
        call,
        prose,
        generator="llm:test",
        objections=list(critique.objections),
        revisions=2,
        score=critique.score,
    )
    markdown = render_markdown(report, facts)
    assert "## Critic's remaining objections" in markdown
    assert "after 2 revision(s)" in markdown
    assert "remove 'Bullish'" in markdown
    assert report.stance == "NEUTRAL"  # the call is never the draft's
