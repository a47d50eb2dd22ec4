"""The FastAPI application: routes, lifespan (clients), metrics and one log line per request."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client import make_asgi_app

from dra_common.settings import Settings
from dra_gateway.api.routes import cache, catalog, feedback, health, quality, search
from dra_gateway.clients import Clients
from dra_gateway.metrics import REQUESTS

log = logging.getLogger("dra_gateway.access")


class AccessLogMiddleware:
    """Pure ASGI middleware (cheaper than BaseHTTPMiddleware on the cached-search path)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] == "/metrics":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", scope["path"])
            REQUESTS.labels(path, scope["method"], str(status["code"])).inc()
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status["code"],
                    "ms": round((time.perf_counter() - start) * 1000, 3),
                },
            )


def create_app(settings: Settings) -> FastAPI:
    """Build the app; clients are opened in the lifespan, not here."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        clients = Clients.connect(settings)
        clients.start_background()
        app.state.settings = settings
        app.state.clients = clients
        yield
        clients.close()

    app = FastAPI(
        title="Dataset Research Assistant",
        version="2.0",
        description="Finds the datasets and data sources that fit a research request.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    for module in (search, health, quality, cache, catalog, feedback):
        app.include_router(module.router)
    app.mount("/metrics", make_asgi_app())
    app.add_middleware(AccessLogMiddleware)
    return app
