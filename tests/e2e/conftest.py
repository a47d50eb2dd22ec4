"""The whole stack as real processes on free ports, against the test run's Postgres database and Redis prefix."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dra_common.settings import Settings
from tests.conftest import isolated_settings, settings_env
from tests.utils.processes import ServiceProcess, python_module

GRPC_SERVICES = ("router", "ranking", "cache", "monitoring")


@dataclass
class Stack:
    """Running processes by name, with the settings they share."""

    settings: Settings
    procs: dict[str, ServiceProcess]
    env: dict[str, str]
    logs_dir: Path

    @property
    def url(self) -> str:
        return self.settings.gateway_url

    def addr(self, name: str) -> str:
        return getattr(self.settings, f"{name}_addr")

    def start(self, name: str) -> ServiceProcess:
        """(Re)start one process and wait until it is healthy."""
        args = (
            [*python_module("celery"), "-A", "dra_worker.celery_app:app", "worker", "--loglevel=INFO", "--concurrency=1"]
            if name == "worker"
            else python_module(f"dra_{name}")
        )
        proc = ServiceProcess(name, args, self.env, self.logs_dir / f"{name}.log").start()
        self.procs[name] = proc
        if name in GRPC_SERVICES:
            proc.wait_grpc(self.addr(name), timeout=240)
        elif name == "gateway":
            proc.wait_http(f"{self.url}/healthz")
        return proc

    def stop(self, name: str) -> None:
        self.procs[name].stop()


@pytest.fixture(scope="package")
def stack(_stores: tuple[str, str], tmp_path_factory: pytest.TempPathFactory, logs_dir: Path) -> Iterator[Stack]:
    """Load the curated catalog, start every service, stop them all when the e2e tests are done."""
    from dra_common.catalog.default import load_default_catalog

    with isolated_settings(_stores, tmp_path_factory.mktemp("e2e-state")) as settings:
        load_default_catalog(settings, embed=True)
        running = Stack(settings, {}, settings_env(settings), logs_dir)
        try:
            for name in ("router", "ranking", "cache", "monitoring", "gateway", "worker"):
                running.start(name)
            yield running
        finally:
            for proc in running.procs.values():
                proc.stop()


@pytest.fixture(scope="package")
def http(stack: Stack) -> Iterator[httpx.Client]:
    """An HTTP client on the gateway."""
    with httpx.Client(base_url=stack.url, timeout=60) as client:
        yield client
