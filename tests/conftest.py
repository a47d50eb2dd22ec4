"""Shared fixtures: a real Postgres database and Redis prefix per test run, and service processes on free ports."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from sqlalchemy.engine import make_url

from dra_common import migrate
from dra_common.settings import Settings
from tests.utils.stores import free_port, postgres_admin_url, redis_url

RUN_ID = uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def _stores() -> Iterator[tuple[str, str]]:
    with postgres_admin_url() as pg, redis_url() as rd:
        yield pg, rd


@contextmanager
def isolated_settings(stores: tuple[str, str], state: Path) -> Iterator[Settings]:
    """Settings with their own migrated database, Redis key prefix and free ports; removed afterwards."""
    admin_url, redis_base = stores
    tag = uuid.uuid4().hex[:8]
    db_name = f"dra_test_{RUN_ID}_{tag}"
    url = make_url(admin_url.replace("postgresql://", "postgresql+psycopg2://", 1)).set(database=db_name)
    database_url = url.render_as_string(hide_password=False).replace("postgresql+psycopg2://", "postgresql://", 1)
    ports = {name: free_port() for name in ("gateway", "router", "ranking", "cache", "monitoring")}
    metrics = {name: free_port() for name in ("router", "ranking", "cache", "monitoring", "worker", "beat", "dashboard")}
    s = Settings(
        database_url=database_url,
        redis_url=redis_base,
        redis_prefix=f"dra-test-{RUN_ID}-{tag}:",
        gateway_port=ports["gateway"],
        router_port=ports["router"],
        ranking_port=ports["ranking"],
        cache_port=ports["cache"],
        monitoring_port=ports["monitoring"],
        router_addr=f"127.0.0.1:{ports['router']}",
        ranking_addr=f"127.0.0.1:{ports['ranking']}",
        cache_addr=f"127.0.0.1:{ports['cache']}",
        monitoring_addr=f"127.0.0.1:{ports['monitoring']}",
        gateway_url=f"http://127.0.0.1:{ports['gateway']}",
        router_metrics_port=metrics["router"],
        ranking_metrics_port=metrics["ranking"],
        cache_metrics_port=metrics["cache"],
        monitoring_metrics_port=metrics["monitoring"],
        worker_metrics_port=metrics["worker"],
        beat_metrics_port=metrics["beat"],
        dashboard_port=metrics["dashboard"],
        state_dir=state,
        data_dir=state / "data",
    )
    migrate.upgrade(s)
    try:
        yield s
    finally:
        client = redis.Redis.from_url(redis_base)
        for key in client.scan_iter(match=f"{s.redis_prefix}*", count=1000):
            client.delete(key)
        migrate.drop_database(s)


@pytest.fixture(scope="module")
def settings(_stores: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings for one test module: its own migrated Postgres database, Redis key prefix and free ports."""
    with isolated_settings(_stores, tmp_path_factory.mktemp("state")) as s:
        yield s


def settings_env(s: Settings, **overrides: str) -> dict[str, str]:
    """Environment for a child process that configures it exactly like `s`."""
    env = {k: v for k, v in os.environ.items() if k not in {f.upper() for f in Settings.model_fields}}
    for name, value in s.model_dump().items():
        env[name.upper()] = str(value)
    env.update(overrides)
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where service processes started by tests write their output."""
    return tmp_path_factory.mktemp("service-logs")
