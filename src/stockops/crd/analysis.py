"""Analysis: a question about a TickerModel's forecast, answered by the agent in a Job.

The operator (`stockops.operator.analysis_reconcile`) waits for the TickerModel, runs one agent Job per
generation and writes this status from the Job's termination message; the full report goes to a
ConfigMap it owns and stays in MLflow. The model lives here so all three CRDs come from one place.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from stockops.crd.base import CrdModel
from stockops.crd.spec_blocks import NAME_PATTERN
from stockops.crd.status_blocks import CONDITIONS_LIST, Condition


class TickerModelRef(CrdModel):
    """Reference to a TickerModel in the same namespace."""

    name: str = Field(
        min_length=1, max_length=253, pattern=NAME_PATTERN, description="Name of the TickerModel to analyse."
    )


class SecretKeyRef(CrdModel):
    """A key in a Secret in the same namespace."""

    name: str = Field(min_length=1, max_length=253, pattern=NAME_PATTERN, description="Secret name.")
    key: str | None = Field(
        default=None, min_length=1, max_length=253, description="Key holding the API key (unset: 'apiKey')."
    )


class LlmSpec(CrdModel):
    """The OpenAI-compatible chat model the agent uses."""

    endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://.+",
        max_length=2048,
        description=(
            "Base URL of an OpenAI-compatible API (e.g. https://api.openai.com/v1). Unset: the agent default."
        ),
    )
    model: str | None = Field(
        default=None, min_length=1, max_length=256, description="Model name at that endpoint."
    )
    secret_ref: SecretKeyRef | None = Field(default=None, description="Secret with the API key.")


class AnalysisSpec(CrdModel):
    """Desired state of an Analysis: the question and which model and LLM to use."""

    ticker_model_ref: TickerModelRef = Field(description="TickerModel whose forecast the analysis uses.")
    question: str = Field(
        min_length=1, max_length=2000, description="The question to answer, in plain language."
    )
    llm: LlmSpec | None = Field(default=None, description="LLM settings.")


AnalysisPhase = Literal["Pending", "Running", "Ready", "Failed"]
ANALYSIS_PHASES: tuple[str, ...] = AnalysisPhase.__args__  # type: ignore[attr-defined]
SUMMARY_CHARS = 400
OBJECTION_CHARS = 240
MAX_OBJECTIONS = 10


class AnalysisReport(CrdModel):
    """Where the full report lives: a ConfigMap the operator writes, and the MLflow artifact."""

    config_map: str | None = Field(
        default=None, max_length=253, description="ConfigMap (owned by this Analysis) with report.md."
    )
    complete: bool | None = Field(
        default=None,
        description=(
            "False when the ConfigMap holds only the summary, because the full text could not be "
            "fetched from MLflow (the artifact below still has it)."
        ),
    )
    mlflow_run_id: str | None = Field(default=None, max_length=64, description="MLflow run of the analysis.")
    artifact: str | None = Field(
        default=None, max_length=512, description="The report as an MLflow artifact URI (runs:/...)."
    )
    uri: str | None = Field(
        default=None, max_length=2048, description="Download link of the report in MLflow."
    )


class AnalysisStatus(CrdModel):
    """Observed state of an Analysis, written by the operator from the agent Job's result."""

    observed_generation: int | None = Field(default=None, ge=0, description="metadata.generation answered.")
    phase: AnalysisPhase | None = Field(
        default=None,
        description=(
            "Pending (waiting for the TickerModel, or the agent pod cannot start), Running, Ready (answered) "
            "or Failed. Conditions carry the reasons."
        ),
    )
    conditions: list[Condition] | None = Field(
        json_schema_extra=CONDITIONS_LIST,
        default=None,
        max_length=16,
        description="ModelReady, Answered and Ready; every type is present from the first visit.",
    )
    job_name: str | None = Field(default=None, max_length=63, description="The agent Job of this generation.")
    attempt: int | None = Field(default=None, ge=0, description="Pods the Job started so far (1 + retries).")
    failed_attempts: int | None = Field(default=None, ge=0, description="Pods of the Job that failed so far.")
    last_failure: str | None = Field(
        default=None,
        max_length=1024,
        description="Reason and message of the latest failed attempt (kept while the Job retries).",
    )
    ticker: str | None = Field(
        default=None, max_length=16, description="Symbol analysed (the TickerModel's)."
    )
    stance: str | None = Field(
        default=None, max_length=16, description="BULLISH, BEARISH or NEUTRAL (computed from the facts)."
    )
    confidence: str | None = Field(default=None, max_length=16, description="LOW, MEDIUM or HIGH.")
    summary: str | None = Field(
        default=None, max_length=SUMMARY_CHARS, description="The report's summary, cut to 400 characters."
    )
    model_name: str | None = Field(default=None, max_length=256, description="Registered model analysed.")
    model_version: str | None = Field(
        default=None, max_length=64, description="Model version the forecast came from."
    )
    data_date: str | None = Field(default=None, max_length=10, description="Last session of the data used.")
    generator: str | None = Field(
        default=None, max_length=300, description="What wrote the prose: llm:<model> or template."
    )
    cached: bool | None = Field(default=None, description="True when the semantic cache answered.")
    cache: str | None = Field(
        default=None, max_length=300, description="Semantic cache state, e.g. why it is off in this cluster."
    )
    critic_score: float | None = Field(
        default=None, ge=0.0, le=1.0, description="The critic's score of the report (1 = every check passed)."
    )
    revisions: int | None = Field(default=None, ge=0, description="Writer rounds after the first.")
    objections: list[Annotated[str, Field(max_length=OBJECTION_CHARS)]] | None = Field(
        default=None,
        max_length=MAX_OBJECTIONS,
        description="The critic's remaining objections (cut; objectionsTotal counts them all).",
    )
    objections_total: int | None = Field(default=None, ge=0, description="How many objections remain.")
    report: AnalysisReport | None = Field(default=None, description="Where the full report is.")
    start_time: str | None = Field(default=None, description="When the agent Job started (RFC 3339).")
    completion_time: str | None = Field(
        default=None, description="When the answer (or the failure) was recorded (RFC 3339)."
    )

    def condition(self, type_: str) -> Condition | None:
        """The condition of that type, if present."""
        return next((c for c in self.conditions or () if c.type == type_), None)


class Analysis(CrdModel):
    """An Analysis resource."""

    spec: AnalysisSpec = Field(description="Desired state.")
    status: AnalysisStatus | None = Field(default=None, description="Observed state.")
