"""Start real service processes for integration tests, wait for health, stop them afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from dra_common.grpc_utils import health_check


@dataclass
class ServiceProcess:
    """A child process running one service, with its log file."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> ServiceProcess:
        """Launch the process in its own process group, logging to `log_path`."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - stays open for the child's lifetime
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Signal the process group and wait; SIGKILL if it does not leave in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass

    def logs(self) -> str:
        """The process's output so far (for assertion messages)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_grpc(self, addr: str, timeout: float = 90.0) -> None:
        """Wait until the gRPC health service says SERVING; fail with the logs otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early:\n{self.logs()[-4000:]}")
            if health_check(addr, timeout=0.5) == "SERVING":
                return
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not SERVING after {timeout}s:\n{self.logs()[-4000:]}")

    def wait_http(self, url: str, timeout: float = 60.0) -> None:
        """Wait until `url` answers 200; fail with the logs otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early:\n{self.logs()[-4000:]}")
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not answering {url} after {timeout}s:\n{self.logs()[-4000:]}")


def python_module(module: str) -> list[str]:
    """Command line running `python -m module` with this interpreter."""
    return [sys.executable, "-m", module]
