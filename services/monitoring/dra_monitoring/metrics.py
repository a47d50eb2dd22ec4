"""Prometheus metrics of the monitoring service (Grafana's quality dashboard reads these)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

NDCG_AT_3 = Gauge("dra_quality_ndcg_at_3", "NDCG@3 on held-out judged queries (latest snapshot)")
RELEVANCE_ACCURACY = Gauge("dra_quality_relevance_accuracy", "Agreement with held-out training mappings")
ROUTING_ACCURACY = Gauge("dra_quality_domain_routing_accuracy", "Domain routing accuracy on held-out labelled queries")
SINGAPORE_FIRST_ACCURACY = Gauge("dra_quality_singapore_first_accuracy", "Singapore-first decision accuracy")
CACHE_HIT_RATE = Gauge("dra_quality_cache_hit_rate", "Share of searches answered from the cache (24h)")
ALERTS_OPEN = Gauge("dra_alerts_open", "Open quality alerts")
EVENTS_CONSUMED = Counter("dra_monitoring_events_consumed_total", "Search events written to Postgres")
QUALITY_CHECKS = Counter("dra_monitoring_quality_checks_total", "Quality checks run", ["trigger"])
