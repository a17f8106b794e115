"""The gateway's Prometheus series, on a registry of its own (exposed at ``GET /metrics``).

A private `CollectorRegistry` per app, not the process-wide default: tests build several apps in one
process, and the default registry would also carry whatever a library registers there. Routes are
labelled by their template (``/status/{task_id:path}``), never by the raw path, so a client cannot create
unbounded series; unmatched paths are ``<unmatched>``, the console's files ``<static>``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "stockops_gateway_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "stockops_gateway_request_seconds",
            "Time from the request's arrival to the end of its response, by route template.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.trainings_started = Counter(
            "stockops_gateway_trainings_started",
            "Trainings the gateway started (not the ones it returned because they already ran).",
            ["kind"],
            registry=self.registry,
        )
        self.analyses_started = Counter(
            "stockops_gateway_analyses_started", "Analyses the gateway started.", registry=self.registry
        )
        self.rate_limited = Counter(
            "stockops_gateway_rate_limited",
            "Requests refused with 429 by the per-key rate limit.",
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "stockops_gateway_auth_failures",
            "Requests refused for their key: 401 (missing or unknown key) or 403 (missing scope).",
            ["status"],
            registry=self.registry,
        )
        self.forecast_cache = Counter(
            "stockops_gateway_forecast_cache",
            "Forecast cache lookups, by result (hit, miss).",
            ["result"],
            registry=self.registry,
        )
        self.redis_up = Gauge(
            "stockops_gateway_rate_limiter_redis_up",
            "1 while the rate limiter's Redis answers (absent without Redis).",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
