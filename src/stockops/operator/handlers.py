"""Kopf glue: indexes, change handlers and watch handlers (re-checks, cleanup), on a given registry.

The handlers only gather what the indexes know, call `Controller.run` (`run_analysis` for an
Analysis) and translate its answer for Kopf: a TickerModel waiting for its parent raises
`TemporaryError` with a growing delay (its status already says WaitingForParent and why); the
re-check (`recheck.Rechecker`, not Kopf timers: they force a finalizer) runs every few seconds, which
is what picks a child up promptly once its parent turns Ready and what refreshes training progress.
An Analysis waiting for its TickerModel raises nothing: the re-check picks it up (a pass whose inputs
did not change is skipped by the controller).
Handlers return None: structural schemas would prune anything Kopf stored from return values.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import kopf

from stockops.crd.base import GROUP, VERSION
from stockops.operator.analysis import ANALYSIS, observe_ticker_model
from stockops.operator.analysis_reconcile import AnalysisObserved
from stockops.operator.controller import Controller, InvalidSpecError
from stockops.operator.naming import LABEL_MANAGED_BY, LABEL_OWNER_UID, MANAGED_BY
from stockops.operator.observations import (
    InferenceServiceObservation,
    JobObservation,
    observe_inference_service,
    observe_job,
    observe_parent,
)
from stockops.operator.recheck import Rechecker
from stockops.operator.reconcile import Observed
from stockops.operator.settings import OperatorSettings
from stockops.operator.status import PARENT_MODEL, TICKER_MODEL
from stockops.operator.transitions import Event

# No finalizer is added: there are no delete handlers and no Kopf timers (see recheck.py), because owner
# references let the garbage collector remove our Jobs, InferenceServices and ConfigMaps, so a delete
# never waits for the operator, even while it is down. The DELETED watch event, when the operator sees
# it, forgets the object and deletes its dependents a little earlier. Kopf still knows the name, so it
# removes it from objects an older version finalized.
FINALIZER = "stockops.io/finalizer"
# Kopf's own annotations (progress, last-handled configuration) under a prefix of their own: Kopf
# ignores changes to annotations under its prefix, and the user-facing stockops.io/retrain annotation
# must trigger the update handler at once.
ANNOTATION_PREFIX = "kopf.stockops.io"
WAIT_DELAY_BASE_SECONDS = 2.0
MANAGED = {LABEL_MANAGED_BY: MANAGED_BY}
PLURALS = {PARENT_MODEL: "parentmodels", TICKER_MODEL: "tickermodels"}
# Every resource `register` puts a handler on: Kopf holds one watch stream open for each, per namespace.
WATCHED_RESOURCES = ("parentmodels", "tickermodels", "analyses", "jobs", "inferenceservices")
# Kopf's own streams besides those: CustomResourceDefinitions, and Namespaces when it resolves patterns.
KOPF_OWN_STREAMS = 2

logger = logging.getLogger(__name__)


def wait_delay(retry: int, cap: float) -> float:
    """Growing delay while a child waits for its parent: 2, 4, 8, ... seconds, capped."""
    return min(cap, WAIT_DELAY_BASE_SECONDS * (2 ** min(retry, 16)))


def post_event(body: Mapping[str, Any], event: Event) -> None:
    """Post a Kubernetes Event through Kopf's poster (queued, retried, never blocks a handler)."""
    kopf.event(body, type=event.type, reason=event.reason, message=event.message)  # type: ignore[arg-type]


def kopf_connection_limit(namespaces: Sequence[str], request_connections: int) -> int:
    """How many connections Kopf's HTTP session may hold: its watch streams plus `request_connections`.

    Kopf's own session has no limit, so a burst of work (a thousand objects created at once: each one's
    annotation patch and Events) opens a TLS connection per concurrent request, hundreds of them, each
    with about 300 KB of buffers that stay allocated, and the API server answers the excess with 429.
    The streams are counted because each holds its connection for minutes: a limit they could fill
    would starve every request. 0 (aiohttp's "no limit") where that count is unknown: a namespace
    pattern (glob, exclusion, comma list) that Kopf resolves at run time, or `request_connections` 0.
    """
    if request_connections <= 0 or any(set(pattern) & set("*?[!,") for pattern in namespaces):
        return 0
    streams = len(WATCHED_RESOURCES) * max(1, len(namespaces)) + KOPF_OWN_STREAMS
    return streams + request_connections


async def capped_session_login(
    connection_limit: int, **kwargs: Any
) -> kopf.ConnectionInfo | kopf.AiohttpSession | None:
    """Kopf's login from the kubernetes client's configuration, in a session of at most
    `connection_limit` connections (0: no limit), built as Kopf builds its own from the same
    ConnectionInfo. Kopf closes it when it logs in again (expired token, 401)."""
    info = await asyncio.to_thread(kopf.login_via_client, **kwargs)
    if info is None or connection_limit <= 0:
        return info
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connection_limit, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),
        proxy=info.proxy_url,
        trust_env=info.trust_env,
    )
    return kopf.AiohttpSession(
        aiohttp_session=session,
        server=info.server,
        default_namespace=info.default_namespace,
        priority=info.priority,
        expiration=info.expiration,
    )


def configure_kopf(settings: kopf.OperatorSettings, operator: OperatorSettings) -> None:
    """Kopf persistence under our own prefix; only explicit Events are posted."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.INFO
    settings.posting.loggers = False
    settings.execution.max_workers = operator.max_workers
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330


def _observed(
    kind: str,
    body: Mapping[str, Any],
    parents: kopf.Index[Any, Any],
    jobs: kopf.Index[Any, Any],
    isvcs: kopf.Index[Any, Any] | None,
) -> Observed:
    meta = body["metadata"]
    namespace, uid = meta.get("namespace"), meta["uid"]
    job_list: tuple[JobObservation, ...] = tuple(jobs.get((namespace, uid), ()))
    isvc: InferenceServiceObservation | None = None
    parent = None
    if kind == TICKER_MODEL:
        isvc = next(iter(isvcs.get((namespace, uid), ()) if isvcs is not None else ()), None)
        parent_name = ((body.get("spec") or {}).get("parentRef") or {}).get("name")
        parent = next(iter(parents.get((namespace, parent_name), ())), None)
    return Observed(jobs=job_list, isvc=isvc, parent=parent)


def register(
    registry: kopf.OperatorRegistry,
    controller: Controller,
    settings: OperatorSettings,
    namespaces: Sequence[str] = (),
) -> None:
    """Register every handler on `registry` (no module-level decorators: settings are passed in).

    `namespaces` are those Kopf is told to watch (none: cluster-wide); they size its connection pool.
    """
    connection_limit = kopf_connection_limit(namespaces, settings.kube_connections)

    @kopf.on.login(id="login", registry=registry)
    async def login(**kwargs: Any) -> kopf.ConnectionInfo | kopf.AiohttpSession | None:
        return await capped_session_login(connection_limit, **kwargs)

    rechecker = Rechecker(settings.timer_interval_seconds)

    @kopf.on.startup(id="configure", registry=registry)
    def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure_kopf(settings, controller.settings)
        rechecker.start()

    @kopf.on.cleanup(id="recheck-stop", registry=registry)
    def cleanup(**_: Any) -> None:
        rechecker.stop()

    @kopf.index(GROUP, VERSION, "parentmodels", id="parents", registry=registry)
    def parents(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
        return {(namespace, name): observe_parent(body)}

    @kopf.index(
        "batch", "v1", "jobs", id="jobs", labels={**MANAGED, LABEL_OWNER_UID: kopf.PRESENT}, registry=registry
    )
    def jobs(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict[Any, Any]:
        return {(namespace, labels[LABEL_OWNER_UID]): observe_job(body)}

    @kopf.index(
        "serving.kserve.io",
        "v1beta1",
        "inferenceservices",
        id="isvcs",
        labels={**MANAGED, LABEL_OWNER_UID: kopf.PRESENT},
        registry=registry,
    )
    def isvcs(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict[Any, Any]:
        return {(namespace, labels[LABEL_OWNER_UID]): observe_inference_service(body)}

    @kopf.index(GROUP, VERSION, "tickermodels", id="tickermodels", registry=registry)
    def tickermodels(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
        return {(namespace, name): observe_ticker_model(body, settings)}

    for kind, plural in PLURALS.items():
        _register_kind(registry, controller, settings, rechecker, kind, plural)
    _register_analysis(registry, controller, rechecker)


def _analysis_observed(
    body: Mapping[str, Any], models: kopf.Index[Any, Any], jobs: kopf.Index[Any, Any]
) -> AnalysisObserved:
    meta = body["metadata"]
    namespace = meta.get("namespace")
    ref = ((body.get("spec") or {}).get("tickerModelRef") or {}).get("name")
    return AnalysisObserved(
        jobs=tuple(jobs.get((namespace, meta["uid"]), ())),
        model=next(iter(models.get((namespace, ref), ())), None),
    )


def _register_analysis(registry: kopf.OperatorRegistry, controller: Controller, rechecker: Rechecker) -> None:
    """Analysis handlers. A waiting Analysis raises nothing: its status says why it waits, and the
    re-check picks it up once the TickerModel index shows the model Ready."""
    plural = "analyses"

    def run(trigger: str, body: kopf.Body, kwargs: dict[str, Any]) -> None:
        if body.get("metadata", {}).get("deletionTimestamp"):
            return
        observed = _analysis_observed(body, kwargs["tickermodels"], kwargs["jobs"])
        try:
            controller.run_analysis(body, observed, trigger)
        except InvalidSpecError as exc:  # status and Event already written; retrying cannot help
            if trigger == "timer":
                return
            raise kopf.PermanentError(f"invalid spec: {exc}") from exc

    @kopf.on.create(GROUP, VERSION, plural, id=f"{plural}-create", registry=registry)
    def on_create(body: kopf.Body, **kwargs: Any) -> None:
        run("create", body, kwargs)

    @kopf.on.update(GROUP, VERSION, plural, id=f"{plural}-update", registry=registry)
    def on_update(body: kopf.Body, **kwargs: Any) -> None:
        run("update", body, kwargs)

    @kopf.on.resume(GROUP, VERSION, plural, id=f"{plural}-resume", registry=registry)
    def on_resume(body: kopf.Body, **kwargs: Any) -> None:
        run("resume", body, kwargs)

    @kopf.on.event(GROUP, VERSION, plural, id=f"{plural}-watch", registry=registry)
    def on_event(event: Mapping[str, Any], body: kopf.Body, **kwargs: Any) -> None:
        indexes = {key: kwargs[key] for key in ("tickermodels", "jobs")}
        rechecker.observe(event.get("type"), body, lambda b: run("timer", b, indexes))  # type: ignore[arg-type]
        if event.get("type") == "DELETED":
            meta = body["metadata"]
            controller.cleanup(ANALYSIS, meta["namespace"], meta["name"], meta["uid"])


def _register_kind(
    registry: kopf.OperatorRegistry,
    controller: Controller,
    settings: OperatorSettings,
    rechecker: Rechecker,
    kind: str,
    plural: str,
) -> None:
    def run(
        trigger: str, body: kopf.Body, kwargs: dict[str, Any], retry: int = 0, raise_wait: bool = True
    ) -> None:
        if body.get("metadata", {}).get("deletionTimestamp"):
            return
        observed = _observed(kind, body, kwargs["parents"], kwargs["jobs"], kwargs.get("isvcs"))
        try:
            result = controller.run(kind, body, observed, trigger)
        except InvalidSpecError as exc:  # status and Event already written; retrying cannot help
            if trigger == "timer":
                return
            raise kopf.PermanentError(f"invalid spec: {exc}") from exc
        if result is not None and result.waiting_for_parent and raise_wait:
            raise kopf.TemporaryError(
                result.waiting_for_parent, delay=wait_delay(retry, settings.wait_delay_max_seconds)
            )

    @kopf.on.create(GROUP, VERSION, plural, id=f"{plural}-create", registry=registry)
    def on_create(body: kopf.Body, retry: int, **kwargs: Any) -> None:
        run("create", body, kwargs, retry)

    @kopf.on.update(GROUP, VERSION, plural, id=f"{plural}-update", registry=registry)
    def on_update(body: kopf.Body, retry: int, **kwargs: Any) -> None:
        run("update", body, kwargs, retry)

    @kopf.on.resume(GROUP, VERSION, plural, id=f"{plural}-resume", registry=registry)
    def on_resume(body: kopf.Body, retry: int, **kwargs: Any) -> None:
        run("resume", body, kwargs, retry)

    @kopf.on.event(GROUP, VERSION, plural, id=f"{plural}-watch", registry=registry)
    def on_event(event: Mapping[str, Any], body: kopf.Body, **kwargs: Any) -> None:
        indexes = {key: kwargs[key] for key in ("parents", "jobs", "isvcs") if key in kwargs}
        rechecker.observe(
            event.get("type"),
            body,
            lambda b: run("timer", b, indexes, raise_wait=False),  # type: ignore[arg-type]
        )
        if event.get("type") == "DELETED":
            meta = body["metadata"]
            controller.cleanup(kind, meta["namespace"], meta["name"], meta["uid"])
