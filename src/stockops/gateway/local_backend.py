"""The gateway on one machine: the same pipeline functions the CLI calls, behind the HTTP API.

- Forecasts: `cached_forecast_bundle` + `forecast_window` + `forecast_prices`, exactly as ``stockops
  predict`` (a forecast cache in front, `forecast_cache`).
- Trainings: `train_and_register` in a bounded thread pool (``training_workers``, default 1), from the
  ticker template mapped the way the trainer maps a CR spec (`template`). Starting is idempotent per
  ticker: under that ticker's lock, a pending or running training of it is returned instead of a second
  one. A new child whose parent has no production version gets a parent training first and waits for it
  (``WaitingForParent``) without holding a worker, as the operator waits for a ParentModel.
- Analyses: `run_analysis` (its own pool, ``analysis_workers``); monitoring: `monitor_drift` +
  `live_error`, as ``stockops monitor``.
- State: tasks in SQLite (`tasks`), so a restart keeps them; the models, features and caches are the
  local stores every command shares (``$STOCKOPS_HOME``).

Blocking work runs in worker threads (`anyio.to_thread`); only a forecast-cache hit stays on the event
loop, which keeps a cached ``/predict-child`` fast.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal

from anyio import to_thread

from stockops.config import Settings
from stockops.gateway.errors import (
    BackendUnavailableError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    NotReadyError,
    TaskNotFoundError,
    UnknownTickerError,
)
from stockops.gateway.forecast_cache import ForecastCache
from stockops.gateway.names import TaskId, resource_name
from stockops.gateway.schemas import (
    DriftResult,
    ForecastResponse,
    ModelMetrics,
    PricePoint,
    ResetResult,
    TaskStatus,
    TickerDetail,
    TickerSummary,
    TrainingOptions,
)
from stockops.gateway.settings import GatewaySettings
from stockops.gateway.tasks import TaskRecord, TaskStore, condition
from stockops.gateway.template import fill_child, fill_parent, load_template, template_parent, train_request

log = logging.getLogger(__name__)

TrainingKind = Literal["parent", "child"]
# Under $STOCKOPS_HOME: what a reset deletes (the gateway's keys stay, so its users keep access).
RESET_PATHS = (
    "mlflow.db",
    "mlflow.db-wal",
    "mlflow.db-shm",
    "mlflow.db-journal",
    "mlartifacts",
    "features",
    "cache",
    "outputs",
    "qdrant",
)
METRIC_KEYS = tuple(f for f in ModelMetrics.model_fields if f != "per_horizon")
ANALYSIS_STEPS = 6  # nodes a fresh analysis runs (forecast, cache, analysts, writer, critic): progress only


class LocalBackend:
    mode: Literal["local"] = "local"

    def __init__(self, settings: Settings, gateway: GatewaySettings) -> None:
        self.settings = settings
        self.gateway = gateway
        self.tasks = TaskStore(settings.home_dir / "gateway" / "tasks.db")
        self.interrupted = self.tasks.interrupt_unfinished()
        if self.interrupted:
            log.warning("tasks interrupted by the last stop, now Failed: %s", ", ".join(self.interrupted))
        self.ticker_template = load_template(gateway.ticker_template, "TickerModel")
        self.parent_template = load_template(gateway.parent_template, "ParentModel")
        self.cache = ForecastCache(gateway.forecast_cache_seconds)
        self.on_training_started: Callable[[str], None] = lambda kind: None
        self._trainers = ThreadPoolExecutor(gateway.training_workers, thread_name_prefix="gateway-train")
        self._analysts = ThreadPoolExecutor(gateway.analysis_workers, thread_name_prefix="gateway-analysis")
        self._futures: dict[str, Future[None]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._recorded: dict[tuple[str, int], str] = {}
        self._connected = False
        self._connect_lock = threading.Lock()
        self._forecast_log: Any = None

    # --- forecasts ---------------------------------------------------------------------------------

    async def forecast(self, ticker: str, days: int) -> ForecastResponse:
        hit = self.cache.get(ticker, days)
        if hit is not None:
            return hit.model_copy(update={"cached": True})
        answer = await to_thread.run_sync(self._forecast, ticker, days)
        self.cache.put(ticker, days, answer)
        return answer

    def _forecast(self, ticker: str, days: int) -> ForecastResponse:
        from stockops.data.errors import DataError
        from stockops.feature_access import forecast_window
        from stockops.model.forecasting import ForecastInputError, forecast_prices
        from stockops.registry.loading import ModelNotFoundError
        from stockops.registry.local_cache import cached_forecast_bundle
        from stockops.registry.naming import registered_model_name

        name = registered_model_name(ticker)
        self._connect_once()
        try:
            bundle, version = cached_forecast_bundle(self.settings, name)
        except ModelNotFoundError:
            active = self.tasks.active_training(ticker)
            if active is not None:
                raise NotReadyError(ticker, active.task_id) from None
            raise UnknownTickerError(ticker, self._unknown_message(ticker)) from None
        spec = bundle.feature_spec
        if days > spec.horizon_days:
            raise InvalidRequestError(
                f"days must be between 1 and {spec.horizon_days} (the horizon of {name} v{version}), "
                f"got {days}",
                field="days",
            )
        try:
            latest = forecast_window(ticker, spec.columns, spec.context_days, self.settings)
            forecast = forecast_prices(bundle, latest.window, latest.last_close, latest.as_of, days)
        except ForecastInputError as exc:
            raise InvalidRequestError(str(exc), field=exc.field) from exc
        except DataError as exc:
            raise BackendUnavailableError(
                f"no prices to forecast {ticker} from: {exc}", field="ticker"
            ) from exc
        answer = ForecastResponse(
            ticker=ticker,
            model_name=name,
            model_version=version,
            as_of=latest.as_of,
            days=days,
            last_close=latest.last_close,
            forecast=[p.model_dump() for p in forecast.points],  # type: ignore[misc]
            naive=[{"date": p.date, "close": p.close} for p in forecast.naive],  # type: ignore[misc]
            interval={"low_quantile": 0.1, "high_quantile": 0.9} if bundle.interval_offsets else None,  # type: ignore[arg-type]
            no_edge=bool(bundle.no_edge),
            synthetic=bool(latest.synthetic or bundle.synthetic),
            data_source=latest.data_source,
            data_note=latest.note,
            cached=False,
        )
        self._record(answer)
        return answer

    def _record(self, answer: ForecastResponse) -> None:
        """With ``STOCKOPS_REDIS_URL``, log the served forecast (once per days and as-of date) for the
        live-error check, as the predictor does (`stockops.monitoring.forecast_log`)."""
        if not self.settings.redis_url:
            return
        key = (answer.ticker, answer.days)
        if self._recorded.get(key) == answer.as_of.isoformat():
            return
        if self._forecast_log is None:
            from stockops.monitoring.forecast_log import RedisForecastLog

            self._forecast_log = RedisForecastLog(self.settings.redis_url)
        if self._forecast_log.record(answer.model_dump(mode="json")):
            self._recorded[key] = answer.as_of.isoformat()

    def _unknown_message(self, ticker: str) -> str:
        last = self.tasks.latest_training(ticker)
        if last is not None and last.phase == "Failed":
            return (
                f"ticker {ticker} has no model: its last training {last.task_id} failed "
                f"({last.reason()}: {last.message})"
            )
        return f"ticker {ticker} has no model and no training"

    # --- trainings ---------------------------------------------------------------------------------

    async def start_training(self, kind: TrainingKind, ticker: str, options: TrainingOptions) -> TaskStatus:
        record = await to_thread.run_sync(self._start_training, kind, ticker, options)
        return record.to_status()

    def _lock(self, ticker: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(ticker, threading.Lock())

    def _start_training(self, kind: TrainingKind, ticker: str, options: TrainingOptions) -> TaskRecord:
        with self._lock(ticker):
            active = self.tasks.active_training(ticker)
            if active is not None:
                return active
            if kind == "parent":
                resource = fill_parent(self.parent_template, ticker, options)
                record = self.tasks.create(
                    "parentmodel",
                    resource_name(ticker),
                    ticker,
                    options={"resource": resource},
                    conditions=[condition("Trained", "Unknown", "Pending", "queued for a training worker")],
                )
                self._submit_training(record)
                return record
            parent = options.parent or template_parent(self.ticker_template) or self.gateway.parent_ticker
            resource = fill_child(self.ticker_template, ticker, parent, options)
            waiting_on = self._parent_dependency(parent)
            if waiting_on is None:
                record = self.tasks.create(
                    "tickermodel",
                    resource_name(ticker),
                    ticker,
                    options={"resource": resource},
                    conditions=[
                        condition("ParentReady", "True", "ParentReady", f"parent {parent} is in production"),
                        condition("Trained", "Unknown", "Pending", "queued for a training worker"),
                    ],
                )
                self._submit_training(record)
                return record
            record = self.tasks.create(
                "tickermodel",
                resource_name(ticker),
                ticker,
                phase="WaitingForParent",
                options={"resource": resource},
                parent_task_id=waiting_on.task_id,
                message=f"waiting for parent {parent} (task {waiting_on.task_id})",
                conditions=[
                    condition(
                        "ParentReady",
                        "False",
                        "WaitingForParent",
                        f"parent {parent} has no production version; it trains first "
                        f"(task {waiting_on.task_id})",
                    )
                ],
            )
            self._after(waiting_on.task_id, lambda: self._parent_finished(record.task_id, waiting_on.task_id))
            return record

    def _parent_dependency(self, parent: str) -> TaskRecord | None:
        """None when ``parent`` has a production version; else its (new or running) training."""
        with self._lock(parent):
            if self._production_version(parent) is not None:
                return None
            active = self.tasks.active_training(parent)
            if active is not None and active.task_id in self._futures:
                return active
            resource = fill_parent(self.parent_template, parent)
            record = self.tasks.create(
                "parentmodel",
                resource_name(parent),
                parent,
                options={"resource": resource},
                conditions=[
                    condition("Trained", "Unknown", "Pending", "queued: a child waits for this parent")
                ],
            )
            self._submit_training(record)
            return record

    def _after(self, task_id: str, then: Callable[[], None]) -> None:
        future = self._futures.get(task_id)
        if future is None:  # finished in between: its record says how
            then()
        else:
            future.add_done_callback(lambda _f: then())

    def _parent_finished(self, child_id: str, parent_id: str) -> None:
        parent = self.tasks.get(parent_id)
        if parent is not None and parent.phase == "Ready":
            child = self.tasks.update(
                child_id,
                phase="Pending",
                message="",
                condition_update=condition(
                    "ParentReady", "True", "ParentReady", f"parent {parent.ticker} is Ready"
                ),
            )
            self._submit_training(child)
            return
        why = f"{parent.reason()}: {parent.message}" if parent is not None else "its task is gone"
        self.tasks.update(
            child_id,
            phase="Failed",
            message=f"the parent training {parent_id} did not reach Ready ({why})",
            condition_update=condition(
                "Ready", "False", "ParentFailed", f"parent training {parent_id} failed"
            ),
        )

    def _submit_training(self, record: TaskRecord) -> None:
        kind: TrainingKind = "parent" if record.kind == "parentmodel" else "child"
        self.on_training_started(kind)
        future = self._trainers.submit(self._train, record.task_id)
        self._futures[record.task_id] = future
        future.add_done_callback(lambda _f: self._futures.pop(record.task_id, None))

    def _train(self, task_id: str) -> None:
        """One training, start to finish; every outcome ends in the task record, never raises."""
        from stockops.pipeline import train_and_register
        from stockops.trainer.__main__ import classify_failure

        record = self.tasks.get(task_id)
        if record is None:
            return
        kind: TrainingKind = "parent" if record.kind == "parentmodel" else "child"
        try:
            request = train_request(
                kind,
                record.options["resource"],
                default_source=self.settings.data_source,
                min_skill=self.settings.promotion_min_skill,
            )
            self.tasks.update(
                task_id,
                phase="Training",
                epochs=request.training.epochs,
                condition_update=condition("Trained", "Unknown", "Training", "training started"),
            )

            def on_epoch(stats: Any) -> None:
                epochs = max(int(stats.epochs), 1)
                self.tasks.update(
                    task_id,
                    epoch=int(stats.epoch),
                    epochs=epochs,
                    progress=min(99, round(100 * int(stats.epoch) / epochs)),
                )

            summary = train_and_register(request, self.settings, on_epoch=on_epoch)
        except Exception as exc:
            self._failed(task_id, "training", classify_failure(exc)[0], exc)
            return
        finally:
            self.cache.invalidate(record.ticker)
        compact = summary.termination_message()
        trained = condition(
            "Trained",
            "True",
            "Trained",
            f"{summary.model_name} v{summary.model_version} in {summary.train_seconds}s",
        )
        self.tasks.update(task_id, condition_update=trained)
        promoted = summary.promoted
        self.tasks.update(
            task_id,
            phase="Ready" if promoted else "Failed",
            progress=100 if promoted else self.tasks.get(task_id).progress,  # type: ignore[union-attr]
            metrics=compact["metrics"],
            model_name=summary.model_name,
            model_version=summary.model_version,
            message=summary.promotion_reason,
            condition_update=condition(
                "Promoted",
                "True" if promoted else "False",
                "Promoted" if promoted else "BelowGate",
                summary.promotion_reason,
            ),
        )
        self.tasks.update(
            task_id,
            condition_update=condition(
                "Ready",
                "True" if promoted else "False",
                "Ready" if promoted else "NotPromoted",
                f"version {summary.production_version} serves forecasts"
                if promoted
                else "no version is in production",
            ),
        )

    def _failed(self, task_id: str, what: str, reason: str, exc: BaseException) -> None:
        """A training or analysis that raised: Failed, with the reason and the error's one-line message."""
        message = " ".join(str(exc).split()) or type(exc).__name__
        log.warning("%s %s failed (%s): %s", what, task_id, reason, message)
        self.tasks.update(
            task_id,
            phase="Failed",
            message=message[:2000],
            condition_update=condition("Ready", "False", reason, message[:500]),
        )

    def _connect_once(self) -> None:
        """Connect to the registry once, serialised: the first connection creates the MLflow experiment,
        and two requests racing to create it would fail one of them."""
        if self._connected:
            return
        from stockops.registry.tracking import TrackingTarget, connect

        with self._connect_lock:
            if not self._connected:
                connect(TrackingTarget.from_settings(self.settings))
                self._connected = True

    def _production_version(self, ticker: str) -> str | None:
        from stockops.registry.loading import ModelNotFoundError, resolve_version
        from stockops.registry.naming import registered_model_name
        from stockops.registry.tracking import TrackingTarget, connect

        self._connect_once()
        client = connect(TrackingTarget.from_settings(self.settings))
        try:
            return str(resolve_version(client, registered_model_name(ticker)).version)
        except ModelNotFoundError:
            return None

    # --- tasks -------------------------------------------------------------------------------------

    async def task(self, task_id: str) -> TaskStatus:
        TaskId.parse(task_id)  # the app validated it; a direct caller gets the same ValueError
        record = self.tasks.get(task_id)
        if record is None:
            raise TaskNotFoundError(task_id)
        return record.to_status()

    # --- analysis ----------------------------------------------------------------------------------

    async def analyze(self, ticker: str, question: str) -> TaskStatus:
        record = await to_thread.run_sync(self._start_analysis, ticker, question)
        return record.to_status()

    def _start_analysis(self, ticker: str, question: str) -> TaskRecord:
        with self._lock(ticker):
            production = self._production_version(ticker)
            training = self.tasks.active_training(ticker)
            if production is None and training is None:
                raise UnknownTickerError(
                    ticker, f"ticker {ticker} has no model to analyse: train it first (POST /train-child)"
                )
            waiting = production is None and training is not None and training.task_id in self._futures
            record = self.tasks.create(
                "analysis",
                resource_name(ticker),
                ticker,
                options={"question": question},
                parent_task_id=training.task_id if waiting and training else None,
                conditions=[
                    condition(
                        "TickerModelReady",
                        "False" if waiting else "True",
                        "WaitingForTickerModel" if waiting else "TickerModelReady",
                        f"waiting for training {training.task_id}" if waiting and training else "",
                    )
                ],
            )
        if waiting and training is not None:
            self._after(training.task_id, lambda: self._submit_analysis(record.task_id))
        else:
            self._submit_analysis(record.task_id)
        return record

    def _submit_analysis(self, task_id: str) -> None:
        future = self._analysts.submit(self._analyse, task_id)
        self._futures[task_id] = future
        future.add_done_callback(lambda _f: self._futures.pop(task_id, None))

    def _analyse(self, task_id: str) -> None:
        from stockops.agent.errors import AnalysisError
        from stockops.agent.run import run_analysis
        from stockops.agent.settings import load_agent_settings

        record = self.tasks.get(task_id)
        if record is None:
            return
        self.tasks.update(
            task_id,
            phase="Running",
            condition_update=condition("TickerModelReady", "True", "TickerModelReady", ""),
        )
        done: list[str] = []

        def progress(event: str, node: str, detail: str) -> None:
            if event == "done":
                done.append(node)
                self.tasks.update(task_id, progress=min(95, round(100 * len(done) / ANALYSIS_STEPS)))

        try:
            result = run_analysis(
                record.ticker,
                record.options["question"],
                self.settings,
                load_agent_settings(),
                progress=progress,
            )
        except Exception as exc:
            self._failed(task_id, "analysis", exc.reason if isinstance(exc, AnalysisError) else "Error", exc)
            return
        report = {
            "stance": result.stance,
            "confidence": result.confidence,
            "summary": result.summary,
            "markdown": result.report_markdown,
            "cached": result.cached,
            "generator": result.generator,
            "model_name": result.model_name,
            "model_version": result.model_version,
            "data_date": result.data_date,
            "critic_score": result.critic_score,
            "revisions": result.revisions,
            "cache_note": result.cache.note,
            "question": result.question,
        }
        self.tasks.update(
            task_id,
            phase="Succeeded",
            progress=100,
            result=report,
            model_name=result.model_name,
            model_version=result.model_version,
            message=f"{result.stance} ({result.confidence} confidence)"
            + (", from the semantic cache" if result.cached else ""),
            condition_update=condition("Ready", "True", "Answered", result.summary[:500]),
        )

    # --- monitoring --------------------------------------------------------------------------------

    async def monitor(self, ticker: str) -> DriftResult:
        payload = await to_thread.run_sync(self._monitor, ticker)
        return DriftResult.model_validate(payload)

    def _monitor(self, ticker: str) -> dict[str, Any]:
        from stockops.monitoring.check import monitor_drift
        from stockops.monitoring.live_check import ForecastLogUnavailableError, live_error
        from stockops.monitoring.reference import ReferenceMissingError
        from stockops.registry.loading import ModelNotFoundError

        try:
            outcome = monitor_drift(ticker, self.settings)
        except ModelNotFoundError:
            raise UnknownTickerError(
                ticker, f"ticker {ticker} has no production version to monitor"
            ) from None
        except ReferenceMissingError as exc:
            raise NotFoundError(str(exc), field="ticker") from exc
        payload = outcome.to_dict()
        for server_path in ("local_dir", "report_path"):  # where files lie on this machine: not for clients
            payload.pop(server_path, None)
        if str(payload.get("report_uri") or "").startswith(("file:", "/")):
            payload["report_uri"] = None
        try:
            live = live_error(
                ticker, self.settings, model_name=outcome.model_name, model_version=outcome.model_version
            ).to_dict()
        except ForecastLogUnavailableError as exc:
            live = {"verdict": "Unavailable", "message": str(exc), "skill": None}
        payload["live"] = live
        self.tasks.save_monitor(ticker, payload)
        return payload

    async def drift(self, ticker: str) -> DriftResult:
        found = self.tasks.last_monitor(ticker)
        if found is None:
            raise NotFoundError(
                f"no monitoring check of {ticker} has run yet: POST /monitor/{ticker}", field="ticker"
            )
        return DriftResult.model_validate(found)

    # --- tickers -----------------------------------------------------------------------------------

    async def history(self, ticker: str, days: int) -> list[PricePoint]:
        return await to_thread.run_sync(self._history, ticker, days)

    def _history(self, ticker: str, days: int) -> list[PricePoint]:
        from stockops.feature_access import recent_closes
        from stockops.featurestore.errors import FeatureStoreEmpty

        try:
            closes = recent_closes(ticker, days, self.settings, until=dt.date.today())
        except FeatureStoreEmpty:
            raise UnknownTickerError(ticker, f"ticker {ticker} has no stored prices yet") from None
        return [PricePoint(date=d.date(), close=float(c)) for d, c in closes.items()]

    async def list_tickers(self) -> list[TickerSummary]:
        return await to_thread.run_sync(self._list_tickers)

    def _list_tickers(self) -> list[TickerSummary]:
        models = self._production_metrics()
        tickers = sorted(set(models) | set(self.tasks.trained_tickers()))
        rows = []
        for ticker in tickers:
            metrics = models.get(ticker)
            task = self.tasks.active_training(ticker) or self.tasks.latest_training(ticker)
            live = self._live(ticker, metrics)
            rows.append(
                TickerSummary(
                    ticker=ticker,
                    name=resource_name(ticker),
                    kind=_kind(metrics, task),
                    phase=_phase(metrics, task),  # type: ignore[arg-type]
                    skill=_float((metrics or {}).get("skill")),
                    live_skill=_float((live or {}).get("skill")),
                    model_version=None if metrics is None else str(metrics.get("model_version")),
                    task_id=None if task is None else task.task_id,
                )
            )
        return rows

    def _production_metrics(self) -> dict[str, dict[str, Any]]:
        """ticker -> the production version's metrics JSON, for every registered StockOps model."""
        from stockops.registry.loading import ModelNotFoundError
        from stockops.registry.local_cache import cached_metrics
        from stockops.registry.tracking import TrackingTarget, connect

        self._connect_once()
        client = connect(TrackingTarget.from_settings(self.settings))
        out: dict[str, dict[str, Any]] = {}
        for model in client.search_registered_models(filter_string="name LIKE 'stockops-%'"):
            try:
                metrics = cached_metrics(self.settings, model.name)
            except ModelNotFoundError:
                continue
            if metrics.get("ticker"):
                out[str(metrics["ticker"])] = metrics
        return out

    def _live(self, ticker: str, metrics: dict[str, Any] | None) -> dict[str, Any] | None:
        found = self.tasks.last_monitor(ticker)
        if (
            found is None
            or metrics is None
            or str(found.get("model_version")) != str(metrics.get("model_version"))
        ):
            return None
        return found.get("live")

    async def ticker_detail(self, ticker: str) -> TickerDetail:
        return await to_thread.run_sync(self._ticker_detail, ticker)

    def _ticker_detail(self, ticker: str) -> TickerDetail:
        from stockops.registry.loading import ModelNotFoundError
        from stockops.registry.local_cache import cached_metrics
        from stockops.registry.naming import registered_model_name

        name = registered_model_name(ticker)
        try:
            metrics: dict[str, Any] | None = cached_metrics(self.settings, name)
        except ModelNotFoundError:
            metrics = None
        task = self.tasks.active_training(ticker) or self.tasks.latest_training(ticker)
        if metrics is None and task is None:
            raise UnknownTickerError(ticker)
        drift = self.tasks.last_monitor(ticker)
        live = self._live(ticker, metrics)
        phase = _phase(metrics, task)
        return TickerDetail(
            ticker=ticker,
            name=resource_name(ticker),
            kind=_kind(metrics, task),
            phase=phase,  # type: ignore[arg-type]
            progress=100 if phase == "Ready" else (task.progress if task is not None else 0),
            task_id=None if task is None else task.task_id,
            model_name=name if metrics is not None else None,
            model_version=None if metrics is None else str(metrics.get("model_version")),
            parent=None if metrics is None else metrics.get("parent"),
            horizon_days=None if metrics is None else len(metrics.get("per_horizon") or []) or None,
            data_as_of=None if metrics is None else metrics.get("data_as_of"),
            synthetic=None if metrics is None else bool(metrics.get("synthetic")),
            no_edge=None if metrics is None else metrics.get("no_edge"),
            metrics=model_metrics(metrics) if metrics is not None else _task_metrics(task),
            live=live,  # type: ignore[arg-type]
            drift=drift,  # type: ignore[arg-type]
            message="" if task is None or phase == "Ready" else task.message,
        )

    # --- system ------------------------------------------------------------------------------------

    async def reset(self) -> ResetResult:
        if not self.gateway.allows_reset:
            raise ForbiddenError("reset is switched off (STOCKOPS_GATEWAY_RESET_ENABLED=false)")
        return await to_thread.run_sync(self._reset)

    def _reset(self) -> ResetResult:
        running = [task_id for task_id, f in list(self._futures.items()) if not f.done()]
        if running or self.tasks.count_active():
            raise ConflictError(
                f"{len(running) or self.tasks.count_active()} task(s) running ({', '.join(running)}); "
                "reset when they have finished"
            )
        forget_mlflow_connections()
        self._connected = False
        home = self.settings.home_dir
        removed = []
        for name in RESET_PATHS:
            path = home / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
            else:
                continue
            removed.append(name)
        tasks = self.tasks.clear()
        entries = self.cache.clear()
        self._recorded.clear()
        log.warning(
            "reset: removed %s, %d tasks, %d cached forecasts",
            ", ".join(removed) or "nothing",
            tasks,
            entries,
        )
        return ResetResult(mode="local", removed=removed, tasks_removed=tasks, cache_entries_removed=entries)

    async def health(self) -> dict[str, Any]:
        return {
            "training_workers": self.gateway.training_workers,
            "analysis_workers": self.gateway.analysis_workers,
            "running_tasks": sum(1 for f in list(self._futures.values()) if not f.done()),
            "interrupted_at_start": len(self.interrupted),
        }

    def running(self) -> list[str]:
        """Tasks a worker is running or will run now (their threads would keep the process alive)."""
        return sorted(task_id for task_id, f in list(self._futures.items()) if not f.done())

    async def close(self) -> None:
        self._trainers.shutdown(wait=False, cancel_futures=True)
        self._analysts.shutdown(wait=False, cancel_futures=True)
        self.tasks.close()


def forget_mlflow_connections() -> None:
    """Make this process's next MLflow call open ``mlflow.db`` afresh, after a reset deleted it.

    MLflow keeps, per database URI, a store object (``lru_cache`` on the tracking and registry store
    registries) holding a SQLAlchemy engine (a class-level map on each store class) whose pooled
    connections still point at the deleted file. Each is cleared here; a new store then creates the
    file and its tables as on a first run. Internal names, so looked up defensively; the gateway's
    component test trains after a reset and would catch a change."""
    import sys

    registries = (
        ("mlflow.tracking._tracking_service.registry", "TrackingStoreRegistry"),
        ("mlflow.tracking._model_registry.registry", "ModelRegistryStoreRegistry"),
    )
    for module_name, class_name in registries:
        cls = getattr(sys.modules.get(module_name), class_name, None)
        cached = getattr(cls, "_get_store_with_resolved_uri", None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()
    for module_name in (
        "mlflow.store.tracking.sqlalchemy_store",
        "mlflow.store.model_registry.sqlalchemy_store",
    ):
        store = getattr(sys.modules.get(module_name), "SqlAlchemyStore", None)
        engines = getattr(store, "_engine_map", None)
        if isinstance(engines, dict):
            for engine in list(engines.values()):
                engine.dispose()
            engines.clear()


def model_metrics(metrics: dict[str, Any]) -> ModelMetrics:
    """The metrics a client reads (skill with its interval, RMSEs, per step) from a metrics JSON."""
    picked = {k: metrics.get(k) for k in METRIC_KEYS if metrics.get(k) is not None}
    rows = [
        {k: v for k, v in row.items() if not isinstance(v, dict | list)}
        for row in (metrics.get("per_horizon") or [])
        if isinstance(row, dict) and "step" in row
    ]
    return ModelMetrics.model_validate({**picked, "per_horizon": rows})


def _task_metrics(task: TaskRecord | None) -> ModelMetrics | None:
    """A finished training's metrics when no version is in production (e.g. below the gate)."""
    return model_metrics(task.metrics) if task is not None and task.metrics else None


def _phase(metrics: dict[str, Any] | None, task: TaskRecord | None) -> str:
    if task is not None and task.active:
        return task.phase
    if metrics is not None:
        return "Ready"
    return task.phase if task is not None else "Pending"


def _kind(metrics: dict[str, Any] | None, task: TaskRecord | None) -> Literal["parent", "child"] | None:
    if metrics is not None:
        return "child" if metrics.get("parent") else "parent"
    if task is not None:
        return "parent" if task.kind == "parentmodel" else "child"
    return None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def local_backend(settings: Settings, gateway: GatewaySettings) -> LocalBackend:
    return LocalBackend(settings, gateway)
