"""Typed failures a backend raises; `stockops.gateway.app` maps each to one HTTP status.

A backend never builds HTTP responses itself: it raises one of these with a message that names the
ticker, task or field at fault, and the app answers ``{"detail": message, "field": field}`` with the
class's ``status_code``. `NotReadyError` is special: a forecast requested while the ticker's first
training runs is answered ``202`` with that task (the caller polls ``/status``), not as an error.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base: ``status_code`` is the HTTP status; ``field`` the request field at fault, if any."""

    status_code = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequestError(GatewayError):
    """A well-formed request the backend cannot serve as asked (``days`` beyond the horizon, ...)."""

    status_code = 422


class UnknownTickerError(GatewayError):
    """No model and no training of this ticker."""

    status_code = 404

    def __init__(self, ticker: str, message: str | None = None) -> None:
        super().__init__(message or f"ticker {ticker} has no model and no training", field="ticker")
        self.ticker = ticker


class NotReadyError(GatewayError):
    """The ticker's first training is still running: ``task_id`` is the task to poll."""

    status_code = 409

    def __init__(self, ticker: str, task_id: str) -> None:
        super().__init__(f"ticker {ticker} is still training (task {task_id})", field="ticker")
        self.ticker = ticker
        self.task_id = task_id


class TaskNotFoundError(GatewayError):
    status_code = 404

    def __init__(self, task_id: str) -> None:
        super().__init__(f"task_id {task_id} names no task", field="task_id")
        self.task_id = task_id


class NotFoundError(GatewayError):
    """Something else that does not exist yet (e.g. no drift check has run for a ticker)."""

    status_code = 404


class ConflictError(GatewayError):
    """The request conflicts with what is running (e.g. a reset while a training runs)."""

    status_code = 409


class ForbiddenError(GatewayError):
    """Allowed by the key's scopes but switched off by configuration (e.g. reset in a cluster)."""

    status_code = 403


class BackendUnavailableError(GatewayError):
    """A server the backend needs (MLflow, the Kubernetes API, Redis) did not answer."""

    status_code = 503
