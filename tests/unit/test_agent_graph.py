"""The LangGraph team's control flow: analysts in parallel before the writer, the bounded revise loop,
the best draft with the critic's remaining objections, unusable drafts.

The writers here are scripted drafts (a list of answers, one per round) to pin the loop; the real LLM
writes in tests/component/test_agent_llm.py. The facts come from the stance test set's builder pattern.
"""

from __future__ import annotations

import datetime as dt

import pytest

from stockops.agent.errors import LLMBadOutput
from stockops.agent.facts import (
    AnalysisFacts,
    ForecastFacts,
    ForecastPointFact,
    Freshness,
    MarketFacts,
    MetricFacts,
    NewsFacts,
)
from stockops.agent.graph import recursion_limit, run_graph
from stockops.agent.llm import WriterOutputError
from stockops.agent.nodes import AnalysisDeps
from stockops.agent.report import Critique, DraftProse
from stockops.agent.stance import StanceCall
from stockops.agent.template_writer import write_template

LAST = 150.0
FORECAST = ForecastFacts(
    ticker="MSFT",
    model_name="stockops-msft",
    model_version="4",
    as_of=dt.date(2024, 5, 31),
    last_close=LAST,
    points=tuple(
        ForecastPointFact(
            date=dt.date(2024, 6, d),
            close=LAST * (1 + 0.006 * k),
            low=LAST * (1 + 0.006 * k - 0.02),
            high=LAST * (1 + 0.006 * k + 0.02),
        )
        for k, d in enumerate((3, 4, 5, 6, 7), start=1)
    ),
)
METRICS = MetricFacts(
    skill=0.04,
    skill_ci_low=0.01,
    skill_ci_high=0.07,
    directional_accuracy_pct=57.0,
    directional_count=300,
    base_rate_pct=52.0,
)
MARKET = MarketFacts(
    as_of=dt.date(2024, 5, 31),
    last_close=LAST,
    change_5d_pct=1.2,
    volatility_20d_pct=21.0,
    volatility_percentile=48.0,
    regime="normal",
    history_sessions=2520,
    news=NewsFacts(source="no news source configured"),
)


class ScriptedWriter:
    """Answers round k with ``script[k]``: "good" (the template draft), "bullish-neutral" (contradicts a
    NEUTRAL call), "bad-number", "bearish" (contradicts this BULLISH fixture) or "schema" (unusable)."""

    generator = "llm:scripted"

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.feedback: list[Critique | None] = []

    def write(
        self, facts: AnalysisFacts, call: StanceCall, feedback: Critique | None, previous: DraftProse | None
    ) -> DraftProse:
        self.feedback.append(feedback)
        kind = self.script[min(len(self.feedback) - 1, len(self.script) - 1)]
        good = write_template(facts, call)
        if kind == "good":
            return good
        if kind == "schema":
            raise WriterOutputError("the LLM's answer did not fit the report schema: missing field 'risks'")
        if kind == "bearish":
            return good.model_copy(update={"summary": "Bearish: the price will sink to 120.00."})
        if kind == "bad-number":
            return good.model_copy(update={"answer": "It will reach 171.00."})
        raise AssertionError(kind)


def run(script: list[str], max_revisions: int = 2) -> tuple[dict, ScriptedWriter, list[tuple[str, str]]]:
    writer = ScriptedWriter(script)
    events: list[tuple[str, str]] = []
    deps = AnalysisDeps(
        metrics=lambda f: METRICS,
        market=lambda f: MARKET,
        freshness=lambda f: Freshness(today=dt.date(2024, 6, 3), sessions_since_as_of=0),
        writer=writer,
        max_revisions=max_revisions,
        progress=lambda event, node, detail: events.append((event, node)),
    )
    final = run_graph(deps, {"ticker": "MSFT", "question": "Will it rise?", "forecast": FORECAST})
    return final, writer, events


def test_an_approved_first_draft_ends_the_loop() -> None:
    final, writer, events = run(["good"])
    report = final["report"]
    assert (report.stance, report.confidence) == ("BULLISH", "MEDIUM")  # drift never checked
    assert report.revisions == 0 and report.objections == []
    assert len(writer.feedback) == 1 and writer.feedback[0] is None
    assert report.score.overall == 1.0
    done = [node for event, node in events if event == "done"]
    assert done.index("writer") > done.index("forecast_analyst")
    assert done.index("writer") > done.index("market_analyst")
    assert done[-3:] == ["writer", "critic", "finish"]
    assert [t["node"] for t in final["trace"]].count("writer") == 1


def test_the_critic_sends_a_contradicting_draft_back_with_its_fixes() -> None:
    final, writer, _ = run(["bearish", "good"])
    assert final["report"].revisions == 1
    assert final["report"].objections == []
    feedback = writer.feedback[1]
    assert feedback is not None and not feedback.approved
    assert any(o.check == "stance" and "remove 'Bearish'" in o.fix for o in feedback.objections)
    assert any(o.check == "numbers" and "120.00" in o.problem for o in feedback.objections)


def test_the_loop_stops_after_max_revisions_with_the_best_draft_and_its_objections() -> None:
    final, writer, _ = run(["bearish", "bad-number", "bearish", "good"], max_revisions=2)
    report = final["report"]
    assert len(writer.feedback) == 3  # 1 + max_revisions rounds, never the fourth
    assert report.revisions == 2
    # the wrong number alone scores better than a contradicted stance plus a wrong number
    assert report.prose.answer == "It will reach 171.00."
    assert [o.check for o in report.objections] == ["numbers"]
    assert "## Critic's remaining objections" in final["markdown"]
    assert report.stance == "BULLISH"


def test_no_revision_allowed_means_one_round() -> None:
    final, writer, _ = run(["bearish"], max_revisions=0)
    assert len(writer.feedback) == 1
    assert final["report"].revisions == 0
    assert final["report"].objections


def test_an_unusable_draft_becomes_an_objection_and_another_round() -> None:
    final, writer, _ = run(["schema", "good"])
    assert final["report"].revisions == 1
    feedback = writer.feedback[1]
    assert feedback is not None
    assert [o.check for o in feedback.objections] == ["schema"]
    assert "JSON object" in feedback.objections[0].fix


def test_no_usable_draft_at_all_is_llm_bad_output() -> None:
    with pytest.raises(LLMBadOutput, match="no usable draft in 3 round"):
        run(["schema"], max_revisions=2)


@pytest.mark.parametrize("max_revisions", [0, 1, 5])
def test_the_recursion_limit_leaves_room_for_every_round(max_revisions: int) -> None:
    _, writer, _ = run(["bearish"], max_revisions=max_revisions)
    assert len(writer.feedback) == max_revisions + 1
    assert recursion_limit(max_revisions) < 2 * (max_revisions + 1) + 8
