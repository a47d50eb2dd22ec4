"""Health: cheap liveness (`/healthz`), readiness (`/readyz`) and the runbook's `/api/v2/health`."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from google.protobuf.json_format import MessageToDict

from dra.v1 import cache_pb2, monitoring_pb2, ranking_pb2
from dra_common.db import ping
from dra_common.grpc_utils import health_check
from dra_gateway.clients import Clients
from dra_gateway.deps import ClientsDep

router = APIRouter(tags=["health"])

WORKER_HEARTBEAT_MAX_AGE_S = 30.0
# With both of these down nothing can be answered (ranking, or its Postgres full-text fallback);
# anything else down only degrades answers.
ESSENTIAL = ("ranking", "postgres")


def _timed(check: Any) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        status, detail = check()
    except Exception as exc:  # noqa: BLE001 - a failing check is a finding, not an error
        status, detail = "down", f"{type(exc).__name__}: {exc}"[:300]
    out: dict[str, Any] = {"status": status, "latency_ms": round((time.perf_counter() - start) * 1000, 2)}
    if detail:
        out["detail"] = detail
    return out


def _grpc_check(addr: str) -> tuple[str, str]:
    state = health_check(addr, timeout=1.0)
    return ("up", "") if state == "SERVING" else ("down", state)


def _ranking_check(clients: Clients) -> tuple[str, str]:
    state, detail = _grpc_check(clients.settings.ranking_addr)
    if state != "up":
        return state, detail
    info = clients.ranking.Info(ranking_pb2.InfoRequest(), timeout=1.0)
    if info.degraded:
        return "degraded", info.degraded_reason or "serving fused candidates without a model"
    return "up", f"model {info.current_version}, {info.catalog_size} datasets"


def _cache_check(clients: Clients) -> tuple[str, str]:
    state, detail = _grpc_check(clients.settings.cache_addr)
    if state != "up":
        return state, detail
    stats = clients.cache.Stats(cache_pb2.CacheStatsRequest(), timeout=1.0)
    return ("up", "") if stats.redis_available else ("degraded", "cache cannot reach Redis")


def _redis_check(clients: Clients) -> tuple[str, str]:
    clients.redis.ping()
    return "up", ""


def _postgres_check(clients: Clients) -> tuple[str, str]:
    ping(clients.settings)
    return "up", ""


def _worker_check(clients: Clients) -> tuple[str, str]:
    beat = clients.redis.get(clients.settings.key("worker_heartbeat"))
    if beat is None:
        return "down", "no heartbeat from any Celery worker"
    age = time.time() - float(beat)
    if age > WORKER_HEARTBEAT_MAX_AGE_S:
        return "down", f"last worker heartbeat {age:.0f}s ago"
    return "up", f"heartbeat {age:.0f}s ago"


def _quality_metrics(clients: Clients) -> dict[str, Any] | None:
    try:
        response = clients.monitoring.GetQualityMetrics(monitoring_pb2.QualityMetricsRequest(), timeout=1.5)
    except grpc.RpcError:
        return None
    metrics = MessageToDict(response.current_metrics)
    metrics["snapshot_time"] = response.snapshot_time
    return metrics


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(clients: ClientsDep) -> JSONResponse:
    """Readiness: the router answers (compose waits on this)."""
    state = health_check(clients.settings.router_addr, timeout=1.0)
    code = 200 if state == "SERVING" else 503
    return JSONResponse({"status": "ready" if code == 200 else "not ready", "router": state}, status_code=code)


@router.get("/api/v2/health")
def health(clients: ClientsDep) -> dict[str, Any]:
    """Status of every component, with latencies, and the latest quality snapshot. Never a 500."""
    s = clients.settings
    checks = {
        "router": lambda: _grpc_check(s.router_addr),
        "ranking": lambda: _ranking_check(clients),
        "cache": lambda: _cache_check(clients),
        "monitoring": lambda: _grpc_check(s.monitoring_addr),
        "postgres": lambda: _postgres_check(clients),
        "redis": lambda: _redis_check(clients),
        "celery_worker": lambda: _worker_check(clients),
    }
    with ThreadPoolExecutor(max_workers=len(checks) + 1) as pool:
        futures = {name: pool.submit(_timed, check) for name, check in checks.items()}
        quality = pool.submit(_quality_metrics, clients)
        components = {name: f.result() for name, f in futures.items()}
        quality_metrics = quality.result()
    components["gateway"] = {"status": "up", "latency_ms": 0.0}
    if all(components[name]["status"] == "down" for name in ESSENTIAL):
        status = "unhealthy"
    elif all(c["status"] == "up" for c in components.values()):
        status = "healthy"
    else:
        status = "degraded"
    return {"status": status, "components": components, "quality_metrics": quality_metrics, "timestamp": time.time()}
