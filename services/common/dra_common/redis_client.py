"""Redis connections, created on first use (never at import)."""

from __future__ import annotations

from functools import lru_cache

import redis

from dra_common.settings import Settings


@lru_cache(maxsize=8)
def _client_for(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
    )


def redis_client(settings: Settings, timeout: float = 1.0) -> redis.Redis:
    """The process-wide Redis client for REDIS_URL, with short timeouts so a dead Redis degrades, not hangs."""
    return _client_for(settings.redis_url, timeout)
