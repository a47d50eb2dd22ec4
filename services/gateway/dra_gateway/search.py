"""The search path: cache → router → ranking → cache, one event per search.

Each peer is optional: a failing router, cache or ranking degrades the answer (noted in `notices`
and `degraded_components`), never turns it into an error.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from typing import Any

import grpc
import orjson
from sqlalchemy import text

from dra.v1 import cache_pb2, common_pb2, router_pb2
from dra_common.db import engine
from dra_common.domain import SINGAPORE_SOURCES
from dra_common.events import publish_search_event
from dra_common.quality import ESTIMATE_METHOD, estimated_ndcg_at_3
from dra_common.rank_request import rank_request
from dra_common.text import clip_query, normalize_query
from dra_gateway.clients import Clients
from dra_gateway.metrics import DEGRADED, SEARCH_LATENCY, SEARCHES
from dra_gateway.schemas import SearchFiltersIn, SearchRequest

log = logging.getLogger(__name__)

FALLBACK_VERSION = "postgres-fulltext"


def _ab_arm(clients: Clients, request: SearchRequest, request_id: str) -> tuple[str, str]:
    """(arm, model version) for this request: A/B split only while ranking holds a candidate."""
    models = clients.models
    if not models.candidate:
        return "", models.current
    key = request.session_id or request_id
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if bucket < clients.settings.ab_test_traffic_split:
        return "b", models.candidate
    return "a", models.current


def _cache_key(request: SearchRequest, filters: SearchFiltersIn, model_version: str, arm: str) -> cache_pb2.CacheKey:
    return cache_pb2.CacheKey(
        query=request.query,
        max_results=request.max_results,
        filters=common_pb2.SearchFilters(sources=filters.sources, geography=filters.geography),
        model_version=model_version,
        ab_arm=arm,
    )


def _routing_summary(route: router_pb2.ClassifyResponse | None, reason_if_missing: str) -> dict[str, Any]:
    if route is None:
        return {
            "domain": "general",
            "confidence": 0.0,
            "singapore_first_applied": False,
            "reason": reason_if_missing,
            "recommended_sources": [],
            "source_priors": [],
            "geography": [],
            "runner_up": [],
        }
    return {
        "domain": route.domain,
        "confidence": round(route.confidence, 4),
        "singapore_first_applied": route.singapore_first_applied,
        "reason": route.reason,
        "recommended_sources": [s.source for s in route.recommended_sources],
        "source_priors": [
            {"source": s.source, "relevance": round(s.score, 4), "reason": s.reason} for s in route.recommended_sources
        ],
        "geography": list(route.geography),
        "runner_up": [{"domain": d.domain, "confidence": round(d.confidence, 4)} for d in route.runner_up],
    }


def _recommendation(rec: common_pb2.Recommendation) -> dict[str, Any]:
    return {
        "dataset_id": rec.dataset_id,
        "title": rec.title,
        "source": rec.source,
        "url": rec.url,
        "description": rec.snippet,
        "publisher": rec.publisher,
        "geography": list(rec.geography),
        "matched_terms": list(rec.matched_terms),
        "matched_fields": list(rec.matched_fields),
        "quality_metrics": {
            "relevance_score": round(rec.relevance_score, 4),
            "quality_score": round(rec.quality_score, 4),
            "confidence": round(rec.confidence, 4),
        },
    }


def fallback_search(clients: Clients, query: str, max_results: int, filters: SearchFiltersIn) -> list[dict[str, Any]]:
    """Postgres full-text search: the degraded answer when ranking is unreachable.

    relevance_score is the full-text rank scaled so the best match gets 0.5 — a weak signal, and
    labelled as such in the response notices.
    """
    words = [w for w in "".join(c if c.isalnum() else " " for c in query.lower()).split() if len(w) > 1][:30]
    if not words:
        return []
    sql = text(
        """
        SELECT id, title, source, landing_page, description, publisher, geography, metadata_quality,
               ts_rank_cd(doc, q) AS rank
        FROM (SELECT *, to_tsvector('english', title || ' ' || coalesce(description, '') || ' ' ||
                     array_to_string(keywords, ' ')) AS doc FROM datasets WHERE status = 'active') d,
             to_tsquery('english', :tsq) q
        WHERE doc @@ q
          AND (cardinality(CAST(:sources AS text[])) = 0 OR source = ANY(CAST(:sources AS text[])))
          AND (cardinality(CAST(:geo AS text[])) = 0 OR geography && CAST(:geo AS text[]))
        ORDER BY rank DESC LIMIT :k
        """
    )
    with engine(clients.settings).connect() as conn:
        rows = conn.execute(
            sql, {"tsq": " | ".join(words), "sources": filters.sources, "geo": filters.geography, "k": max_results}
        ).all()
    if not rows:
        return []
    best = max(r.rank for r in rows) or 1.0
    return [
        {
            "dataset_id": r.id,
            "title": r.title,
            "source": r.source,
            "url": r.landing_page,
            "description": (r.description or "")[:240],
            "publisher": r.publisher,
            "geography": list(r.geography or []),
            "matched_terms": [],
            "matched_fields": [],
            "quality_metrics": {
                "relevance_score": round(0.5 * r.rank / best, 4),
                "quality_score": round(r.metadata_quality, 4),
                "confidence": 0.0,
            },
        }
        for r in rows
    ]


def _source_ranking(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    scores: dict[str, float] = {}
    for rec in recs:
        scores[rec["source"]] = max(scores.get(rec["source"], 0.0), rec["quality_metrics"]["relevance_score"])
    return [{"source": s, "score": round(v, 4)} for s, v in sorted(scores.items(), key=lambda kv: -kv[1])]


def run_search(clients: Clients, request: SearchRequest) -> dict[str, Any]:
    """Answer one search request; never raises for a failing peer."""
    started = time.perf_counter()
    settings = clients.settings
    request_id = uuid.uuid4().hex
    query, notices = clip_query(request.query.strip())
    request = request.model_copy(update={"query": query})
    filters = request.effective_filters()
    arm, model_version = _ab_arm(clients, request, request_id)
    key = _cache_key(request, filters, model_version, arm)
    degraded: list[str] = []
    stages: dict[str, float] = {}

    if request.use_cache:
        t0 = time.perf_counter()
        try:
            hit = clients.cache.Get(cache_pb2.CacheGetRequest(key=key), timeout=settings.rpc_deadline_s / 4)
        except grpc.RpcError as exc:
            hit = None
            degraded.append("cache")
            DEGRADED.labels("cache").inc()
            log.warning("cache get failed", extra={"code": str(exc.code())})
        stages["cache_get_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        if hit is not None and hit.hit:
            body = orjson.loads(hit.payload)
            latency_ms = (time.perf_counter() - started) * 1000
            body["request_id"] = request_id
            body["performance"] = {"latency_ms": round(latency_ms, 3), "cache_hit": True, "stages_ms": stages}
            _finish(clients, request, body, latency_ms, cache_hit=True)
            return body

    t0 = time.perf_counter()
    route: router_pb2.ClassifyResponse | None = None
    try:
        route = clients.router.Classify(
            router_pb2.ClassifyRequest(query=query, return_embedding=True), timeout=settings.rpc_deadline_s
        )
    except grpc.RpcError as exc:
        degraded.append("router")
        DEGRADED.labels("router").inc()
        notices.append(f"router unavailable ({exc.code().name}): domain and Singapore-first not applied")
    stages["router_ms"] = round((time.perf_counter() - t0) * 1000, 3)

    t0 = time.perf_counter()
    recommendations: list[dict[str, Any]]
    source_ranking: list[dict[str, Any]]
    served_version = model_version
    try:
        ranked = clients.ranking.Rank(
            rank_request(
                query,
                request.max_results,
                route,
                common_pb2.SearchFilters(sources=filters.sources, geography=filters.geography),
                model_version,
            ),
            timeout=settings.rpc_deadline_s,
        )
        recommendations = [_recommendation(r) for r in ranked.recommendations]
        source_ranking = [{"source": s.source, "score": round(s.score, 4)} for s in ranked.source_ranking]
        served_version = ranked.model_version
        notices.extend(ranked.notices)
        if ranked.degraded:
            degraded.append("ranking_model")
    except grpc.RpcError as exc:
        degraded.append("ranking")
        DEGRADED.labels("ranking").inc()
        served_version = FALLBACK_VERSION
        try:
            recommendations = fallback_search(clients, query, request.max_results, filters)
            notices.append(
                f"ranking unavailable ({exc.code().name}): results from Postgres full-text search; "
                "relevance scores are full-text ranks scaled to at most 0.5"
            )
        except Exception:  # noqa: BLE001 - the database may be down too; still answer
            log.exception("fallback search failed")
            degraded.append("postgres")
            recommendations = []
            notices.append("ranking and catalog database unavailable: no recommendations")
        if route is not None and route.singapore_first_applied:
            recommendations.sort(key=lambda r: r["source"] not in SINGAPORE_SOURCES)
        source_ranking = _source_ranking(recommendations)
    stages["ranking_ms"] = round((time.perf_counter() - t0) * 1000, 3)

    if request.quality_threshold is not None:
        kept = [r for r in recommendations if r["quality_metrics"]["relevance_score"] >= request.quality_threshold]
        if len(kept) < len(recommendations):
            notices.append(
                f"{len(recommendations) - len(kept)} result(s) below quality_threshold "
                f"{request.quality_threshold} removed"
            )
        recommendations = kept

    relevances = [r["quality_metrics"]["relevance_score"] for r in recommendations]
    estimate = estimated_ndcg_at_3(relevances)
    body: dict[str, Any] = {
        "query": query,
        "recommendations": recommendations,
        "source_ranking": source_ranking,
        "routing_summary": _routing_summary(route, "router unavailable"),
        "quality_summary": {
            "overall_ndcg_at_3": estimate,
            "ndcg_is_estimate": True,
            "estimation_method": ESTIMATE_METHOD,
            "avg_relevance_score": round(sum(relevances) / len(relevances), 4) if relevances else 0.0,
            "results": len(recommendations),
        },
        "model_version": served_version,
        "ab_arm": arm,
        "filters": filters.model_dump(),
        "notices": notices,
        "degraded": bool(degraded),
        "degraded_components": degraded,
    }
    latency_ms = (time.perf_counter() - started) * 1000
    body["request_id"] = request_id
    body["performance"] = {"latency_ms": round(latency_ms, 3), "cache_hit": False, "stages_ms": stages}
    if request.use_cache and not degraded and recommendations:
        clients.executor.submit(_cache_put, clients, key, body, estimate)
    _finish(clients, request, body, latency_ms, cache_hit=False)
    return body


def _cache_put(clients: Clients, key: cache_pb2.CacheKey, body: dict[str, Any], quality: float) -> None:
    stored = {k: v for k, v in body.items() if k not in ("performance", "request_id")}
    try:
        clients.cache.Put(
            cache_pb2.CachePutRequest(
                key=key,
                payload=orjson.dumps(stored),
                quality_score=quality,
                sources=sorted({r["source"] for r in body["recommendations"]}),
            ),
            timeout=clients.settings.rpc_deadline_s,
        )
    except grpc.RpcError as exc:
        log.warning("cache put failed", extra={"code": str(exc.code())})


def _finish(clients: Clients, request: SearchRequest, body: dict[str, Any], latency_ms: float, cache_hit: bool) -> None:
    label = "true" if cache_hit else "false"
    SEARCHES.labels(label).inc()
    SEARCH_LATENCY.labels(label).observe(latency_ms / 1000)
    routing = body["routing_summary"]
    event = {
        "request_id": body["request_id"],
        "created_at": time.time(),
        "query": body["query"],
        "normalized_query": normalize_query(body["query"]),
        "domain": routing["domain"],
        "domain_confidence": routing["confidence"],
        "singapore_first_applied": routing["singapore_first_applied"],
        "top_sources": [r["source"] for r in body["recommendations"][:3]],
        "dataset_ids": [r["dataset_id"] for r in body["recommendations"]],
        "relevance_scores": [r["quality_metrics"]["relevance_score"] for r in body["recommendations"]],
        "estimated_ndcg_at_3": body["quality_summary"]["overall_ndcg_at_3"],
        "latency_ms": latency_ms,
        "cache_hit": cache_hit,
        "model_version": body["model_version"],
        "ab_arm": body.get("ab_arm", ""),
        "degraded": body.get("degraded", False),
    }
    clients.executor.submit(_publish, clients, event)


def _publish(clients: Clients, event: dict[str, Any]) -> None:
    try:
        publish_search_event(clients.redis, clients.settings, event)
    except Exception:  # noqa: BLE001 - a lost event must not fail the search
        log.warning("search event not published (redis unavailable)", extra={"request_id": event["request_id"]})
