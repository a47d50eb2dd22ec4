"""POST /api/v2/search — the product's main call."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import ORJSONResponse

from dra_gateway.deps import ClientsDep
from dra_gateway.schemas import SearchRequest
from dra_gateway.search import run_search

router = APIRouter(prefix="/api/v2", tags=["search"])


@router.post("/search", response_class=ORJSONResponse)
def search(request: SearchRequest, clients: ClientsDep) -> Any:
    """Datasets and sources that best fit the request, with routing, quality and timing summaries."""
    return ORJSONResponse(run_search(clients, request))
