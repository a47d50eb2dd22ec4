"""Does a Postgres or Redis server answer? Used by `make dev` and the tests to pick their stores."""

from __future__ import annotations

import psycopg2
import redis
from sqlalchemy.engine import make_url


def postgres_answers(url: str) -> bool:
    """Whether the server of `url` accepts a connection (to its `postgres` database, which always exists)."""
    admin = make_url(url.replace("postgresql://", "postgresql+psycopg2://", 1)).set(database="postgres")
    dsn = admin.render_as_string(hide_password=False).replace("postgresql+psycopg2://", "postgresql://", 1)
    try:
        psycopg2.connect(dsn, connect_timeout=2).close()
        return True
    except psycopg2.Error:
        return False


def redis_answers(url: str) -> bool:
    """Whether the Redis server of `url` answers PING."""
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False
