"""Prometheus metrics of the router (`dra_router_<what>_<unit>`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1.0)

CLASSIFY_LATENCY = Histogram(
    "dra_router_classify_duration_seconds",
    "Time to answer Classify, by stage: encode (query embedding), route (classifier, geography, priors), total",
    ["stage"],
    buckets=_BUCKETS,
)
CLASSIFICATIONS = Counter(
    "dra_router_classifications_total", "Classified queries by domain and Singapore-first decision",
    ["domain", "singapore_first"],
)
LOW_CONFIDENCE = Counter(
    "dra_router_low_confidence_total", "Queries answered 'general' because the classifier was unsure"
)
INVALID_REQUESTS = Counter("dra_router_invalid_requests_total", "Rejected Classify requests", ["reason"])
CLIPPED_QUERIES = Counter("dra_router_clipped_queries_total", "Queries cut to the maximum length")
TRAINING_EXAMPLES = Gauge("dra_router_training_examples", "Labelled queries the domain classifier was trained on")
MAPPINGS = Gauge("dra_router_mappings", "Train-split training mappings behind the source priors")
MAPPING_ERRORS = Gauge("dra_router_mapping_errors", "Lines of training_mappings.md rejected at the last load")
FEEDBACK_RATINGS = Gauge("dra_router_feedback_ratings", "User ratings blended into the source priors")
STARTUP_SECONDS = Gauge("dra_router_startup_seconds", "Time from process start to SERVING")
PRIORS_REFRESHES = Counter("dra_router_priors_refreshes_total", "Reloads of feedback into the priors", ["result"])
