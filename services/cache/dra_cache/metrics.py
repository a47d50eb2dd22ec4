"""Prometheus metrics of the cache process (`dra_cache_<what>_<unit>`), served on CACHE_METRICS_PORT."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

HITS = Counter("dra_cache_hits_total", "Lookups answered from the cache")
MISSES = Counter("dra_cache_misses_total", "Lookups not answered from the cache (including while Redis is down)")
PUTS_STORED = Counter("dra_cache_puts_stored_total", "Answers stored, by quality band", ["band"])
PUTS_REJECTED = Counter(
    "dra_cache_puts_rejected_total",
    "Answers not stored, by reason (low_quality, too_large, redis_unavailable, redis_oom)",
    ["reason"],
)
EVICTED = Counter("dra_cache_evicted_entries_total", "Entries evicted to respect the entry cap or Redis maxmemory")
INVALIDATED = Counter("dra_cache_invalidated_entries_total", "Entries dropped by Invalidate")
EXPIRED = Counter("dra_cache_expired_entries_total", "Expired entries removed from the indexes by the sweeper")
REDIS_ERRORS = Counter("dra_cache_redis_errors_total", "Redis calls that failed (connection, timeout, OOM)", ["kind"])
ENTRIES = Gauge("dra_cache_entries", "Entries currently cached (as of the last sweep or Stats call)")
MEMORY = Gauge("dra_cache_memory_used_bytes", "Redis memory used by cache entries (as of the last Stats call)")
REDIS_UP = Gauge("dra_cache_redis_up", "1 when the last Redis call succeeded, 0 while Redis is unreachable")
