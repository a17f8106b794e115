"""Kopf's own annotations live under kopf.stockops.io, apart from the annotations users set."""

from __future__ import annotations

import kopf
import pytest
from kopf._cogs.structs.bodies import Body

from stockops.operator.handlers import ANNOTATION_PREFIX, configure_kopf
from stockops.operator.naming import ANNOTATION_RETRAIN
from stockops.operator.settings import OperatorSettings


def _configured() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    configure_kopf(settings, OperatorSettings())
    return settings


def test_kopf_annotations_have_a_prefix_of_their_own() -> None:
    assert ANNOTATION_PREFIX == "kopf.stockops.io"
    assert not ANNOTATION_RETRAIN.startswith(ANNOTATION_PREFIX + "/")
    storage = _configured().persistence.progress_storage
    assert isinstance(storage, kopf.AnnotationsProgressStorage) and storage.prefix == ANNOTATION_PREFIX


def test_a_retrain_annotation_is_part_of_what_kopf_diffs_and_kopfs_own_are_not() -> None:
    body = Body(
        {
            "apiVersion": "stockops.io/v1alpha1",
            "kind": "ParentModel",
            "metadata": {
                "name": "gspc",
                "annotations": {
                    ANNOTATION_RETRAIN: "2026-12-02T15:00:00Z",
                    f"{ANNOTATION_PREFIX}/last-handled-configuration": "{}",
                },
            },
            "spec": {"ticker": "^GSPC"},
        }
    )
    essence = _configured().persistence.diffbase_storage.build(body=body)
    assert essence["metadata"]["annotations"] == {ANNOTATION_RETRAIN: "2026-12-02T15:00:00Z"}


def test_kopf_connections_are_its_watch_streams_plus_the_request_budget() -> None:
    from stockops.operator.handlers import KOPF_OWN_STREAMS, WATCHED_RESOURCES, kopf_connection_limit

    streams = len(WATCHED_RESOURCES)
    assert kopf_connection_limit((), 32) == streams + KOPF_OWN_STREAMS + 32  # cluster-wide
    assert kopf_connection_limit(("a", "b", "c"), 32) == 3 * streams + KOPF_OWN_STREAMS + 32
    # streams Kopf resolves at run time cannot be counted: no limit rather than a starved operator
    for pattern in ("team-*", "ns-?", "!kube-system", "a,b", "ns-[ab]"):
        assert kopf_connection_limit(("a", pattern), 32) == 0
    assert kopf_connection_limit((), 0) == 0


def test_watched_resources_are_those_with_handlers() -> None:
    """The stream count behind the connection limit must follow what `register` watches."""
    from stockops.operator.controller import Controller
    from stockops.operator.handlers import WATCHED_RESOURCES, register
    from stockops.operator.metrics import OperatorMetrics

    settings = OperatorSettings()
    controller = Controller(
        cluster=None,  # type: ignore[arg-type]  # registration only; nothing is called
        progress=None,  # type: ignore[arg-type]
        settings=settings,
        metrics=OperatorMetrics(),
        post_event=lambda body, event: None,
    )
    registry = kopf.OperatorRegistry()
    register(registry, controller, settings)
    handlers = [
        *registry._changing.get_all_handlers(),
        *registry._watching.get_all_handlers(),
        *registry._indexing.get_all_handlers(),
    ]
    assert {h.selector.any_name for h in handlers if h.selector} == set(WATCHED_RESOURCES)


def test_the_login_session_is_kopfs_with_a_connection_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from stockops.operator import handlers

    info = kopf.ConnectionInfo(server="https://api.example:6443", token="t0ken", default_namespace="ns")
    monkeypatch.setattr(handlers.kopf, "login_via_client", lambda **_: info)

    async def login(limit: int) -> tuple[object, int | None, str | None]:
        context = await handlers.capped_session_login(limit, logger=None, settings=None)
        if not isinstance(context, kopf.AiohttpSession):
            return context, None, None
        session = context.aiohttp_session
        try:
            return context, session.connector.limit, session.headers.get("Authorization")  # type: ignore[union-attr]
        finally:
            await session.close()

    context, limit, auth = asyncio.run(login(39))
    assert isinstance(context, kopf.AiohttpSession)
    assert (context.server, context.default_namespace) == ("https://api.example:6443", "ns")
    assert (limit, auth) == (39, "Bearer t0ken")
    assert asyncio.run(login(0))[0] is info  # no limit: Kopf builds its own session as before
