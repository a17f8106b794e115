"""The report's shapes: the writer's draft (what an LLM returns, as structured output) and the final
report, rendered as Markdown.

The draft holds only prose and the writer's restatement of the call; the numbers in tables, the stance
and the confidence come from the facts and `stance.compute_stance`, so a writer can get the prose wrong
(the critic says so) but never the call or the forecast table.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stockops.agent.facts import AnalysisFacts
from stockops.agent.stance import Confidence, Stance, StanceCall

# The sections a report must have (the critic and the score check them in the rendered Markdown).
SECTION_SUMMARY = "Summary"
SECTION_STANCE = "Stance"
SECTION_ANSWER = "Answer"
SECTION_FORECAST = "Forecast"
SECTION_TRUST = "How much to trust the model"
SECTION_MARKET = "Market context"
SECTION_RISKS = "Risks"
SECTION_LIMITS = "What the model cannot know"
SECTION_OBJECTIONS = "Critic's remaining objections"
REQUIRED_SECTIONS = (
    SECTION_SUMMARY,
    SECTION_STANCE,
    SECTION_ANSWER,
    SECTION_FORECAST,
    SECTION_TRUST,
    SECTION_MARKET,
    SECTION_RISKS,
    SECTION_LIMITS,
)
# The draft's prose fields and the section each one is printed in.
PROSE_SECTIONS = {
    "summary": SECTION_SUMMARY,
    "answer": SECTION_ANSWER,
    "market_view": SECTION_MARKET,
    "risks": SECTION_RISKS,
    "limitations": SECTION_LIMITS,
}


class DraftProse(BaseModel):
    """What a writer produces. Length limits keep a small model's JSON inside its token budget."""

    stance: Stance = Field(description="Repeat the stance you were given, exactly.")
    confidence: Confidence = Field(description="Repeat the confidence you were given, exactly.")
    summary: str = Field(max_length=600, description="Two or three sentences: the call and why.")
    answer: str = Field(max_length=800, description="A direct answer to the user's question.")
    market_view: str = Field(max_length=600, description="Recent price action, volatility regime, news.")
    risks: list[str] = Field(max_length=5, description="What could make the call wrong.")
    limitations: list[str] = Field(max_length=5, description="What the model cannot know.")


class Objection(BaseModel):
    """One failed check, with the fix the writer is asked to make."""

    model_config = ConfigDict(frozen=True)

    check: Literal["numbers", "stance", "confidence", "sections", "schema"]
    section: str
    problem: str
    fix: str

    def line(self) -> str:
        return f"[{self.check}] {self.section}: {self.problem} Fix: {self.fix}"


class ReportScore(BaseModel):
    """The agent evaluation of one draft: each part in [0, 1]; ``overall`` is their mean."""

    model_config = ConfigDict(frozen=True)

    numbers: float = Field(ge=0, le=1, description="Share of the prose's numbers found in the facts.")
    stance: float = Field(ge=0, le=1, description="Share of stance/confidence checks passed.")
    sections: float = Field(ge=0, le=1, description="Share of required sections present and non-empty.")
    overall: float = Field(ge=0, le=1)
    numbers_checked: int = Field(ge=0)


class Critique(BaseModel):
    model_config = ConfigDict(frozen=True)

    approved: bool
    objections: tuple[Objection, ...] = ()
    score: ReportScore


class ForecastRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    date: str
    median: float
    low: float | None
    high: float | None
    change_pct: float


class Report(BaseModel):
    """The final report: the call and tables from code, the prose from the writer."""

    ticker: str
    question: str
    generator: str = Field(description="template, or llm:<model>.")
    model_name: str
    model_version: str
    data_date: str
    stance: Stance
    confidence: Confidence
    reasons: list[str]
    prose: DraftProse
    forecast_table: list[ForecastRow]
    objections: list[Objection] = Field(default_factory=list)
    revisions: int = 0
    score: ReportScore | None = None


def forecast_rows(facts: AnalysisFacts) -> list[ForecastRow]:
    last = facts.forecast.last_close
    return [
        ForecastRow(
            date=p.date.isoformat(),
            median=round(p.close, 2),
            low=None if p.low is None else round(p.low, 2),
            high=None if p.high is None else round(p.high, 2),
            change_pct=round(p.change_pct(last), 2),
        )
        for p in facts.forecast.points
    ]


def build_report(
    facts: AnalysisFacts,
    call: StanceCall,
    prose: DraftProse,
    *,
    generator: str,
    objections: list[Objection] | None = None,
    revisions: int = 0,
    score: ReportScore | None = None,
) -> Report:
    return Report(
        ticker=facts.ticker,
        question=facts.question,
        generator=generator,
        model_name=facts.forecast.model_name,
        model_version=facts.forecast.model_version,
        data_date=facts.forecast.as_of.isoformat(),
        stance=call.stance,
        confidence=call.confidence,
        reasons=list(call.reasons),
        prose=prose,
        forecast_table=forecast_rows(facts),
        objections=list(objections or []),
        revisions=revisions,
        score=score,
    )


def generator_note(generator: str) -> str:
    if generator == "template":
        return (
            "Written by the deterministic template writer (no LLM endpoint configured): every sentence "
            "is filled in from the facts below; this is not an LLM's analysis."
        )
    return f"Prose written by {generator.removeprefix('llm:')} (LLM); stance, confidence and tables by code."


def render_markdown(report: Report, facts: AnalysisFacts) -> str:
    """The report as Markdown (what the CLI prints and MLflow stores as ``analysis/report.md``)."""
    f, m, mk = facts.forecast, facts.metrics, facts.market
    lines = [
        f"# {report.ticker}: {f.horizon_days}-session forecast analysis",
        "",
        f"**Question:** {report.question}",
        "",
        f"_{generator_note(report.generator)} Model {f.model_name} version {f.model_version}, "
        f"data as of {f.as_of}._",
        "",
        f"## {SECTION_SUMMARY}",
        "",
        report.prose.summary.strip(),
        "",
        f"## {SECTION_STANCE}",
        "",
        f"**{report.stance}**, confidence **{report.confidence}** (computed from the facts):",
        "",
        *[f"- {reason}" for reason in report.reasons],
        "",
        f"## {SECTION_ANSWER}",
        "",
        report.prose.answer.strip(),
        "",
        f"## {SECTION_FORECAST}",
        "",
        f"Last close {f.last_close:.2f} on {f.as_of}; median path with its 10-90% interval.",
        "",
        "| date | median | low (10%) | high (90%) | change |",
        "|---|---:|---:|---:|---:|",
        *[
            f"| {r.date} | {r.median:.2f} | {_num(r.low)} | {_num(r.high)} | {r.change_pct:+.2f}% |"
            for r in report.forecast_table
        ],
        "",
        f"## {SECTION_TRUST}",
        "",
        "| measure | value |",
        "|---|---|",
        f"| test skill vs random walk | {_skill(m.skill, m.skill_ci_low, m.skill_ci_high)} |",
        f"| directional accuracy | {_pct(m.directional_accuracy_pct)} "
        f"(base rate {_pct(m.base_rate_pct)}, {m.directional_count or 0} calls) |",
        f"| 10-90% interval coverage | {_pct(m.interval_coverage_pct)} |",
        f"| test period | {m.test_start or 'n/a'} to {m.test_end or 'n/a'} |",
        f"| input drift | {_drift(facts)} |",
        "",
        f"## {SECTION_MARKET}",
        "",
        f"- change: 1 session {_pct(mk.change_1d_pct, signed=True)}, 5 sessions "
        f"{_pct(mk.change_5d_pct, signed=True)}, 20 sessions {_pct(mk.change_20d_pct, signed=True)}",
        f"- 20-day volatility {_pct(mk.volatility_20d_pct)} annualised, percentile "
        f"{_num(mk.volatility_percentile, 0)} of {mk.history_sessions} sessions: regime {mk.regime or 'n/a'}",
        f"- news ({mk.news.source}):" + ("" if mk.news.items else " none"),
        *[f"  - {item.title}" + (f" ({item.publisher})" if item.publisher else "") for item in mk.news.items],
        "",
        report.prose.market_view.strip(),
        "",
        f"## {SECTION_RISKS}",
        "",
        *[f"- {risk.strip()}" for risk in report.prose.risks if risk.strip()],
        "",
        f"## {SECTION_LIMITS}",
        "",
        *[f"- {limit.strip()}" for limit in report.prose.limitations if limit.strip()],
        "",
    ]
    if f.synthetic or mk.synthetic:
        lines.insert(2, "> **SYNTHETIC DATA**: these prices are not the real market.\n")
    if report.objections:
        lines += [
            f"## {SECTION_OBJECTIONS}",
            "",
            f"The critic still objected after {report.revisions} revision(s); this is the best draft.",
            "",
            *[f"- {o.line()}" for o in report.objections],
            "",
        ]
    if report.score is not None:
        s = report.score
        lines += [
            f"_Critic score {s.overall:.2f} (numbers {s.numbers:.2f}, stance {s.stance:.2f}, "
            f"sections {s.sections:.2f}); not investment advice._",
            "",
        ]
    return "\n".join(lines)


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.2f}%" if signed else f"{value:.2f}%"


def _skill(skill: float | None, low: float | None, high: float | None) -> str:
    if skill is None:
        return "n/a"
    if low is None or high is None:
        return f"{skill:+.4f}"
    return f"{skill:+.4f} (95% interval {low:+.4f} to {high:+.4f})"


def _drift(facts: AnalysisFacts) -> str:
    drift = facts.metrics.drift
    if drift is None:
        return "not checked yet (stockops monitor)"
    share = "" if drift.share_pct is None else f", {drift.share_pct:.1f}% of features"
    return f"{drift.verdict}{share}" + (f", checked {drift.checked_at}" if drift.checked_at else "")
