"""Cache statistics, invalidation and warming (the runbook's "Cache Performance Issues")."""

from __future__ import annotations

import time
from typing import Any

import grpc
from fastapi import APIRouter, HTTPException
from google.protobuf.json_format import MessageToDict

from dra.v1 import cache_pb2
from dra_gateway.deps import ClientsDep
from dra_gateway.schemas import InvalidateIn, SearchFiltersIn, SearchRequest, WarmIn
from dra_gateway.search import run_search

router = APIRouter(prefix="/api/v2/cache", tags=["cache"])


def _unavailable(exc: grpc.RpcError) -> HTTPException:
    if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
        return HTTPException(status_code=400, detail=exc.details())
    return HTTPException(status_code=503, detail=f"cache service unavailable ({exc.code().name})")


@router.get("/stats")
def cache_stats(clients: ClientsDep) -> dict[str, Any]:
    """`cache_statistics`: hit rates, average quality, entries, memory, quality distribution."""
    try:
        stats = clients.cache.Stats(cache_pb2.CacheStatsRequest(), timeout=clients.settings.rpc_deadline_s)
    except grpc.RpcError as exc:
        raise _unavailable(exc) from exc
    body = MessageToDict(stats, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    for name in ("total_entries", "memory_used_bytes", "hits", "misses", "window_seconds", "window_lookups"):
        body[name] = int(body.get(name, 0))
    body["quality_distribution"] = {k: int(v) for k, v in body.get("quality_distribution", {}).items()}
    if body["window_lookups"] == 0:
        body["hit_rate"] = body.get("hit_rate_since_start", 0.0)
        body["hit_rate_basis"] = "since start (no lookups in the recent window)"
    else:
        body["hit_rate_basis"] = f"last {body['window_seconds'] // 60} minutes"
    return {"cache_statistics": body}


def _search(clients: ClientsDep, query: str, max_results: int, filters: SearchFiltersIn | None = None) -> bool:
    response = run_search(
        clients, SearchRequest(query=query, max_results=max_results, filters=filters or SearchFiltersIn())
    )
    return not response.get("degraded") and bool(response["recommendations"])


@router.post("/invalidate")
def invalidate(body: InvalidateIn, clients: ClientsDep) -> dict[str, Any]:
    """Drop entries by quality, source, model version or query pattern; `force_refresh` recomputes busy ones."""
    try:
        response = clients.cache.Invalidate(
            cache_pb2.InvalidateRequest(**body.model_dump()), timeout=clients.settings.rpc_long_deadline_s
        )
    except grpc.RpcError as exc:
        raise _unavailable(exc) from exc
    refreshed = []
    for key in response.refresh if body.force_refresh else []:
        filters = SearchFiltersIn(sources=list(key.filters.sources), geography=list(key.filters.geography))
        if _search(clients, key.query, key.max_results or 10, filters):
            refreshed.append(key.query)
    return {"removed": response.removed, "refreshed": refreshed, "refreshed_count": len(refreshed)}


@router.post("/warm")
def warm(body: WarmIn, clients: ClientsDep) -> dict[str, Any]:
    """Run the given queries (and the most frequent recent ones) so their answers are cached, rate-limited."""
    try:
        plan = clients.cache.WarmPlan(
            cache_pb2.WarmPlanRequest(queries=body.queries, recent_days=body.recent_days, limit=body.limit),
            timeout=clients.settings.rpc_deadline_s,
        )
        queries = list(plan.queries)
    except grpc.RpcError as exc:
        raise _unavailable(exc) from exc
    warmed, failed = [], []
    interval = 1.0 / body.rate_per_second
    for query in queries:
        started = time.monotonic()
        (warmed if _search(clients, query, body.max_results) else failed).append(query)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    return {"warmed": warmed, "failed": failed, "total": len(queries)}
