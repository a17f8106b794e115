"""The gateway's security headers: on every answer (errors too), the strict CSP everywhere but /docs."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from stockops.gateway.middleware import CONTENT_SECURITY_POLICY, SecurityHeadersMiddleware


def _client() -> TestClient:
    async def page(_request: object) -> PlainTextResponse:
        # a handler that sets its own weaker policy must not win
        return PlainTextResponse("ok", headers={"Content-Security-Policy": "default-src *"})

    async def missing(_request: object) -> JSONResponse:
        return JSONResponse({"detail": "no"}, status_code=404)

    app = Starlette(routes=[Route("/", page), Route("/docs", page), Route("/status/x", missing)])
    return TestClient(SecurityHeadersMiddleware(app))


def test_every_answer_carries_the_security_headers() -> None:
    client = _client()
    for path in ("/", "/status/x", "/nowhere"):
        response = client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["referrer-policy"] == "no-referrer", path
        assert response.headers.get_list("content-security-policy") == [CONTENT_SECURITY_POLICY], path
    assert (
        "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
        and "default-src 'self'" in CONTENT_SECURITY_POLICY
    )


def test_the_docs_page_keeps_its_cdn_assets() -> None:
    """FastAPI's Swagger UI loads from its CDN: a 'self'-only policy would blank /docs."""
    response = _client().get("/docs")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert CONTENT_SECURITY_POLICY not in response.headers.get_list("content-security-policy")
