"""Settings of the cache process: the shared Settings plus the cache's own knobs (CACHE_* variables).

A subclass rather than new fields in the shared class, because only this process reads them.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from dra_cache.policy import DEFAULT_TTL_TIERS, parse_tiers
from dra_common.settings import Settings


class CacheSettings(Settings):
    """Shared settings plus the cache's policy and limits."""

    cache_min_quality: float = Field(0.5, ge=0.0, le=1.0, description="Answers below this quality are not cached")
    cache_ttl_tiers: str = Field(
        DEFAULT_TTL_TIERS, description="Comma list QUALITY:SECONDS; an answer gets the TTL of the first tier it reaches"
    )
    cache_max_entries: int = Field(20000, gt=0, description="Entry cap; least recently used entries go first")
    cache_max_payload_bytes: int = Field(4 * 1024 * 1024, gt=0, description="Larger answers are not cached")
    cache_window_seconds: int = Field(900, ge=60, description="Window of the recent hit rate (whole minutes)")
    cache_freq_retention_days: int = Field(35, ge=1, description="Days of per-day query counts kept for warming")
    cache_freq_max_queries: int = Field(20000, gt=0, description="Distinct queries counted per day (the tail is trimmed)")
    cache_refresh_min_hits: int = Field(1, ge=0, description="force_refresh returns dropped entries with >= this many hits")
    cache_refresh_limit: int = Field(200, gt=0, description="At most this many keys returned by force_refresh")
    cache_sweep_interval_s: float = Field(30.0, gt=0, description="How often expired entries leave the indexes")
    cache_redis_timeout_s: float = Field(0.25, gt=0, description="Redis socket timeout: a dead Redis degrades, not hangs")
    cache_redis_retry_s: float = Field(1.0, gt=0, description="After a Redis failure, calls skip Redis for this long")

    @field_validator("cache_ttl_tiers")
    @classmethod
    def _tiers_parse(cls, value: str) -> str:
        parse_tiers(value)
        return value
