"""Typed settings, read once at the edge (CLI, trainer, predictor, operator) and passed down.

Everything has an embedded default so `stockops demo` runs on a fresh machine with no configuration:
the data directory `STOCKOPS_HOME` (default `~/.stockops`) holds the local MLflow store (SQLite +
artifacts), the Feast repository state and the demo outputs.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide configuration from the environment (prefix `STOCKOPS_`)."""

    model_config = SettingsConfigDict(env_prefix="STOCKOPS_", extra="ignore")

    home: Path = Field(default=Path("~/.stockops"), description="Data directory for local state.")
    data_source: str = Field(
        default="auto",
        description="Where prices come from: auto | yfinance | synthetic | csv:DIR.",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "STOCKOPS_MLFLOW_TRACKING_URI"),
        description="MLflow tracking server; default is a SQLite store under `home`.",
    )
    redis_url: str | None = Field(default=None, description="Redis for the prediction cache / online store.")
    verbose: bool = Field(default=False, description="Show third-party warnings and INFO logs.")
    promotion_min_skill: float = Field(
        default=0.0,
        description=(
            "A new version becomes `production` only if its test skill against the random walk is at "
            "least this (default 0: not worse than the random walk) and it is not significantly worse "
            "than the current production version on the same test days."
        ),
    )

    @property
    def home_dir(self) -> Path:
        path = self.home.expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def tracking_uri(self) -> str:
        """The explicit MLflow URI, else an embedded SQLite store under the data directory."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.home_dir / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.home_dir / "mlartifacts"

    @property
    def cache_dir(self) -> Path:
        """Answers one-shot commands keep between calls (registry, windows, calendar); safe to delete."""
        return self.home_dir / "cache"

    @property
    def outputs_dir(self) -> Path:
        return self.home_dir / "outputs"


def load_settings() -> Settings:
    """Read settings from the environment; call at process edges only."""
    return Settings()
