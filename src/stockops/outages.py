"""Dependency outages, named: a Job that cannot reach MLflow or Redis says so in seconds.

Kubernetes Jobs retry a failed pod (backoffLimit), so a worker that meets an unreachable dependency
should fail *fast* with a reason the operator can show ("attempt 1 failed: MlflowUnavailable: ...")
instead of retrying silently inside one attempt for minutes (MLflow's client backs off 7 times by
default). `check_tracking_server` asks the server's ``/health`` once before any work; `classify_outage`
names an outage found anywhere in an exception's chain (``__cause__``/``__context__``).
"""

from __future__ import annotations

import os

MLFLOW_UNAVAILABLE = "MlflowUnavailable"
REDIS_UNAVAILABLE = "RedisUnavailable"
_CONNECTION_WORDS = (
    "ConnectionError",
    "Max retries exceeded",
    "Connection refused",
    "Name or service not known",
)


class DependencyUnavailableError(RuntimeError):
    """A dependency the worker needs did not answer; ``reason`` is the condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def fail_fast_mlflow_client() -> None:
    """Few, short retries in MLflow's HTTP client (unless the environment already chose)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")


def check_tracking_server(uri: str | None, *, timeout: float = 10.0) -> None:
    """Raise `DependencyUnavailableError` when an http(s) tracking server does not answer /health.

    A local store (file or sqlite URI, or none) has nothing to reach."""
    if not uri or not uri.startswith(("http://", "https://")):
        return
    import requests

    url = uri.rstrip("/") + "/health"
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise DependencyUnavailableError(
            MLFLOW_UNAVAILABLE, f"MLflow tracking server {uri} unreachable: {type(exc).__name__}: {exc}"
        ) from exc
    if response.status_code >= 500:
        raise DependencyUnavailableError(
            MLFLOW_UNAVAILABLE,
            f"MLflow tracking server {uri} answered /health with HTTP {response.status_code}",
        )


def exception_chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def classify_outage(exc: BaseException) -> str | None:
    """``RedisUnavailable`` / ``MlflowUnavailable`` (or a `DependencyUnavailableError`'s reason) when an
    outage is in the chain, else None. MLflow needs both a connection failure and MLflow (or the HTTP
    stack under it) in the chain: a refused connection elsewhere is not MLflow's."""
    chain = exception_chain(exc)
    for error in chain:
        if isinstance(error, DependencyUnavailableError):
            return error.reason
    if any(type(e).__module__.startswith("redis") for e in chain):
        return REDIS_UNAVAILABLE
    texts = [f"{type(e).__name__}: {e}" for e in chain]
    connection = any(word in text for text in texts for word in _CONNECTION_WORDS)
    http = ("mlflow", "requests", "urllib3")
    through_mlflow = any(
        type(e).__module__.startswith(http) or "mlflow" in text.lower()
        for e, text in zip(chain, texts, strict=True)
    )
    return MLFLOW_UNAVAILABLE if connection and through_mlflow else None
