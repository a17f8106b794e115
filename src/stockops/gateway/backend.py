"""What the HTTP layer needs from a backend: the local pipeline (`local_backend`) or the custom
resources in a cluster (`cluster_backend`). The app holds one and never knows which.

Every method is a coroutine (``async def``): the cluster backend awaits the Kubernetes API, the local
one runs its blocking work (registry reads, Evidently, Feast) in worker threads, and the event loop stays
free for the cached forecasts whose latency matters. Values in and out are the typed models of
`stockops.gateway.schemas`, already validated (tickers upper-cased and pattern-checked). Failures are the
typed errors of `stockops.gateway.errors`, which the app maps to HTTP statuses.

Contract per method:

- ``list_tickers()``: every ticker with a model or a training, sorted by ticker.
- ``ticker_detail(ticker)``: metrics with intervals, per-horizon rows, phase, progress, task;
  `UnknownTickerError` when neither a model nor a training exists.
- ``forecast(ticker, days)``: the production version's forecast (``cached`` says whether it came from
  the forecast cache); `UnknownTickerError` with no model and no training, `NotReadyError(task_id)` while
  the ticker's first training runs, `InvalidRequestError(field="days")` beyond the model's horizon.
- ``start_training(kind, ticker, options)``: idempotent per ticker: while a training of the ticker is
  pending or running, that task is returned and no second one starts.
- ``task(task_id)``: `TaskNotFoundError` for an unknown id.
- ``history(ticker, days)``: the last ``days`` stored closes, oldest first.
- ``analyze(ticker, question)``: a task whose ``result`` becomes the report.
- ``monitor(ticker)``: runs a drift + live-error check now and returns it (also kept for ``drift``).
- ``drift(ticker)``: the last check's result; `NotFoundError` when none ran.
- ``reset()``: deletes what the backend owns; `ForbiddenError` where switched off, `ConflictError` while
  work runs.
- ``health()``: a small JSON-able dict for ``GET /health``.
- ``close()``: stop accepting work (the app calls it at shutdown).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from stockops.gateway.schemas import (
    DriftResult,
    ForecastResponse,
    PricePoint,
    ResetResult,
    TaskStatus,
    TickerDetail,
    TickerSummary,
    TrainingOptions,
)

TrainingKind = Literal["parent", "child"]


@runtime_checkable
class Backend(Protocol):
    mode: Literal["local", "cluster"]

    async def list_tickers(self) -> list[TickerSummary]: ...

    async def ticker_detail(self, ticker: str) -> TickerDetail: ...

    async def forecast(self, ticker: str, days: int) -> ForecastResponse: ...

    async def start_training(
        self, kind: TrainingKind, ticker: str, options: TrainingOptions
    ) -> TaskStatus: ...

    async def task(self, task_id: str) -> TaskStatus: ...

    async def history(self, ticker: str, days: int) -> list[PricePoint]: ...

    async def analyze(self, ticker: str, question: str) -> TaskStatus: ...

    async def monitor(self, ticker: str) -> DriftResult: ...

    async def drift(self, ticker: str) -> DriftResult: ...

    async def reset(self) -> ResetResult: ...

    async def health(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...
