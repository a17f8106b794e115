"""The gateway's ASGI middleware: request body limit, metrics, and security headers on every answer.

Plain ASGI classes (no ``BaseHTTPMiddleware``): they wrap ``send`` and ``receive`` without buffering
responses, so a cached forecast pays microseconds for them.
"""

from __future__ import annotations

import time

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stockops.gateway.metrics import GatewayMetrics

# The console is same-origin static files with no inline script or style (its browser tests run
# under this policy), so nothing else may load, frame or be framed. FastAPI's /docs and /redoc pages
# load Swagger UI / ReDoc from their CDN and keep working without the policy.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
DOCS_PATHS = ("/docs", "/redoc")
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


class SecurityHeadersMiddleware:
    """``nosniff``, no referrer, no framing on every response; the strict CSP on all but /docs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path") or "")
        csp = not path.startswith(DOCS_PATHS)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers") or [] if h[0].lower() not in _OURS]
                headers += SECURITY_HEADERS
                if csp:
                    headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


_OURS = frozenset({name for name, _ in SECURITY_HEADERS} | {b"content-security-policy"})


class BodyLimitMiddleware:
    """``413`` for a body over ``max_bytes``, decided before any handler parses it: from
    Content-Length when sent, else by reading (and buffering) at most ``max_bytes`` + one chunk."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await self._refuse(scope, receive, send, 400, "Content-Length is not a number")
                return
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, 413, self._too_large(size))
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, 413, self._too_large(None))
                return
            if not message.get("more_body"):
                break
        replay: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)

    def _too_large(self, size: int | None) -> str:
        got = f" ({size} bytes)" if size is not None else ""
        return f"body: request body too large{got}; at most {self.max_bytes} bytes"

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
        response = JSONResponse(
            {"detail": detail, "field": "body"}, status_code=status, headers={"Connection": "close"}
        )
        await response(scope, receive, send)


class MetricsMiddleware:
    """Counts and times every HTTP request by route template, method and status."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None)
            label = (
                path if path and getattr(route, "methods", None) else "<static>" if route else "<unmatched>"
            )
            method = scope.get("method", "GET")
            self.metrics.requests.labels(route=label, method=method, status=str(status["code"])).inc()
            self.metrics.latency.labels(route=label, method=method).observe(time.perf_counter() - started)
