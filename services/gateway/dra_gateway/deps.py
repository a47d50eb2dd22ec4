"""FastAPI dependencies shared by the routes: settings and clients built once in the lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from dra_common.settings import Settings
from dra_gateway.clients import Clients


def get_settings(request: Request) -> Settings:
    """The gateway's settings, built once in `main()`."""
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_clients(request: Request) -> Clients:
    """The gRPC stubs and Redis client opened in the lifespan."""
    return request.app.state.clients


ClientsDep = Annotated[Clients, Depends(get_clients)]
