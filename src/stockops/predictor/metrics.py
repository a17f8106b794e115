"""Prometheus metrics of the predictor, on the default registry so KServe's ``/metrics`` serves them.

KServe's REST server exposes ``prometheus_client.REGISTRY`` at ``GET /metrics`` (beside its own
``request_predict_seconds`` etc.), so registering here is all it takes; one process, one registry.

- ``stockops_predictor_request_seconds{protocol="v1|v2", outcome="ok|invalid|error"}``: model-side
  latency of a predict call (parse, window, cache, network, encode), excluding HTTP framing.
- ``stockops_predictor_cache_lookups_total{result="hit|miss"}``: Redis lookups per instance (made only
  when the in-process tier had no answer).
- ``stockops_predictor_cache_local_hits_total``: answers from the in-process tier (no Redis round trip).
- ``stockops_predictor_cache_errors_total{operation="get|set"}``: Redis failures (request still served).
- ``stockops_predictor_cache_bypassed_total``: lookups skipped while Redis is known to be down.
- ``stockops_predictor_model_info{model_name, model_version, ticker, synthetic} 1``: what is served.
- ``stockops_predictor_model_ready``: 1 once the model loaded, else 0.
- ``stockops_predictor_errors_total{protocol, kind, status}``: failed predict calls by cause and the HTTP
  status KServe answers with: ``invalid`` 400 (the request's fault), ``not_ready`` 503 (the model was
  unloaded mid-call), ``inference`` 500 (data missing at request time), ``internal`` 500 (anything
  else, a bug). While no model is loaded KServe answers 503 before the call reaches the model, so
  those are not counted here: ``stockops_predictor_model_ready`` 0 shows that state.
- ``stockops_predictor_last_forecast_timestamp_seconds{ticker}``: Unix time of the last forecast served
  (a cached answer counts: a client got one); the model's load time until the first one, so a predictor
  that nobody calls is seen as silent too (the chart's StockOpsNoForecastServed alert).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

REQUEST_SECONDS = Histogram(
    "stockops_predictor_request_seconds",
    "Model-side latency of a predict call, by protocol and outcome.",
    ("protocol", "outcome"),
    buckets=LATENCY_BUCKETS,
)
CACHE_LOOKUPS = Counter(
    "stockops_predictor_cache_lookups_total", "Prediction cache lookups per instance.", ("result",)
)
CACHE_LOCAL_HITS = Counter(
    "stockops_predictor_cache_local_hits_total", "Answers served from the in-process cache tier."
)
CACHE_ERRORS = Counter(
    "stockops_predictor_cache_errors_total", "Redis failures; the request is served uncached.", ("operation",)
)
CACHE_BYPASSED = Counter(
    "stockops_predictor_cache_bypassed_total", "Cache lookups skipped while Redis is known to be down."
)
MODEL_INFO = Gauge(
    "stockops_predictor_model_info",
    "The model version this predictor serves (value 1).",
    ("model_name", "model_version", "ticker", "synthetic"),
)
MODEL_READY = Gauge("stockops_predictor_model_ready", "1 when the model is loaded and serving, else 0.")
ERRORS = Counter(
    "stockops_predictor_errors_total",
    "Failed predict calls by protocol, cause and the HTTP status answered.",
    ("protocol", "kind", "status"),
)
LAST_FORECAST = Gauge(
    "stockops_predictor_last_forecast_timestamp_seconds",
    "Unix time of the last forecast served (the model's load time until the first one).",
    ("ticker",),
)

# Error cause -> the HTTP status KServe answers with (see stockops.predictor.model).
ERROR_STATUS = {"invalid": "400", "not_ready": "503", "inference": "500", "internal": "500"}

# Pre-create the label sets so they read 0 before the first request instead of being absent.
for _protocol in ("v1", "v2"):
    for _outcome in ("ok", "invalid", "error"):
        REQUEST_SECONDS.labels(protocol=_protocol, outcome=_outcome)
for _result in ("hit", "miss"):
    CACHE_LOOKUPS.labels(result=_result)
for _operation in ("get", "set"):
    CACHE_ERRORS.labels(operation=_operation)
for _protocol in ("v1", "v2"):
    for _kind, _status in ERROR_STATUS.items():
        ERRORS.labels(protocol=_protocol, kind=_kind, status=_status)
