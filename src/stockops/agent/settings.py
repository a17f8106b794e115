"""Typed settings of the analysis agent, from the environment (prefix ``STOCKOPS_``).

Shared settings (home, MLflow URI, data source) stay in `stockops.config.Settings`; these are the agent's
own. The CLI's flags and the Job's environment override them; they are read once at those edges.

=================================  ==================================  ==================================
env                                field                               default
=================================  ==================================  ==================================
STOCKOPS_LLM_ENDPOINT              llm_endpoint                        none: the template writer
STOCKOPS_LLM_MODEL_NAME            llm_model                           ``default``
STOCKOPS_LLM_API_KEY (or           llm_api_key                         none (a secretKeyRef in a cluster)
OPENAI_API_KEY)
STOCKOPS_LLM_TIMEOUT_SECONDS       llm_timeout_seconds                 60
STOCKOPS_LLM_MAX_RETRIES           llm_max_retries                     2 (then ``LLMUnavailable``)
STOCKOPS_LLM_MAX_TOKENS            llm_max_tokens                      700
STOCKOPS_LLM_TEMPERATURE           llm_temperature                     0
STOCKOPS_LLM_RESPONSE_FORMAT       llm_response_format                 ``auto`` (json_schema, else
                                                                       json_object + schema)
STOCKOPS_AGENT_MAX_REVISIONS       max_revisions                       2 (writer rounds after the first)
STOCKOPS_AGENT_DAYS                forecast_days                       5
STOCKOPS_PREDICTOR_URL             predictor_url                       none: the registry's bundle
STOCKOPS_NEWS_SOURCE               news_source                         ``auto``
STOCKOPS_QDRANT_URL                qdrant_url                          none: embedded local storage
STOCKOPS_QDRANT_API_KEY            qdrant_api_key                      none
STOCKOPS_SEMANTIC_CACHE            semantic_cache                      ``auto``
STOCKOPS_CACHE_THRESHOLD           cache_threshold                     see `semantic_cache`
STOCKOPS_RESOURCE                  resource                            none (the operator sets it)
=================================  ==================================  ==================================

``STOCKOPS_LLM_MODEL_NAME`` rather than ``..._MODEL``: `scripts/build-llm.sh` prints ``STOCKOPS_LLM_GGUF``
(a file) and ``STOCKOPS_LLM_PYTHON`` for the tests, and a model *name* must never be confused with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stockops.agent.embeddings import CACHE_THRESHOLD as DEFAULT_THRESHOLD


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOCKOPS_", extra="ignore", populate_by_name=True)

    llm_endpoint: str | None = Field(
        default=None, description="Base URL of an OpenAI-compatible API (…/v1); unset: template writer."
    )
    llm_model: str = Field(
        default="default",
        min_length=1,
        validation_alias=AliasChoices("llm_model", "STOCKOPS_LLM_MODEL_NAME"),
        description="Model name at the endpoint.",
    )
    llm_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("llm_api_key", "STOCKOPS_LLM_API_KEY", "OPENAI_API_KEY")
    )
    llm_timeout_seconds: float = Field(default=60.0, gt=0.0, le=3600.0)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    llm_max_tokens: int = Field(default=700, ge=64, le=32768)
    llm_temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    llm_response_format: Literal["auto", "json_schema", "json_object"] = Field(
        default="auto",
        description="Structured output: OpenAI json_schema, json_object + schema (llama.cpp), or auto.",
    )
    max_revisions: int = Field(
        default=2,
        ge=0,
        le=5,
        validation_alias=AliasChoices("max_revisions", "STOCKOPS_AGENT_MAX_REVISIONS"),
        description="Writer rounds after the first when the critic objects.",
    )
    forecast_days: int = Field(
        default=5, ge=1, le=60, validation_alias=AliasChoices("forecast_days", "STOCKOPS_AGENT_DAYS")
    )
    predictor_url: str | None = Field(
        default=None, description="A predictor (KServe V1) base URL; unset: the registry's bundle, locally."
    )
    news_source: str = Field(default="auto", description="auto | yfinance | none | file:PATH | URL")
    qdrant_url: str | None = Field(default=None, description="Qdrant server; unset: local storage.")
    qdrant_api_key: SecretStr | None = None
    semantic_cache: Literal["auto", "off"] = Field(
        default="auto", description="auto: Qdrant server if set, else local storage (off in a cluster)."
    )
    cache_threshold: float = Field(default=DEFAULT_THRESHOLD, gt=0.0, le=1.0)
    resource: str | None = Field(
        default=None,
        description="The Analysis this run answers (set by the operator on its Jobs); unset: the CLI.",
    )

    @field_validator("llm_endpoint", "predictor_url", "qdrant_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """An empty env var (a Job template with ``value: ""``) means not set."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("llm_endpoint", "predictor_url", "qdrant_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/") if value else value

    @property
    def generator(self) -> str:
        """``template`` or ``llm:<model>``: what writes the prose (a semantic-cache key part too)."""
        return "template" if self.llm_endpoint is None else f"llm:{self.llm_model}"


@dataclass(frozen=True)
class SettingNames:
    """Where a user changes what went wrong: the Analysis fields in a cluster, env and flags locally.

    Error messages name these, so a cluster user is never told to set an environment variable that the
    operator owns."""

    endpoint: str
    model: str
    api_key: str
    train: str


CLI_NAMES = SettingNames(
    endpoint="STOCKOPS_LLM_ENDPOINT (--endpoint)",
    model="STOCKOPS_LLM_MODEL_NAME (--model)",
    api_key="STOCKOPS_LLM_API_KEY",
    train="`stockops train-child {ticker}` (or `stockops train-parent --ticker {ticker}`)",
)
RESOURCE_NAMES = SettingNames(
    endpoint="spec.llm.endpoint",
    model="spec.llm.model",
    api_key="the Secret in spec.llm.secretRef",
    train="the TickerModel of {ticker} (its promotion gate may have refused every version so far)",
)


def setting_names(settings: AgentSettings) -> SettingNames:
    return RESOURCE_NAMES if settings.resource else CLI_NAMES


def load_agent_settings(**overrides: object) -> AgentSettings:
    """The environment's settings, with command-line values (by field name) on top."""
    return AgentSettings(**overrides)  # type: ignore[arg-type]
