"""Typed predictor settings from the environment (what the operator's InferenceService sets).

Shared settings (MLflow URI, Redis URL, data source) stay in `stockops.config.Settings`; these are the
predictor's own. Command-line flags of `python -m stockops.predictor` override them.

=================================  ==================================  =======================
env                                field                               default
=================================  ==================================  =======================
STOCKOPS_MODEL_NAME                model_name                          (required)
STOCKOPS_MODEL_VERSION             model_version                       none
STOCKOPS_MODEL_ALIAS               model_alias                         ``production``
PORT                               http_port                           8080
STOCKOPS_BIND_ADDRESS              bind_address                        ``0.0.0.0`` (a pod)
STOCKOPS_CACHE_TTL_SECONDS         cache_ttl_seconds                   1800 (30 min)
STOCKOPS_LOCAL_CACHE_SECONDS       local_cache_seconds                 60 (0: no in-process tier)
STOCKOPS_WINDOW_REFRESH_SECONDS    window_refresh_seconds              900
STOCKOPS_WINDOW_INGEST             window_ingest                       false
STOCKOPS_LOAD_RETRY_SECONDS        load_retry_seconds                  30 (0: no retry)
STOCKOPS_TORCH_THREADS             torch_threads                       1
STOCKOPS_ACCESS_LOG                access_log                          false
=================================  ==================================  =======================
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stockops.registry.naming import PRODUCTION_ALIAS


class PredictorSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="STOCKOPS_", extra="ignore", protected_namespaces=(), populate_by_name=True
    )

    model_name: str | None = Field(default=None, description="Registered model to serve, e.g. stockops-aapl.")
    model_version: str | None = Field(default=None, description="Explicit registry version; else the alias.")
    model_alias: str | None = Field(default=None, description=f"Registry alias; default {PRODUCTION_ALIAS}.")
    http_port: int = Field(
        default=8080, ge=1, le=65535, validation_alias=AliasChoices("http_port", "PORT", "STOCKOPS_HTTP_PORT")
    )
    bind_address: str = Field(
        default="0.0.0.0",
        min_length=1,
        description="Interface to listen on: all in a pod (or its podIP); `stockops serve` uses loopback.",
    )
    cache_ttl_seconds: int = Field(default=1800, ge=1, le=7 * 24 * 3600)
    local_cache_seconds: float = Field(
        default=60.0, ge=0.0, description="In-process tier in front of Redis (capped at the Redis TTL)."
    )
    window_refresh_seconds: float = Field(
        default=900.0, ge=0.0, description="How long the latest feature window is reused before re-reading."
    )
    window_ingest: bool = Field(
        default=False, description="Ingest fresh prices into the feature store on every window refresh."
    )
    load_retry_seconds: float = Field(
        default=30.0, ge=0.0, description="Retry a failed model load this often (0: never, stay not-ready)."
    )
    torch_threads: int = Field(default=1, ge=1, le=256, description="1 thread: lowest latency on few cores.")
    access_log: bool = Field(default=False, description="Log every HTTP request (costs throughput).")

    @model_validator(mode="after")
    def _version_or_alias(self) -> PredictorSettings:
        if self.model_version is not None and self.model_alias is not None:
            raise ValueError(
                f"give a model version ({self.model_version}) or an alias ({self.model_alias}), not both"
            )
        return self

    @property
    def target(self) -> str:
        """``name@alias`` or ``name version V`` for log lines."""
        if self.model_version is not None:
            return f"{self.model_name} version {self.model_version}"
        return f"{self.model_name}@{self.model_alias or PRODUCTION_ALIAS}"


def redact_url(url: str) -> str:
    """A URL without its credentials (``scheme://***@host...``), for logs and error messages."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
