"""Redis connections, created on first use (never at import)."""

from __future__ import annotations

from functools import lru_cache

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from dra_common.settings import Settings


@lru_cache(maxsize=8)
def _client_for(url: str, timeout: float) -> redis.Redis:
    # One attempt, no backoff: a dead Redis must cost a caller one timeout, not redis-py's default retries.
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30, retry=Retry(NoBackoff(), 1)
    )


def redis_client(settings: Settings, timeout: float = 1.0) -> redis.Redis:
    """The process-wide Redis client for REDIS_URL, with short timeouts so a dead Redis degrades, not hangs."""
    return _client_for(settings.redis_url, timeout)
