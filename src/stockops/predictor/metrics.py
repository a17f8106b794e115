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

# Pre-create the label sets so they read 0 before the first request instead of being absent.
for _protocol in ("v1", "v2"):
    for _outcome in ("ok", "invalid", "error"):
        REQUEST_SECONDS.labels(protocol=_protocol, outcome=_outcome)
for _result in ("hit", "miss"):
    CACHE_LOOKUPS.labels(result=_result)
for _operation in ("get", "set"):
    CACHE_ERRORS.labels(operation=_operation)
