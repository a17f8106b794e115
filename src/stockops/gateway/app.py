"""The HTTP API (FastAPI): the seed systems' endpoints over a `Backend`, with keys, rate limits, request
limits, typed errors and metrics. `create_app` builds it; nothing here knows local from cluster.

Request handling, outermost first: metrics (route template, status, latency) -> security headers
(`stockops.gateway.middleware`) -> CORS (only when
``STOCKOPS_GATEWAY_CORS_ORIGINS`` lists origins; otherwise no CORS headers at all) -> body size limit
(``413`` before anything parses the body) -> routing -> for every route except ``/health``, ``/docs``,
``/openapi.json`` and the console: the key (``401`` with ``WWW-Authenticate``), the per-key rate limit
(``429`` with ``Retry-After``), the route's scope (``403`` naming it) -> strict request validation
(``4xx`` naming the field) -> the backend, whose typed errors become ``404``/``409``/``422``/``503``.

Every error body is ``{"detail": "<what, naming the field/ticker>", "field": "<field or null>"}``;
validation errors add ``errors`` (one per field).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from stockops import __version__
from stockops.config import Settings, load_settings
from stockops.gateway.auth import KeyRing, Principal
from stockops.gateway.auth import Scope as KeyScope
from stockops.gateway.backend import Backend, TrainingKind
from stockops.gateway.errors import GatewayError, InvalidRequestError, NotReadyError, UnknownTickerError
from stockops.gateway.metrics import CONTENT_TYPE, GatewayMetrics
from stockops.gateway.middleware import BodyLimitMiddleware, MetricsMiddleware, SecurityHeadersMiddleware
from stockops.gateway.names import TaskId, normalize_ticker
from stockops.gateway.ratelimit import (
    MemorySlidingWindow,
    RateLimiter,
    RateLimiterUnavailableError,
    RedisSlidingWindow,
)
from stockops.gateway.schemas import (
    MAX_HISTORY_DAYS,
    AnalyzeRequest,
    DriftResult,
    ErrorResponse,
    ForecastResponse,
    Health,
    PredictChildRequest,
    PredictParentRequest,
    PricePoint,
    ResetResult,
    TaskAccepted,
    TaskStatus,
    TickerDetail,
    TickerSummary,
    TrainChildRequest,
    TrainingOptions,
    TrainParentRequest,
)
from stockops.gateway.settings import RESET_CONFIRMATION, GatewaySettings, load_gateway_settings

log = logging.getLogger(__name__)

CONSOLE_DIR = Path(__file__).parent / "console" / "static"
REALM = 'Bearer realm="stockops-gateway"'

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <key>")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: <key>")


@dataclass
class Gateway:
    """Everything a request needs, held on ``app.state.gateway``."""

    settings: Settings
    config: GatewaySettings
    backend: Backend
    keys: KeyRing
    limiter: RateLimiter
    metrics: GatewayMetrics


def _gateway(request: Request) -> Gateway:
    return request.app.state.gateway  # type: ignore[no-any-return]


class ApiError(StarletteHTTPException):
    """An HTTP error with our body (``detail`` + ``field``)."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=headers)
        self.field = field


def require(scope: KeyScope) -> Callable[..., Awaitable[Principal]]:
    """The dependency of a route that needs ``scope``: key, then rate limit, then scope."""

    async def check(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        api_key: Annotated[str | None, Depends(_api_key)],
    ) -> Principal:
        gw = _gateway(request)
        presented = bearer.credentials if bearer is not None else api_key
        if not presented:
            gw.metrics.auth_failures.labels(status="401").inc()
            raise ApiError(
                401,
                "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>' "
                "(stockops gateway-key create makes one)",
                headers={"WWW-Authenticate": REALM},
            )
        principal = gw.keys.authenticate(presented)
        if principal is None:
            gw.metrics.auth_failures.labels(status="401").inc()
            raise ApiError(
                401,
                "the API key is not valid",
                headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
            )
        try:
            decision = await gw.limiter.hit(principal.key_id)
        except RateLimiterUnavailableError as exc:
            raise ApiError(503, str(exc), headers={"Retry-After": "5"}) from exc
        finally:
            if isinstance(gw.limiter, RedisSlidingWindow):
                gw.metrics.redis_up.set(0 if gw.limiter.down else 1)
        if not decision.allowed:
            gw.metrics.rate_limited.inc()
            raise ApiError(
                429,
                f"rate limit of {gw.config.rate_limit_requests} requests per "
                f"{gw.config.rate_limit_window_seconds:g}s for key {principal.name!r} reached; "
                f"retry in {decision.retry_after}s",
                headers={"Retry-After": str(decision.retry_after)},
            )
        if not principal.has(scope):
            gw.metrics.auth_failures.labels(status="403").inc()
            raise ApiError(
                403, f"this key lacks the '{scope}' scope, which {request.url.path} needs", field="scope"
            )
        return principal

    return check


def ticker_path(
    ticker: Annotated[str, PathParam(description="Ticker, e.g. AAPL or ^GSPC (URL-encoded).")],
) -> str:
    try:
        return normalize_ticker(ticker)
    except ValueError as exc:
        raise InvalidRequestError(f"ticker: {exc}", field="ticker") from None


Read = Annotated[Principal, Depends(require("read"))]
Train = Annotated[Principal, Depends(require("train"))]
Admin = Annotated[Principal, Depends(require("admin"))]
TickerPath = Annotated[str, Depends(ticker_path)]

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": what}
    for code, what in {
        401: "No key, or a key that is not valid.",
        403: "The key lacks the scope this route needs.",
        413: "Request body too large.",
        422: "Invalid request; `field` names the field.",
        429: "Rate limit reached; see Retry-After.",
    }.items()
}
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"model": TaskAccepted, "description": "A training started (or was running): poll status_url."}
}

router = APIRouter()


def _accepted(task: TaskStatus, status: str = "training") -> JSONResponse:
    body = TaskAccepted(
        status=status,  # type: ignore[arg-type]
        task_id=task.task_id,
        status_url=f"/status/{task.task_id}",
        ticker=task.ticker,
        phase=task.phase,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=202)


async def _predict(request: Request, principal: Principal, kind: TrainingKind, ticker: str, days: int) -> Any:
    gw = _gateway(request)
    try:
        answer = await gw.backend.forecast(ticker, days)
    except NotReadyError as exc:
        return _accepted(await gw.backend.task(exc.task_id))
    except UnknownTickerError:
        if not principal.has("train"):
            raise ApiError(
                403,
                f"ticker {ticker} has no model yet; training it needs a key with the 'train' scope",
                field="scope",
            ) from None
        return _accepted(await gw.backend.start_training(kind, ticker, TrainingOptions()))
    gw.metrics.forecast_cache.labels(result="hit" if answer.cached else "miss").inc()
    return answer


@router.post(
    "/predict-child",
    response_model=ForecastResponse,
    responses={**ACCEPTED, **ERRORS, 404: {"model": ErrorResponse}},
    summary="Forecast a ticker; an unknown one starts its training (202, needs the train scope)",
)
async def predict_child(body: PredictChildRequest, request: Request, principal: Read) -> Any:
    return await _predict(request, principal, "child", body.ticker, body.days)


@router.post(
    "/predict-parent",
    response_model=ForecastResponse,
    responses={**ACCEPTED, **ERRORS},
    summary="Forecast the parent index (default ^GSPC); untrained, it starts its training (202)",
)
async def predict_parent(body: PredictParentRequest, request: Request, principal: Read) -> Any:
    return await _predict(request, principal, "parent", body.ticker, body.days)


@router.post("/train-parent", status_code=202, response_model=TaskAccepted, responses=ERRORS)
async def train_parent(body: TrainParentRequest, request: Request, _: Train) -> Any:
    task = await _gateway(request).backend.start_training(
        "parent", body.ticker, TrainingOptions(epochs=body.epochs)
    )
    return _accepted(task)


@router.post("/train-child", status_code=202, response_model=TaskAccepted, responses=ERRORS)
async def train_child(body: TrainChildRequest, request: Request, _: Train) -> Any:
    options = TrainingOptions(parent=body.parent, strategy=body.strategy, epochs=body.epochs)
    return _accepted(await _gateway(request).backend.start_training("child", body.ticker, options))


@router.get(
    "/status/{task_id:path}",
    response_model=TaskStatus,
    responses={**ERRORS, 404: {"model": ErrorResponse}},
    summary="A task's phase, progress, epoch, conditions, metrics and (analysis) result",
)
async def status(task_id: str, request: Request, _: Read) -> TaskStatus:
    try:
        parsed = TaskId.parse(task_id)
    except ValueError as exc:
        raise InvalidRequestError(f"task_id: {exc}", field="task_id") from None
    return await _gateway(request).backend.task(str(parsed))


@router.post(
    "/analyze",
    status_code=202,
    response_model=TaskAccepted,
    responses={**ERRORS, 404: {"model": ErrorResponse}},
)
async def analyze(body: AnalyzeRequest, request: Request, _: Train) -> Any:
    gw = _gateway(request)
    task = await gw.backend.analyze(body.ticker, body.question)
    gw.metrics.analyses_started.inc()
    return _accepted(task, status="analyzing")


@router.post(
    "/monitor/{ticker}", response_model=DriftResult, responses={**ERRORS, 404: {"model": ErrorResponse}}
)
async def monitor(ticker: TickerPath, request: Request, _: Train) -> DriftResult:
    return await _gateway(request).backend.monitor(ticker)


@router.get(
    "/monitor/{ticker}/drift", response_model=DriftResult, responses={**ERRORS, 404: {"model": ErrorResponse}}
)
async def drift(ticker: TickerPath, request: Request, _: Read) -> DriftResult:
    return await _gateway(request).backend.drift(ticker)


@router.get("/tickers", response_model=list[TickerSummary], responses=ERRORS)
async def tickers(request: Request, _: Read) -> list[TickerSummary]:
    return await _gateway(request).backend.list_tickers()


@router.get(
    "/tickers/{ticker}", response_model=TickerDetail, responses={**ERRORS, 404: {"model": ErrorResponse}}
)
async def ticker_detail(ticker: TickerPath, request: Request, _: Read) -> TickerDetail:
    return await _gateway(request).backend.ticker_detail(ticker)


@router.get(
    "/tickers/{ticker}/history",
    response_model=list[PricePoint],
    responses={**ERRORS, 404: {"model": ErrorResponse}},
)
async def history(
    ticker: TickerPath,
    request: Request,
    _: Read,
    days: Annotated[int, Query(ge=1, le=MAX_HISTORY_DAYS, description="Stored sessions, newest last.")] = 120,
) -> list[PricePoint]:
    return await _gateway(request).backend.history(ticker, days)


@router.get("/health", response_model=Health, summary="Liveness and what the gateway runs on (no key)")
async def health(request: Request) -> Health:
    gw = _gateway(request)
    backend = await gw.backend.health()
    degraded = gw.limiter.backend != "redis" and gw.config.redis_url is not None
    return Health(
        status="degraded" if degraded else "ok",
        mode=gw.backend.mode,
        version=__version__,
        rate_limiter=gw.limiter.backend,
        backend=backend,
    )


@router.get("/metrics", response_class=Response, responses=ERRORS, summary="Prometheus exposition")
async def metrics(request: Request, _: Read) -> Response:
    return Response(_gateway(request).metrics.exposition(), media_type=CONTENT_TYPE)


@router.delete(
    "/system/reset", response_model=ResetResult, responses={**ERRORS, 409: {"model": ErrorResponse}}
)
async def reset(
    request: Request,
    _: Admin,
    confirm: Annotated[str, Query(max_length=64, description=f"Must be {RESET_CONFIRMATION!r}.")] = "",
) -> ResetResult:
    if confirm != RESET_CONFIRMATION:
        raise InvalidRequestError(
            f"confirm: pass ?confirm={RESET_CONFIRMATION} to delete every model, feature, cache and task",
            field="confirm",
        )
    return await _gateway(request).backend.reset()


# --- errors --------------------------------------------------------------------------------------


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    parts = [p for p in parts if not p.isdigit()] or ["body"]
    return ".".join(parts)


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    msg = str(error.get("msg", "invalid"))
    if kind == "extra_forbidden":
        return "unknown field (this request has no such field)"
    if kind == "missing":
        return "required"
    return msg.removeprefix("Value error, ")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in raw):
        error = next(e for e in raw if e.get("type") == "json_invalid")
        why = (error.get("ctx") or {}).get("error", "not JSON")
        where = error.get("loc", ())[-1] if error.get("loc") else "?"
        return JSONResponse(
            {"detail": f"body: invalid JSON ({why} at position {where})", "field": "body"}, status_code=400
        )
    errors = [{"field": _field(e.get("loc", ())), "message": _message(e), "type": e.get("type")} for e in raw]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
    return JSONResponse(
        {"detail": detail, "field": errors[0]["field"] if errors else None, "errors": errors}, status_code=422
    )


async def _gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    return JSONResponse({"detail": exc.message, "field": exc.field}, status_code=exc.status_code)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    field = getattr(exc, "field", None)
    if exc.status_code == 304 or exc.status_code < 400:
        return Response(status_code=exc.status_code, headers=exc.headers)
    return JSONResponse(
        {"detail": str(exc.detail), "field": field}, status_code=exc.status_code, headers=exc.headers
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": f"internal error: {type(exc).__name__}", "field": None}, status_code=500)


# --- assembly ------------------------------------------------------------------------------------


def make_limiter(config: GatewaySettings) -> RateLimiter:
    if config.redis_url:
        return RedisSlidingWindow(
            config.redis_url,
            config.rate_limit_requests,
            config.rate_limit_window_seconds,
            on_error=config.rate_limit_on_redis_error,
        )
    return MemorySlidingWindow(config.rate_limit_requests, config.rate_limit_window_seconds)


def make_backend(settings: Settings, config: GatewaySettings) -> Backend:
    """The backend of ``config.mode``; the cluster one is imported only in cluster mode."""
    if config.mode == "local":
        from stockops.gateway.local_backend import LocalBackend

        return LocalBackend(settings, config)
    from stockops.gateway.cluster_backend import ClusterBackend

    return ClusterBackend(config)


def create_app(
    settings: Settings | None = None,
    config: GatewaySettings | None = None,
    *,
    backend: Backend | None = None,
    keys: KeyRing | None = None,
) -> FastAPI:
    settings = settings or load_settings()
    config = config or load_gateway_settings()
    backend = backend or make_backend(settings, config)
    metrics = GatewayMetrics()
    if hasattr(backend, "on_training_started"):
        backend.on_training_started = lambda kind: metrics.trainings_started.labels(kind=kind).inc()
    gateway = Gateway(
        settings=settings,
        config=config,
        backend=backend,
        keys=keys or KeyRing(config.keys_path(settings.home_dir)),
        limiter=make_limiter(config),
        metrics=metrics,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await backend.close()
        close = getattr(gateway.limiter, "close", None)
        if close is not None:
            await close()

    app = FastAPI(
        title="StockOps gateway",
        version=__version__,
        summary="Forecasts, trainings, analyses and monitoring of StockOps models over one HTTP API.",
        description=(
            "Every route except /health, /docs, /openapi.json and the console needs an API key "
            "(`Authorization: Bearer <key>` or `X-API-Key: <key>`) with the route's scope: `read`, "
            "`train` or `admin`. Errors are `{detail, field}`. A ticker the gateway has never seen is "
            "trained on request: `POST /predict-child` answers 202 with a task to poll at "
            "`/status/{task_id}`."
        ),
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    app.include_router(router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    _mount_console(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes)
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def _mount_console(app: FastAPI) -> None:
    """The console's static files at ``/`` (after every API route, so they never shadow one); without
    them (a source tree where the console is not built yet) a page that says so."""
    if (CONSOLE_DIR / "index.html").is_file():
        from fastapi.staticfiles import StaticFiles

        app.mount("/", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
        return

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def no_console() -> str:
        return (
            "<!doctype html><title>StockOps gateway</title><h1>StockOps gateway</h1>"
            "<p>The web console's files are not in this installation. The API is at "
            '<a href="/docs">/docs</a>.</p>'
        )
