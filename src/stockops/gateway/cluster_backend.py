"""Cluster mode: the gateway's API as reads and writes of our custom resources, nothing else.

- A forecast is the ticker's own KServe predictor (``status.inference.url`` of its TickerModel, V1
  ``:predict``); a ticker with no TickerModel gets one from the template and the caller a task.
- A training is a ParentModel / TickerModel created from the template, or, when it exists, the
  ``stockops.io/retrain`` annotation the operator answers with a new Job.
- A task is ``<kind>/<name>/<generation>``: ``GET /status`` reads that resource's status.
- An analysis is an Analysis (one per TickerModel and question); its report is the ConfigMap the
  operator writes beside it.
- A drift check is the ``stockops.io/monitor`` annotation; its result is ``status.monitoring``.

No training, serving or analysis code runs here: the operator, the trainer, the predictors and the
agents do that work. The gateway's ServiceAccount may create, get, list, watch and patch our resources
in its namespace (delete only when reset is enabled) and read the report ConfigMaps.

The Kubernetes client is synchronous; every call runs in a worker thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from stockops.gateway import cluster_resources as res
from stockops.gateway.errors import (
    BackendUnavailableError,
    ConflictError,
    ForbiddenError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    NotReadyError,
    TaskNotFoundError,
    UnknownTickerError,
)
from stockops.gateway.names import TaskId, resource_name
from stockops.gateway.schemas import (
    ACTIVE_PHASES,
    DriftFeature,
    DriftResult,
    ForecastResponse,
    LiveResult,
    PricePoint,
    ResetResult,
    TaskStatus,
    TickerDetail,
    TickerSummary,
    TrainingOptions,
)
from stockops.gateway.settings import GatewaySettings
from stockops.gateway.template import fill_child, fill_parent, load_template, template_parent

log = logging.getLogger(__name__)

GROUP, VERSION = "stockops.io", "v1alpha1"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class ClusterSettings(BaseSettings):
    """Settings only cluster mode has (env prefix ``STOCKOPS_GATEWAY_``); the rest is `GatewaySettings`."""

    model_config = SettingsConfigDict(env_prefix="STOCKOPS_GATEWAY_", extra="ignore")

    kubeconfig: Path | None = Field(
        default=None, description="A kubeconfig (outside a cluster); unset: in-cluster, else ~/.kube/config."
    )
    predictor_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    monitor_wait_seconds: float = Field(
        default=60.0, ge=0, le=900, description="How long POST /monitor waits for the check's result."
    )


class ClusterBackend:
    """The custom resources of one namespace behind the gateway's API (see the module docstring)."""

    mode: Literal["local", "cluster"] = "cluster"

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        cluster: ClusterSettings | None = None,
        api_client: Any = None,
    ) -> None:
        from kubernetes import client, config

        self.settings = settings
        self.cluster = cluster or ClusterSettings()
        if api_client is None:
            if self.cluster.kubeconfig is not None:
                api_client = config.new_client_from_config(config_file=str(self.cluster.kubeconfig))
            else:
                try:
                    config.load_incluster_config()
                except config.ConfigException:
                    config.load_kube_config()
                api_client = client.ApiClient()
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self._api_exception = client.ApiException
        self.namespace = self.settings.namespace or self._own_namespace()
        self.ticker_template = load_template(self.settings.ticker_template, "TickerModel")
        self.parent_template = load_template(self.settings.parent_template, "ParentModel")
        self._forecasts: dict[tuple[str, int, str], tuple[float, ForecastResponse]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @staticmethod
    def _own_namespace() -> str:
        try:
            return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
        except OSError:
            return "default"

    # -- Kubernetes I/O ---------------------------------------------------------------------------

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except self._api_exception as exc:
            raise self._translate(exc) from exc
        except OSError as exc:  # connection refused, DNS: the API server is not reachable
            raise BackendUnavailableError(f"the Kubernetes API did not answer: {exc}") from exc

    def _translate(self, exc: Any) -> GatewayError:
        message = _api_message(exc)
        if exc.status == 404:
            return NotFoundError(message)
        if exc.status == 409:
            return ConflictError(message)
        if exc.status in {400, 422}:
            return InvalidRequestError(f"the cluster refused the resource: {message}")
        if exc.status == 403:
            return BackendUnavailableError(f"the gateway's ServiceAccount may not do this: {message}")
        return BackendUnavailableError(f"the Kubernetes API answered {exc.status}: {message}")

    async def _get(self, kind: str, name: str) -> dict[str, Any] | None:
        try:
            return await self._call(
                self._custom.get_namespaced_custom_object,
                GROUP,
                VERSION,
                self.namespace,
                res.PLURALS[kind],
                name,
            )
        except NotFoundError:
            return None

    async def _list(self, kind: str, **kwargs: Any) -> list[dict[str, Any]]:
        listed = await self._call(
            self._custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            res.PLURALS[kind],
            **kwargs,
        )
        return list(listed.get("items") or [])

    async def _create(self, kind: str, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create, or read back the one a concurrent request created first (same name: same resource)."""
        try:
            return await self._call(
                self._custom.create_namespaced_custom_object,
                GROUP,
                VERSION,
                self.namespace,
                res.PLURALS[kind],
                manifest,
                field_validation="Strict",
            )
        except ConflictError:
            existing = await self._get(kind, manifest["metadata"]["name"])
            if existing is None:
                raise
            return existing

    async def _annotate(self, kind: str, name: str, key: str, value: str) -> dict[str, Any]:
        return await self._call(
            self._custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            res.PLURALS[kind],
            name,
            {"metadata": {"annotations": {key: value}}},
        )

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    # -- the Backend protocol ---------------------------------------------------------------------

    async def list_tickers(self) -> list[TickerSummary]:
        children = [res.ticker_summary(o, "child") for o in await self._list("tickermodel")]
        parents = [res.ticker_summary(o, "parent") for o in await self._list("parentmodel")]
        served = {row.ticker for row in children}
        return sorted(children + [p for p in parents if p.ticker not in served], key=lambda r: r.ticker)

    async def _model(self, ticker: str) -> tuple[str, dict[str, Any]] | None:
        """The TickerModel of the ticker, else its ParentModel (kind, object); None when neither exists."""
        name = resource_name(ticker)
        for kind in ("tickermodel", "parentmodel"):
            obj = await self._get(kind, name)
            if obj is not None:
                return kind, obj
        return None

    async def ticker_detail(self, ticker: str) -> TickerDetail:
        found = await self._model(ticker)
        if found is None:
            raise UnknownTickerError(ticker)
        kind, obj = found
        status = obj.get("status") or {}
        task = res.resource_task(res.task_of(kind, obj), obj)
        monitoring = status.get("monitoring") or {}
        return TickerDetail(
            ticker=res.ticker_of(obj),
            name=obj["metadata"]["name"],
            kind="child" if kind == "tickermodel" else "parent",
            phase=task.phase,
            progress=task.progress,
            task_id=task.task_id,
            model_name=(status.get("mlflow") or {}).get("modelName"),
            model_version=(status.get("mlflow") or {}).get("servingVersion"),
            parent=(status.get("parent") or {}).get("modelVersion"),
            horizon_days=res.horizon_of(obj),
            synthetic=status.get("synthetic"),
            no_edge=(status.get("metrics") or {}).get("noEdge"),
            metrics=res.model_metrics(status),
            live=_live(monitoring.get("live")),
            drift=_drift(res.ticker_of(obj), obj) if monitoring.get("drift") else None,
            message=task.message,
        )

    async def forecast(self, ticker: str, days: int) -> ForecastResponse:
        name = resource_name(ticker)
        obj = await self._get("tickermodel", name)
        if obj is None:
            if await self._get("parentmodel", name) is not None:
                raise ConflictError(
                    f"{ticker} is a ParentModel, which the cluster trains but does not serve; apply a "
                    f"TickerModel of {ticker} to serve it",
                    field="ticker",
                )
            raise UnknownTickerError(ticker)
        url, model = res.inference_url(obj), res.model_name(obj)
        if url is None or model is None:
            phase = (obj.get("status") or {}).get("phase") or "Pending"
            if phase == "Failed":
                task = res.resource_task(res.task_of("tickermodel", obj), obj)
                raise ConflictError(f"{ticker} has no served model: {task.message}", field="ticker")
            raise NotReadyError(ticker, str(res.task_of("tickermodel", obj)))
        horizon = res.horizon_of(obj)
        if horizon is not None and days > horizon:
            raise InvalidRequestError(f"days must be at most {horizon}, the horizon of {model}", field="days")
        version = str((obj.get("status") or {}).get("inference", {}).get("modelVersion") or "")
        key = (ticker, days, version)
        hit = self._forecasts.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.settings.forecast_cache_seconds:
            return hit[1].model_copy(update={"cached": True})
        answer = await asyncio.to_thread(self._predict, url, model, days)
        forecast = ForecastResponse(
            **{**answer, "ticker": ticker, "days": len(answer.get("forecast") or []), "cached": False}
        )
        self._forecasts[key] = (time.monotonic(), forecast)
        return forecast

    def _predict(self, url: str, model: str, days: int) -> dict[str, Any]:
        import requests

        endpoint = res.predict_url(url, model)
        try:
            response = requests.post(
                endpoint,
                json={"instances": [{"days": days}]},
                timeout=self.cluster.predictor_timeout_seconds,
            )
        except requests.RequestException as exc:
            raise BackendUnavailableError(f"the predictor at {endpoint} did not answer: {exc}") from exc
        if response.status_code == 400:
            raise InvalidRequestError(
                f"the predictor refused the request: {response.text[:300]}", field="days"
            )
        if response.status_code >= 300:
            raise BackendUnavailableError(
                f"the predictor at {endpoint} answered HTTP {response.status_code}: {response.text[:300]}"
            )
        predictions = response.json().get("predictions") or []
        if not predictions:
            raise BackendUnavailableError(f"the predictor at {endpoint} returned no prediction")
        return dict(predictions[0])

    async def start_training(
        self, kind: Literal["parent", "child"], ticker: str, options: TrainingOptions
    ) -> TaskStatus:
        task_kind = "parentmodel" if kind == "parent" else "tickermodel"
        name = resource_name(ticker)
        async with self._lock(name):
            existing = await self._get(task_kind, name)
            if existing is not None:
                status = res.resource_task(res.task_of(task_kind, existing), existing)
                if status.phase in ACTIVE_PHASES:
                    return status  # one training at a time: the running one is the answer
                stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                updated = await self._annotate(task_kind, name, res.RETRAIN_ANNOTATION, f"gateway-{stamp}")
                return res.resource_task(res.task_of(task_kind, updated), updated).model_copy(
                    update={"phase": "Pending", "done": False, "message": "retraining requested"}
                )
            if kind == "parent":
                manifest = fill_parent(self.parent_template, ticker, options)
            else:
                parent = (
                    options.parent or template_parent(self.ticker_template) or self.settings.parent_ticker
                )
                manifest = fill_child(self.ticker_template, ticker, parent, options)
            manifest = res.for_cluster(manifest)
            created = await self._create(task_kind, manifest)
            return res.resource_task(res.task_of(task_kind, created), created)

    async def task(self, task_id: str) -> TaskStatus:
        try:
            parsed = TaskId.parse(task_id)
        except ValueError as exc:
            raise InvalidRequestError(str(exc), field="task_id") from exc
        obj = await self._get(parsed.kind, parsed.name)
        if obj is None or int((obj.get("metadata") or {}).get("generation") or 1) < parsed.generation:
            raise TaskNotFoundError(task_id)
        report = None
        if parsed.kind == "analysis":
            report = await self._report(obj)
        return res.resource_task(parsed, obj, report)

    async def _report(self, obj: dict[str, Any]) -> str | None:
        name = ((obj.get("status") or {}).get("report") or {}).get("configMap")
        if not name:
            return None
        try:
            config_map = await self._call(self._core.read_namespaced_config_map, name, self.namespace)
        except NotFoundError:
            return None
        return (config_map.data or {}).get("report.md")

    async def history(self, ticker: str, days: int) -> list[PricePoint]:
        found = await self._model(ticker)
        if found is None:
            raise UnknownTickerError(ticker)
        source = ((found[1].get("spec") or {}).get("data") or {}).get("source")
        return await asyncio.to_thread(_closes, ticker, days, source)

    async def analyze(self, ticker: str, question: str) -> TaskStatus:
        name = resource_name(ticker)
        if await self._get("tickermodel", name) is None:
            raise UnknownTickerError(ticker, f"ticker {ticker} has no TickerModel to analyse; train it first")
        created = await self._create("analysis", res.analysis_manifest(name, question, ticker=ticker))
        task = res.task_of("analysis", created)
        return res.resource_task(task, created, await self._report(created))

    async def monitor(self, ticker: str) -> DriftResult:
        name = resource_name(ticker)
        if await self._get("tickermodel", name) is None:
            raise UnknownTickerError(ticker)
        request = f"gateway-{time.time_ns()}"
        await self._annotate("tickermodel", name, res.MONITOR_ANNOTATION, request)
        deadline = time.monotonic() + self.cluster.monitor_wait_seconds
        while True:
            obj = await self._get("tickermodel", name) or {}
            monitoring = (obj.get("status") or {}).get("monitoring") or {}
            if monitoring.get("request") == request and (
                monitoring.get("drift") or monitoring.get("failure")
            ):
                if monitoring.get("failure"):
                    raise ConflictError(f"the drift check of {ticker} failed: {monitoring['failure']}")
                return _drift(ticker, obj)
            if time.monotonic() >= deadline:
                return DriftResult(
                    ticker=ticker,
                    verdict="Pending",
                    message=f"check requested ({request}); GET /monitor/{ticker}/drift for its result",
                )
            await asyncio.sleep(1.0)

    async def drift(self, ticker: str) -> DriftResult:
        obj = await self._get("tickermodel", resource_name(ticker))
        if obj is None:
            raise UnknownTickerError(ticker)
        if not ((obj.get("status") or {}).get("monitoring") or {}).get("drift"):
            raise NotFoundError(f"no drift check of {ticker} has run yet; POST /monitor/{ticker} runs one")
        return _drift(ticker, obj)

    async def reset(self) -> ResetResult:
        if not self.settings.allows_reset:
            raise ForbiddenError(
                "reset is disabled in this cluster (chart value gateway.reset.enabled); it would delete "
                "the resources the gateway created"
            )
        selector = f"{res.CREATED_BY_LABEL}={res.CREATED_BY}"
        removed: list[str] = []
        for kind in ("analysis", "tickermodel", "parentmodel"):
            for obj in await self._list(kind, label_selector=selector):
                name = obj["metadata"]["name"]
                try:
                    await self._call(
                        self._custom.delete_namespaced_custom_object,
                        GROUP,
                        VERSION,
                        self.namespace,
                        res.PLURALS[kind],
                        name,
                    )
                except NotFoundError:
                    continue
                removed.append(f"{res.KINDS[kind]}/{self.namespace}/{name}")
        cached = len(self._forecasts)
        self._forecasts.clear()
        return ResetResult(mode="cluster", removed=removed, cache_entries_removed=cached)

    async def health(self) -> dict[str, Any]:
        try:
            await self._list("tickermodel", limit=1)
        except GatewayError as exc:
            return {"status": "degraded", "namespace": self.namespace, "kubernetes": exc.message}
        return {"status": "ok", "namespace": self.namespace, "kubernetes": "reachable"}

    async def close(self) -> None:
        self._forecasts.clear()


def _live(live: dict[str, Any] | None) -> LiveResult | None:
    if not live or not live.get("verdict"):
        return None
    return LiveResult(
        verdict=live["verdict"],
        n_forecasts=live.get("forecasts") or 0,
        n_points=live.get("points") or 0,
        rmse=live.get("rmse"),
        naive_rmse=live.get("naiveRmse"),
        skill=live.get("skill"),
        skill_ci_low=live.get("skillLow"),
        skill_ci_high=live.get("skillHigh"),
        coverage=live.get("coverage"),
        directional_accuracy=live.get("directionalAccuracy"),
        message=live.get("message") or "",
    )


def _drift(ticker: str, obj: dict[str, Any]) -> DriftResult:
    """``status.monitoring`` as the API's drift result (the per-feature scores stay in MLflow's report)."""
    status = obj.get("status") or {}
    monitoring = status.get("monitoring") or {}
    drift = monitoring.get("drift") or {}
    drifted = list(drift.get("driftedFeatures") or [])
    return DriftResult(
        ticker=ticker,
        model_name=(status.get("mlflow") or {}).get("modelName"),
        model_version=drift.get("modelVersion"),
        verdict=drift.get("verdict") or "InsufficientData",
        checked_at=drift.get("checkedAt"),
        share=drift.get("share"),
        drifted_features=drifted,
        features=[DriftFeature(column=c, drifted=True, stattest=drift.get("method")) for c in drifted],
        message=drift.get("message") or "",
        monitor_run_id=drift.get("runId"),
        report_uri=drift.get("reportUri"),
        live=_live(monitoring.get("live")),
    )


_HISTORY_SECONDS = 900.0
_histories: dict[tuple[str, str], tuple[float, Any]] = {}


def _closes(ticker: str, days: int, source_spec: str | None) -> list[PricePoint]:
    """The last ``days`` closes from the ticker's data source (its spec's, else STOCKOPS_DATA_SOURCE),
    kept 15 minutes: the console's chart must not fetch a whole history per page view."""
    from stockops.config import load_settings
    from stockops.data.errors import DataError
    from stockops.data.sources import source_from_string

    spec = source_spec or load_settings().data_source
    hit = _histories.get((ticker, spec))
    if hit is not None and time.monotonic() - hit[0] < _HISTORY_SECONDS:
        closes = hit[1]
    else:
        try:
            closes = source_from_string(spec).fetch(ticker).frame["close"]
        except DataError as exc:
            raise BackendUnavailableError(f"no price history of {ticker} from {spec}: {exc}") from exc
        _histories[(ticker, spec)] = (time.monotonic(), closes)
    return [PricePoint(date=index.date(), close=float(value)) for index, value in closes.iloc[-days:].items()]


def _api_message(exc: Any) -> str:
    import json

    try:
        return str(json.loads(exc.body).get("message") or exc.reason)
    except (TypeError, ValueError, AttributeError):
        return str(getattr(exc, "reason", exc))
