"""`python -m dra_gateway`: serve the HTTP API with uvicorn."""

from __future__ import annotations

import socket

import uvicorn

from dra_common.grpc_utils import shorten_gil_switch_interval
from dra_common.log import setup_logging
from dra_common.settings import Settings
from dra_gateway.app import create_app


def main() -> None:
    """Build settings, check the port, serve."""
    settings = Settings()
    setup_logging("gateway", settings.log_level)
    shorten_gil_switch_interval()
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.bind_host, settings.gateway_port))
        except OSError as exc:
            raise SystemExit(
                f"gateway: port {settings.gateway_port} is busy ({exc.strerror}); set GATEWAY_PORT to another port"
            ) from exc
    uvicorn.run(
        create_app(settings),
        host=settings.bind_host,
        port=settings.gateway_port,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
