"""The gateway's own settings, from the environment (prefix ``STOCKOPS_GATEWAY_``), read once at start.

Shared settings (``STOCKOPS_HOME``, ``MLFLOW_TRACKING_URI``, ``STOCKOPS_DATA_SOURCE``) stay in
`stockops.config.Settings`. Every value has an embedded default so ``stockops gateway`` runs with nothing
to configure: local mode, loopback, keys under ``$STOCKOPS_HOME/gateway/``, in-memory rate limits.

Redis (``STOCKOPS_GATEWAY_REDIS_URL``, else ``STOCKOPS_REDIS_URL``) holds the per-key rate-limit windows
when set. When it is configured but unreachable, ``rate_limit_on_redis_error`` decides: ``memory``
(default) keeps answering with this process's in-memory window and logs a warning (each replica still
enforces the limit, so the cluster-wide rate is at most replicas x limit; a cache outage must not take
the API down), ``closed`` answers ``503`` until Redis is back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

RESET_CONFIRMATION = "yes-delete-all-state"


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOCKOPS_GATEWAY_", extra="ignore", populate_by_name=True)

    mode: Literal["local", "cluster"] = Field(
        default="local", description="local: the pipeline on this machine; cluster: the custom resources."
    )
    host: str = Field(default="127.0.0.1", description="Listen address (loopback unless told otherwise).")
    port: int = Field(default=8000, ge=1, le=65535)
    keys_file: Path | None = Field(
        default=None,
        description="API keys (SHA-256 digests, JSON or YAML); default $STOCKOPS_HOME/gateway/keys.json. "
        "In a cluster: the mounted keys Secret.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("STOCKOPS_GATEWAY_REDIS_URL", "STOCKOPS_REDIS_URL"),
        description="Redis for the rate-limit windows; unset: in memory.",
    )
    rate_limit_requests: int = Field(
        default=600, ge=1, le=1_000_000, description="Requests per key per window."
    )
    rate_limit_window_seconds: float = Field(default=60.0, gt=0.0, le=86_400.0)
    rate_limit_on_redis_error: Literal["memory", "closed"] = "memory"
    max_body_bytes: int = Field(default=16_384, ge=256, le=10_000_000, description="Larger bodies get 413.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed by CORS (comma-separated or a JSON list); empty: no CORS at all.",
    )
    training_workers: int = Field(default=1, ge=1, le=64, description="Trainings run at once (local).")
    analysis_workers: int = Field(default=1, ge=1, le=64, description="Analyses run at once (local).")
    forecast_cache_seconds: float = Field(default=60.0, ge=0.0, le=86_400.0, description="0: no cache.")
    parent_ticker: str = Field(
        default="^GSPC", description="Parent of a new ticker unless a request names one."
    )
    ticker_template: Path | None = Field(
        default=None, description="TickerModel YAML a new ticker is trained from; unset: the embedded one."
    )
    parent_template: Path | None = Field(
        default=None, description="ParentModel YAML a parent is trained from (local); unset: embedded."
    )
    reset_enabled: bool | None = Field(
        default=None, description="DELETE /system/reset; unset: on in local mode, off in a cluster."
    )
    namespace: str | None = Field(default=None, description="Cluster mode: the namespace of the resources.")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("redis_url", "namespace", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def allows_reset(self) -> bool:
        return self.reset_enabled if self.reset_enabled is not None else self.mode == "local"

    def keys_path(self, home: Path) -> Path:
        return (self.keys_file or home / "gateway" / "keys.json").expanduser()


def load_gateway_settings() -> GatewaySettings:
    """Read the gateway settings from the environment; call at process edges only."""
    return GatewaySettings()
