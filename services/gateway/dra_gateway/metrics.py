"""Prometheus metrics of the gateway (`dra_gateway_*`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("dra_gateway_requests_total", "HTTP requests", ["route", "method", "status"])
SEARCHES = Counter("dra_gateway_searches_total", "Searches answered", ["cache_hit"])
SEARCH_LATENCY = Histogram(
    "dra_gateway_search_latency_seconds",
    "Search latency inside the gateway",
    ["cache_hit"],
    buckets=(0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1.0),
)
DEGRADED = Counter("dra_gateway_degraded_total", "Answers degraded by a failing component", ["component"])
