"""The KServe model: parse (V1 dict or V2 `InferRequest`) -> `Forecaster` -> encode. No HTTP in here.

How KServe 0.21 maps what we raise to HTTP (``kserve/protocol/rest/server.py`` registers the handlers):
``InvalidInput`` -> 400, ``ModelNotFound`` -> 404 (raised by KServe itself for an unknown model name in
the URL), ``ModelNotReady`` -> 503, ``InferenceError`` and anything else -> 500. Every body is
``{"error": "<message>"}``. V2 bodies that do not match the protocol's schema are rejected by FastAPI
before they reach us (422 with the failing location), and a V1 body that is not JSON is a 400 from
KServe's decoder. So: request problems -> `InvalidInput` with the parser's ``field: problem`` message;
data problems at request time -> `InferenceError`; nothing escapes that could stop the server.

Readiness: ``ready`` turns true only after `load()` handed over a fully loaded `Forecaster`. A failed load
logs one line naming the stage and cause, and (if configured) a background thread retries.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kserve import Model
from kserve.errors import InferenceError, InvalidInput, ModelNotReady
from kserve.model import InferenceVerb
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from stockops.predictor import metrics
from stockops.predictor.forecaster import Forecaster
from stockops.predictor.requests import (
    ForecastQuery,
    RequestError,
    Tensor,
    parse_v1_body,
    parse_v2_inputs,
)
from stockops.predictor.responses import v1_response, v2_output_tensors
from stockops.predictor.windows import WindowUnavailableError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParsedRequest:
    protocol: str  # "v1" | "v2"
    queries: list[ForecastQuery]
    request_id: str | None = None


def _tensor(inp: Any) -> Tensor:
    """A KServe `InferInput` as the parser's `Tensor` (binary inputs decoded to numpy first)."""
    data = inp.data
    if data is None and getattr(inp, "_raw_data", None) is not None:
        try:
            data = inp.as_numpy()
        except Exception as exc:  # malformed binary payloads come in many shapes
            raise RequestError(
                f"inputs.{inp.name}", f"binary data does not match its shape/datatype: {exc}"
            ) from exc
    return Tensor(name=inp.name, datatype=str(inp.datatype).upper(), shape=tuple(inp.shape or ()), data=data)


def _error_kind(exc: BaseException) -> str:
    """The cause of a failed call, as counted in `metrics.ERRORS` (its status: `metrics.ERROR_STATUS`)."""
    if isinstance(exc, InvalidInput):
        return "invalid"
    if isinstance(exc, ModelNotReady):
        return "not_ready"
    if isinstance(exc, InferenceError):
        return "inference"
    return "internal"


class StockForecastModel(Model):
    """Serves one registered model version of one ticker."""

    def __init__(self, name: str, load_forecaster: Callable[[], Forecaster]) -> None:
        super().__init__(name)
        self.ready: bool = False
        self._load_forecaster = load_forecaster
        self._load_lock = threading.Lock()
        self.forecaster: Forecaster | None = None
        self.load_error: str | None = None
        metrics.MODEL_READY.set(0)

    # -- lifecycle ----------------------------------------------------------------------------------

    def load(self) -> bool:
        """Load once; on failure stay not-ready with `load_error` set and one ERROR log line (per
        distinct failure; retries that fail the same way log at DEBUG)."""
        with self._load_lock:
            if self.ready:
                return True
            try:
                forecaster = self._load_forecaster()
            except Exception as exc:
                error = " ".join(str(exc).split()) or type(exc).__name__
                # One ERROR line per distinct failure: background retries of the same one stay quiet.
                level = logging.DEBUG if error == self.load_error else logging.ERROR
                self.load_error = error
                log.log(level, "model %s not ready: %s", self.name, error)
                return False
            self.forecaster = forecaster
            self.load_error = None
            bundle = forecaster.bundle
            metrics.MODEL_INFO.labels(
                model_name=forecaster.model_name,
                model_version=forecaster.model_version,
                ticker=bundle.ticker,
                synthetic=str(bool(bundle.synthetic)).lower(),
            ).set(1)
            metrics.MODEL_READY.set(1)
            # Silence is measured from the load until the first forecast (see metrics.LAST_FORECAST).
            metrics.LAST_FORECAST.labels(ticker=bundle.ticker).set_to_current_time()
            self.ready = True
            log.info(
                "model %s ready: version %s for %s (context %d days, horizon %d, cache %s)",
                self.name,
                forecaster.model_version,
                bundle.ticker,
                forecaster.shape.context_days,
                forecaster.shape.horizon_days,
                "on" if forecaster.cache is not None else "off",
            )
            return True

    def retry_load_in_background(self, every_seconds: float) -> threading.Thread | None:
        """Keep trying `load()` until it succeeds (e.g. MLflow not up yet); None if already ready."""
        if self.ready or every_seconds <= 0:
            return None

        def loop() -> None:
            while not self.ready:
                time.sleep(every_seconds)
                self.load()

        thread = threading.Thread(target=loop, name=f"load-{self.name}", daemon=True)
        thread.start()
        return thread

    def start(self) -> None:
        """KServe's default marks the model ready here; ours is ready only after a successful load."""

    def stop(self) -> None:
        self.ready = False
        metrics.MODEL_READY.set(0)

    # -- request path ------------------------------------------------------------------------------

    async def __call__(
        self, body: Any, headers: dict[str, str] | None = None, verb: InferenceVerb = InferenceVerb.PREDICT
    ) -> Any:
        protocol = "v2" if isinstance(body, InferRequest) else "v1"
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await super().__call__(body, headers=headers, verb=verb)
            outcome = "ok"
            return result
        except Exception as exc:
            kind = _error_kind(exc)
            if kind == "invalid":
                outcome = "invalid"
            metrics.ERRORS.labels(protocol=protocol, kind=kind, status=metrics.ERROR_STATUS[kind]).inc()
            raise
        finally:
            metrics.REQUEST_SECONDS.labels(protocol=protocol, outcome=outcome).observe(
                time.perf_counter() - started
            )

    def _ready_forecaster(self) -> Forecaster:
        if not self.ready or self.forecaster is None:
            raise ModelNotReady(self.name, self.load_error)
        return self.forecaster

    def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> ParsedRequest:
        forecaster = self._ready_forecaster()
        try:
            if isinstance(payload, InferRequest):
                tensors = [_tensor(inp) for inp in payload.inputs]
                return ParsedRequest("v2", parse_v2_inputs(tensors, forecaster.shape), payload.id)
            return ParsedRequest("v1", parse_v1_body(payload, forecaster.shape))
        except RequestError as exc:
            raise InvalidInput(str(exc)) from exc

    def validate(self, payload: Any) -> Any:
        """Our parser already validated the body (KServe's own check would reject nothing more)."""
        return payload

    def predict(self, payload: ParsedRequest, headers: dict[str, str] | None = None) -> Any:
        forecaster = self._ready_forecaster()
        try:
            answers, cached = forecaster.answer(payload.queries)
        except RequestError as exc:
            raise InvalidInput(str(exc)) from exc
        except WindowUnavailableError as exc:
            raise InferenceError(f"latest window for {forecaster.shape.ticker} unavailable: {exc}") from exc
        metrics.LAST_FORECAST.labels(ticker=forecaster.bundle.ticker).set_to_current_time()
        if payload.protocol == "v1":
            return v1_response(answers, cached)
        outputs = [
            InferOutput(name=t.name, shape=list(t.data.shape), datatype=t.datatype, data=t.data)
            for t in v2_output_tensors(answers, cached)
        ]
        return InferResponse(
            response_id=payload.request_id or str(uuid.uuid4()),
            model_name=self.name,
            model_version=forecaster.model_version,
            infer_outputs=outputs,
        )

    # -- V2 metadata -------------------------------------------------------------------------------

    def get_input_types(self) -> list[dict[str, Any]]:
        if self.forecaster is None:
            return []
        shape = self.forecaster.shape
        return [
            {"name": "days", "datatype": "INT32", "shape": [-1]},
            {"name": "window", "datatype": "FP32", "shape": [-1, shape.context_days, shape.n_features]},
            {"name": "as_of", "datatype": "BYTES", "shape": [-1]},
            {"name": "last_close", "datatype": "FP64", "shape": [-1]},
            {"name": "ticker", "datatype": "BYTES", "shape": [-1]},
        ]

    def get_output_types(self) -> list[dict[str, Any]]:
        if self.forecaster is None:
            return []
        return [
            {"name": "ticker", "datatype": "BYTES", "shape": [-1]},
            {"name": "model_version", "datatype": "BYTES", "shape": [-1]},
            {"name": "as_of", "datatype": "BYTES", "shape": [-1]},
            {"name": "forecast_date", "datatype": "BYTES", "shape": [-1, -1]},
            {"name": "forecast_close", "datatype": "FP64", "shape": [-1, -1]},
            {"name": "naive_close", "datatype": "FP64", "shape": [-1, -1]},
            {"name": "last_close", "datatype": "FP64", "shape": [-1]},
            {"name": "risk", "datatype": "BYTES", "shape": [-1]},
            {"name": "realized_volatility", "datatype": "FP64", "shape": [-1]},
            {"name": "synthetic", "datatype": "BOOL", "shape": [-1]},
            {"name": "data_source", "datatype": "BYTES", "shape": [-1]},
            {"name": "cached", "datatype": "BOOL", "shape": [-1]},
        ]
