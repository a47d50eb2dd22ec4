"""Prometheus metrics of the ranking service (`dra_ranking_<what>_<unit>`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.06, 0.1, 0.25, 0.5, 1.0, 2.5)

RANK_LATENCY = Histogram(
    "dra_ranking_rank_latency_seconds", "Time to answer a Rank request (encoding included)", buckets=_LATENCY_BUCKETS
)
ENCODE_LATENCY = Histogram(
    "dra_ranking_query_encode_latency_seconds", "Time to encode a query the router sent without an embedding",
    buckets=_LATENCY_BUCKETS,
)
RANK_REQUESTS = Counter(
    "dra_ranking_rank_requests_total", "Rank requests by model version and outcome", ["model_version", "outcome"]
)
CANDIDATES = Histogram(
    "dra_ranking_candidates_count", "Fused candidates considered per request", buckets=(0, 10, 25, 50, 75, 100, 200)
)
CATALOG_DATASETS = Gauge("dra_ranking_catalog_datasets", "Datasets in the served index")
CATALOG_VERSION = Gauge("dra_ranking_catalog_version", "Catalog version (ingest id) of the served index")
INDEX_BUILD_SECONDS = Gauge("dra_ranking_index_build_seconds", "Time the last index build took")
DEGRADED = Gauge("dra_ranking_degraded", "1 when no model could be loaded and fused candidates are served")
RELOADS = Counter("dra_ranking_reloads_total", "Catalog and model reloads", ["kind", "result"])
MODEL_LOADED = Gauge("dra_ranking_model_loaded", "Model versions loaded, by slot", ["slot", "version"])
