"""Running the KServe `ModelServer` around one `StockForecastModel`.

Three deliberate departures from `ModelServer.start([model])`:

- The model is registered even when its load failed, so the process stays up, answers readiness
  probes with 503 (``/v1/models/<name>``, ``/v2/models/<name>/ready``) and retries the load in the
  background; KServe's default would exit with ``NoModelReady`` and crash-loop the pod instead.
- ``/v2/health/ready`` reports the *models'* readiness (KServe 0.21 answers true whenever the process
  runs), so the pod's readiness probe and the V2 server-ready endpoint agree.
- gRPC is off (the predictor speaks REST V1/V2) and per-request log lines are off unless asked for:
  on two cores, three log lines per request cost a measurable share of throughput.

Importing this module imports KServe, whose `model_server` module parses ``sys.argv`` at import time;
callers with their own command line import it inside `stockops.predictor.serve.isolated_argv`.
"""

from __future__ import annotations

import asyncio
import logging

from kserve import ModelServer
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady, ServerNotReady
from kserve.logging import configure_logging
from kserve.model_server import FASTAPI_APP_IMPORT_STRING
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.rest.server import RESTServer

from stockops.predictor.model import StockForecastModel
from stockops.predictor.settings import PredictorSettings

log = logging.getLogger(__name__)


class ModelReadinessDataPlane(DataPlane):
    """`/v2/health/ready` is true only when at least one model is registered and all are ready."""

    async def ready(self) -> bool:
        if not await super().ready():
            return False
        models = list(self.model_registry.get_models().values())
        if not models:
            return False
        return all([await model.healthy() for model in models])


_CLIENT_SIDE = (InvalidInput, ModelNotFound)
_READINESS = (ModelNotReady, ServerNotReady)


class ClientErrorLogFilter(logging.Filter):
    """KServe logs every error response with a full traceback at ERROR, a bad request included. That is
    noise for answers that are the caller's problem (400, 404: kept as one INFO line, no traceback) and
    for readiness probes while the model is not loaded (503: dropped; the load failure itself is logged
    once), and it costs throughput under a flood of bad requests."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if record.msg != "Exception:" or exc is None:
            return True
        if isinstance(exc, _READINESS):
            return False
        if isinstance(exc, _CLIENT_SIDE):
            record.msg = "%s: %s"
            record.args = (type(exc).__name__, " ".join(str(exc).split())[:300])
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def configure_server_logging(access_log: bool) -> None:
    """KServe's log format for everything, our loggers at INFO, per-request lines only on request."""
    configure_logging()
    stockops_logger = logging.getLogger("stockops")
    if not stockops_logger.handlers:
        stockops_logger.handlers = list(logging.getLogger("kserve").handlers)
        stockops_logger.setLevel(logging.INFO)
        stockops_logger.propagate = False
    kserve_logger = logging.getLogger("kserve")
    if not any(isinstance(f, ClientErrorLogFilter) for f in kserve_logger.filters):
        kserve_logger.addFilter(ClientErrorLogFilter())
    level = logging.INFO if access_log else logging.WARNING
    logging.getLogger("uvicorn.access").setLevel(level)
    logging.getLogger("kserve.trace").setLevel(level)


class BoundModelServer(ModelServer):
    """KServe's `ModelServer` (one REST worker, no gRPC) listening on a chosen address.

    KServe's `RESTServer` hard-codes ``0.0.0.0``: right in a pod, wrong on a laptop, where `stockops
    serve` must listen on loopback. `start` is KServe's single-worker path with the uvicorn host set
    before the server starts; everything else (data plane, endpoints, signals) is KServe's own.
    """

    def __init__(self, *, host: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.host = host

    def start(self, models: list) -> None:  # type: ignore[override]
        self._register_and_check_atleast_one_model_is_ready(models)
        self._rest_server = RESTServer(
            FASTAPI_APP_IMPORT_STRING,
            self.dataplane,
            self.model_repository_extension,
            self.http_port,
            access_log_format=self.access_log_format,
            workers=1,
            grace_period=self.grace_period,
            event_loop=self.event_loop,
            timeout_keep_alive=self.timeout_keep_alive,
            ssl_certfile=self.ssl_certfile,
            ssl_keyfile=self.ssl_keyfile,
        )
        self._rest_server.config.host = self.host  # the uvicorn.Server shares this config object
        self.servers.append(self._rest_server.start())
        self.setup_event_loop()
        self.register_signal_handler()
        asyncio.run(self._serve())


def run_model_server(model: StockForecastModel, predictor: PredictorSettings) -> None:
    """Serve `model` on ``predictor.http_port`` until SIGTERM/SIGINT; loads it first if needed."""
    configure_server_logging(predictor.access_log)
    if not model.ready and not model.load():
        model.retry_load_in_background(predictor.load_retry_seconds)
    server = BoundModelServer(
        host=predictor.bind_address,
        http_port=predictor.http_port,
        workers=1,
        enable_grpc=False,
        enable_docs_url=False,
        enable_latency_logging=predictor.access_log,
    )
    server.dataplane = ModelReadinessDataPlane(model_registry=server.registered_models)
    server.register_model(model)
    model.enable_latency_logging = predictor.access_log
    log.info(
        "predictor for %s listening on %s:%d (ready: %s)",
        predictor.target,
        predictor.bind_address,
        predictor.http_port,
        model.ready,
    )
    server.start([])
