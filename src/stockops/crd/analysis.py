"""Analysis: a question about a TickerModel's forecast, answered by the agent (schema only here).

The agent issue reconciles it; the model lives here so all three CRDs come from one place.
"""

from __future__ import annotations

from pydantic import Field

from stockops.crd.base import CrdModel
from stockops.crd.spec_blocks import NAME_PATTERN
from stockops.crd.status_blocks import CONDITIONS_LIST, Condition, Phase


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


class AnalysisStatus(CrdModel):
    """Observed state of an Analysis, written by the agent's controller."""

    observed_generation: int | None = Field(default=None, ge=0, description="metadata.generation answered.")
    phase: Phase | None = Field(
        default=None, description="Pending, WaitingForParent, Training, Ready or Failed."
    )
    conditions: list[Condition] | None = Field(
        json_schema_extra=CONDITIONS_LIST, default=None, max_length=16, description="Detailed state."
    )
    job_name: str | None = Field(default=None, description="The agent Job answering the question.")
    answer: str | None = Field(default=None, max_length=65536, description="The agent's answer.")
    model_version: str | None = Field(default=None, description="TickerModel version the forecast came from.")
    completion_time: str | None = Field(default=None, description="When the answer was written (RFC 3339).")


class Analysis(CrdModel):
    """An Analysis resource."""

    spec: AnalysisSpec = Field(description="Desired state.")
    status: AnalysisStatus | None = Field(default=None, description="Observed state.")
