"""`dra dev` (make dev): refuses clearly when a port is taken, before starting anything."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_busy_port_names_the_port_and_the_variable(tmp_path: Path) -> None:
    dra = shutil.which("dra") or str(Path(os.sys.executable).parent / "dra")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        env = {**os.environ, "GATEWAY_PORT": str(port), "STATE_DIR": str(tmp_path)}
        done = subprocess.run([dra, "dev"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert f"port {port} is busy" in done.stderr and "GATEWAY_PORT" in done.stderr
    assert not (tmp_path / "postgres").exists(), "nothing may be started when a port is busy"


def test_embedded_postgres_and_redis_when_nothing_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    import redis

    from dra_cli import dev
    from dra_common import migrate
    from dra_common.settings import Settings

    state = Path(tempfile.mkdtemp(prefix="dra-dev-state-"))
    state.chmod(0o755)  # embedded Postgres runs as its own system user when we are root
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(dev, "DEFAULT_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/dra")
    monkeypatch.setattr(dev, "DEFAULT_REDIS_URL", "redis://127.0.0.1:1/0")
    stack = dev.Stack()
    try:
        database_url = dev._resolve_postgres(stack, state)
        redis_url = dev._resolve_redis(stack, state, dict(os.environ))
        settings = Settings(database_url=database_url, redis_url=redis_url)
        migrate.upgrade(settings)
        assert migrate.current_revision(settings) is not None
        assert redis.Redis.from_url(redis_url).ping()
    finally:
        stack.stop()
    assert all(proc.poll() is not None for proc in stack.children.values())
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()
