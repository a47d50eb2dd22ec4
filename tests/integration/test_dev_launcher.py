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
