"""The graph's nodes: thin functions over the state that call the analysts' sources, the writer and the
critic, each recording one trace entry (node, seconds, what it did).

The sources are injected (`AnalysisDeps`) so the same nodes run against the registry or a predictor,
yfinance news or a file, the template or an LLM, and so tests can pin each node.
"""

from __future__ import annotations

import datetime as dt
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from stockops.agent.critic import review
from stockops.agent.facts import AnalysisFacts, ForecastFacts, Freshness, MarketFacts, MetricFacts
from stockops.agent.llm import Writer, WriterOutputError
from stockops.agent.report import (
    Critique,
    DraftProse,
    Objection,
    Report,
    build_report,
    render_markdown,
)
from stockops.agent.scoring import score_checks
from stockops.agent.stance import StanceCall, compute_stance

Progress = Callable[[str, str, str], None]  # (event "start" | "done", node, detail)


@dataclass(frozen=True)
class AnalysisDeps:
    metrics: Callable[[ForecastFacts], MetricFacts]
    market: Callable[[ForecastFacts], MarketFacts]
    freshness: Callable[[ForecastFacts], Freshness]
    writer: Writer
    max_revisions: int
    progress: Progress | None = None


class Draft(TypedDict):
    prose: DraftProse | None
    error: str | None


class AnalysisState(TypedDict, total=False):
    ticker: str
    question: str
    forecast: ForecastFacts
    metrics: MetricFacts
    market: MarketFacts
    freshness: Freshness
    facts: AnalysisFacts
    call: StanceCall
    drafts: Annotated[list[Draft], operator.add]
    critiques: Annotated[list[Critique], operator.add]
    critique: Critique
    revision: int
    trace: Annotated[list[dict[str, Any]], operator.add]
    report: Report
    markdown: str


def _timed(deps: AnalysisDeps, node: str, work: Callable[[], tuple[dict[str, Any], str]]) -> dict[str, Any]:
    if deps.progress:
        deps.progress("start", node, "")
    started = time.perf_counter()
    update, detail = work()
    seconds = round(time.perf_counter() - started, 3)
    if deps.progress:
        deps.progress("done", node, detail)
    return {**update, "trace": [{"node": node, "seconds": seconds, "detail": detail}]}


def forecast_analyst(deps: AnalysisDeps) -> Callable[[AnalysisState], dict[str, Any]]:
    """What the model says (the forecast read before the cache lookup) and how much to trust it."""

    def node(state: AnalysisState) -> dict[str, Any]:
        def work() -> tuple[dict[str, Any], str]:
            forecast = state["forecast"]
            metrics = deps.metrics(forecast)
            freshness = deps.freshness(forecast)
            skill = "n/a" if metrics.skill is None else f"{metrics.skill:+.4f}"
            drift = metrics.drift.verdict if metrics.drift else "not checked"
            detail = (
                f"{forecast.model_name} v{forecast.model_version} as of {forecast.as_of}: "
                f"{forecast.expected_change_pct:+.2f}% in {forecast.horizon_days} sessions, "
                f"skill {skill}, drift {drift}"
            )
            return {"metrics": metrics, "freshness": freshness}, detail

        return _timed(deps, "forecast_analyst", work)

    return node


def market_analyst(deps: AnalysisDeps) -> Callable[[AnalysisState], dict[str, Any]]:
    def node(state: AnalysisState) -> dict[str, Any]:
        def work() -> tuple[dict[str, Any], str]:
            market = deps.market(state["forecast"])
            vol = "n/a" if market.volatility_20d_pct is None else f"{market.volatility_20d_pct:.1f}%"
            detail = (
                f"20-day volatility {vol} ({market.regime or 'no regime'}), "
                f"{len(market.news.items)} headline(s) from {market.news.source}"
            )
            return {"market": market}, detail

        return _timed(deps, "market_analyst", work)

    return node


def writer(deps: AnalysisDeps) -> Callable[[AnalysisState], dict[str, Any]]:
    def node(state: AnalysisState) -> dict[str, Any]:
        def work() -> tuple[dict[str, Any], str]:
            facts = state.get("facts") or AnalysisFacts(
                ticker=state["ticker"],
                question=state["question"],
                forecast=state["forecast"],
                metrics=state["metrics"],
                market=state["market"],
                freshness=state["freshness"],
            )
            call = state.get("call") or compute_stance(facts)
            drafts = state.get("drafts") or []
            revision = len(drafts)  # 0 for the first draft
            previous = next((d["prose"] for d in reversed(drafts) if d["prose"] is not None), None)
            try:
                prose = deps.writer.write(facts, call, state.get("critique"), previous)
                draft: Draft = {"prose": prose, "error": None}
            except WriterOutputError as exc:
                draft = {"prose": None, "error": str(exc)}
            detail = f"draft {revision + 1} by {deps.writer.generator}" + (
                f" (unusable: {draft['error'][:120]})" if draft["error"] else ""
            )
            return {"facts": facts, "call": call, "drafts": [draft], "revision": revision}, detail

        return _timed(deps, "writer", work)

    return node


def critic(deps: AnalysisDeps) -> Callable[[AnalysisState], dict[str, Any]]:
    def node(state: AnalysisState) -> dict[str, Any]:
        def work() -> tuple[dict[str, Any], str]:
            draft = state["drafts"][-1]
            critique = critique_draft(draft, state["facts"], state["call"], deps.writer.generator)
            detail = "approved" if critique.approved else f"{len(critique.objections)} objection(s)"
            return {
                "critique": critique,
                "critiques": [critique],
            }, f"{detail}, score {critique.score.overall:.2f}"

        return _timed(deps, "critic", work)

    return node


def critique_draft(draft: Draft, facts: AnalysisFacts, call: StanceCall, generator: str) -> Critique:
    """The critic's verdict on one draft (an unusable one fails every check)."""
    if draft["prose"] is None:
        objection = Objection(
            check="schema",
            section="(whole draft)",
            problem=draft["error"] or "no draft",
            fix="answer with one JSON object of the report schema, every field filled in.",
        )
        score = score_checks(numbers=(1, 1), stance=(1, 1), sections=(1, 1))
        return Critique(approved=False, objections=(objection,), score=score)
    markdown = render_markdown(build_report(facts, call, draft["prose"], generator=generator), facts)
    return review(draft["prose"], facts, call, markdown)


def route_after_critic(deps: AnalysisDeps) -> Callable[[AnalysisState], str]:
    """Back to the writer while the critic objects and rounds are left; else finish."""

    def route(state: AnalysisState) -> str:
        if state["critique"].approved or state.get("revision", 0) >= deps.max_revisions:
            return "finish"
        return "writer"

    return route


def finish(deps: AnalysisDeps) -> Callable[[AnalysisState], dict[str, Any]]:
    """The best draft (highest score, the later one on a tie) with its remaining objections."""

    def node(state: AnalysisState) -> dict[str, Any]:
        def work() -> tuple[dict[str, Any], str]:
            pairs = [
                (k, d, c)
                for k, (d, c) in enumerate(zip(state["drafts"], state["critiques"], strict=True))
                if d["prose"] is not None
            ]
            revisions = state.get("revision", 0)
            if not pairs:
                from stockops.agent.errors import LLMBadOutput

                last = state["drafts"][-1]["error"] if state["drafts"] else "no draft"
                raise LLMBadOutput(
                    f"no usable draft in {revisions + 1} round(s) from {deps.writer.generator}: {last}"
                )
            _, draft, critique = max(pairs, key=lambda p: (p[2].score.overall, p[0]))
            report = build_report(
                state["facts"],
                state["call"],
                draft["prose"],  # type: ignore[arg-type]
                generator=deps.writer.generator,
                objections=list(critique.objections),
                revisions=revisions,
                score=critique.score,
            )
            markdown = render_markdown(report, state["facts"])
            detail = f"{report.stance}/{report.confidence}, score {critique.score.overall:.2f}"
            return {"report": report, "markdown": markdown}, detail

        return _timed(deps, "finish", work)

    return node


def today_freshness(
    today: dt.date, sessions_since: Callable[[dt.date, dt.date], int]
) -> Callable[[ForecastFacts], Freshness]:
    def freshness(forecast: ForecastFacts) -> Freshness:
        return Freshness(today=today, sessions_since_as_of=sessions_since(forecast.as_of, today))

    return freshness
