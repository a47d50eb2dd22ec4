"""gRPC CacheService over the Redis store: validation, degraded answers, housekeeping thread.

Faults never reach a search as an error: while Redis is unreachable Get is a miss, Put answers stored=false
with the reason, Stats answers redis_available=false, WarmPlan returns the given queries. Invalidate answers
UNAVAILABLE, because the caller must know that stale entries are still there when Redis comes back.
Health stays SERVING throughout; callers read redis_available.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import grpc
import redis

from dra.v1 import cache_pb2, cache_pb2_grpc
from dra_cache import metrics
from dra_cache.config import CacheSettings
from dra_cache.policy import InvalidInputError, NormalisedKey, check_unit_interval, normalise_key
from dra_cache.store import CacheStore, RedisUnavailableError
from dra_common.grpc_utils import RunningServer, serve
from dra_common.text import normalize_query

log = logging.getLogger(__name__)

DEFAULT_WARM_LIMIT = 50
MAX_WARM_LIMIT = 1000
MAX_RECENT_DAYS = 366


def key_from_proto(key: cache_pb2.CacheKey) -> NormalisedKey:
    """Canonical key of a CacheKey message (raises InvalidInputError)."""
    return normalise_key(
        key.query,
        key.max_results,
        key.filters.sources,
        key.filters.geography,
        key.model_version,
        key.ab_arm,
    )


def key_to_proto(key: NormalisedKey) -> cache_pb2.CacheKey:
    """CacheKey message of a canonical key (query already normalised)."""
    return cache_pb2.CacheKey(
        query=key.query,
        max_results=key.max_results,
        filters={"sources": list(key.sources), "geography": list(key.geography)},
        model_version=key.model_version,
        ab_arm=key.ab_arm,
    )


def _invalid(context: grpc.ServicerContext, exc: InvalidInputError) -> Any:
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))


class CacheService(cache_pb2_grpc.CacheServiceServicer):
    """The CacheService RPCs."""

    def __init__(self, store: CacheStore) -> None:
        self.store = store

    def Get(self, request: cache_pb2.CacheGetRequest, context: grpc.ServicerContext) -> cache_pb2.CacheGetResponse:  # noqa: N802
        """Cached answer for a key, or a miss (also when Redis is down)."""
        try:
            key = key_from_proto(request.key)
        except InvalidInputError as exc:
            return _invalid(context, exc)
        try:
            entry = self.store.get(key)
        except RedisUnavailableError:
            entry = None
        except redis.RedisError:
            log.exception("cache lookup failed; answering a miss")
            entry = None
        if entry is None:
            metrics.MISSES.inc()
            return cache_pb2.CacheGetResponse(hit=False)
        metrics.HITS.inc()
        return cache_pb2.CacheGetResponse(
            hit=True, payload=entry.payload, quality_score=entry.quality, ttl_seconds=entry.ttl_seconds
        )

    def Put(self, request: cache_pb2.CachePutRequest, context: grpc.ServicerContext) -> cache_pb2.CachePutResponse:  # noqa: N802
        """Store an answer if its quality earns it; stored=false with the reason otherwise."""
        try:
            key = key_from_proto(request.key)
            quality = check_unit_interval("quality_score", request.quality_score)
            if not request.payload:
                raise InvalidInputError("payload is empty")
        except InvalidInputError as exc:
            return _invalid(context, exc)
        try:
            result = self.store.put(key, request.payload, quality, request.sources)
        except RedisUnavailableError as exc:
            metrics.PUTS_REJECTED.labels("redis_unavailable").inc()
            return cache_pb2.CachePutResponse(stored=False, reason=str(exc))
        except redis.RedisError as exc:
            log.exception("cache put failed")
            metrics.PUTS_REJECTED.labels("redis_error").inc()
            return cache_pb2.CachePutResponse(stored=False, reason=f"redis error: {exc}")
        return cache_pb2.CachePutResponse(stored=result.stored, ttl_seconds=result.ttl_seconds, reason=result.reason)

    def Stats(self, request: cache_pb2.CacheStatsRequest, context: grpc.ServicerContext) -> cache_pb2.CacheStatsResponse:  # noqa: N802
        """Statistics counted in Redis; redis_available=false (and zeros) while Redis is unreachable."""
        try:
            stats = self.store.stats()
        except (RedisUnavailableError, redis.RedisError) as exc:
            if not isinstance(exc, RedisUnavailableError):
                log.exception("cache stats failed")
            return cache_pb2.CacheStatsResponse(
                redis_available=False, window_seconds=self.store.settings.cache_window_seconds // 60 * 60
            )
        dist = stats.distribution
        return cache_pb2.CacheStatsResponse(
            hit_rate=stats.hit_rate,
            hit_rate_since_start=stats.hit_rate_since_start,
            avg_quality_score=stats.avg_quality_score,
            total_entries=stats.total_entries,
            memory_used_bytes=stats.memory_used_bytes,
            quality_distribution=cache_pb2.QualityDistribution(
                excellent=dist["excellent"],
                good=dist["good"],
                fair=dist["fair"],
                poor=dist["poor"],
                total=stats.total_entries,
            ),
            hits=stats.hits,
            misses=stats.misses,
            window_seconds=stats.window_seconds,
            window_lookups=stats.window_lookups,
            redis_available=True,
        )

    def Invalidate(  # noqa: N802
        self, request: cache_pb2.InvalidateRequest, context: grpc.ServicerContext
    ) -> cache_pb2.InvalidateResponse:
        """Drop entries matching every given criterion; with force_refresh, return the used ones to recompute."""
        try:
            threshold = request.quality_threshold
            if threshold < 0 or threshold != threshold:
                raise InvalidInputError(f"quality_threshold must be >= 0, got {threshold}")
            threshold = check_unit_interval("quality_threshold", threshold)
            pattern = request.query_pattern.strip()
            if request.query_pattern and not normalize_query(pattern):
                raise InvalidInputError("query_pattern is blank")
            if not (request.all or threshold > 0 or request.source.strip() or request.model_version.strip() or pattern):
                raise InvalidInputError(
                    "give at least one criterion: quality_threshold > 0, source, model_version, query_pattern or all"
                )
        except InvalidInputError as exc:
            return _invalid(context, exc)
        try:
            removed, dropped = self.store.invalidate(
                quality_threshold=threshold,
                source=request.source.strip(),
                model_version=request.model_version.strip(),
                query_pattern=pattern,
                drop_all=request.all,
                force_refresh=request.force_refresh,
            )
        except RedisUnavailableError as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"cache not invalidated: {exc}")
        return cache_pb2.InvalidateResponse(removed=removed, refresh=[key_to_proto(d.key) for d in dropped])

    def WarmPlan(self, request: cache_pb2.WarmPlanRequest, context: grpc.ServicerContext) -> cache_pb2.WarmPlanResponse:  # noqa: N802
        """The given queries (deduplicated by normalised form), then the most frequent recent ones."""
        retention = self.store.settings.cache_freq_retention_days
        try:
            if not 0 <= request.recent_days <= MAX_RECENT_DAYS:
                raise InvalidInputError(f"recent_days must be in [0, {MAX_RECENT_DAYS}], got {request.recent_days}")
            if not 0 <= request.limit <= MAX_WARM_LIMIT:
                raise InvalidInputError(f"limit must be in [0, {MAX_WARM_LIMIT}], got {request.limit}")
            for i, query in enumerate(request.queries):
                if not normalize_query(query):
                    raise InvalidInputError(f"queries[{i}] is empty")
        except InvalidInputError as exc:
            return _invalid(context, exc)
        plan: list[str] = []
        seen: set[str] = set()
        for query in request.queries:
            normalised = normalize_query(query)
            if normalised not in seen:
                seen.add(normalised)
                plan.append(query.strip())
        if request.recent_days:
            limit = request.limit or DEFAULT_WARM_LIMIT
            try:
                # Counts older than the retention are gone anyway, so longer windows are clamped, not refused.
                frequent = self.store.frequent_queries(min(request.recent_days, retention), limit + len(seen))
            except (RedisUnavailableError, redis.RedisError):
                frequent = []
            added = 0
            for query, _count in frequent:
                if added >= limit:
                    break
                if query not in seen:
                    seen.add(query)
                    plan.append(query)
                    added += 1
        return cache_pb2.WarmPlanResponse(queries=plan)


class Housekeeper(threading.Thread):
    """Runs the store's maintenance every interval: expired entries leave the indexes, Redis is probed."""

    def __init__(self, store: CacheStore, interval_s: float) -> None:
        super().__init__(name="cache-housekeeper", daemon=True)
        self.store = store
        self.interval_s = interval_s
        self.stopped = threading.Event()

    def run(self) -> None:
        """Loop until stop(); failures are logged and retried next round."""
        while not self.stopped.wait(self.interval_s):
            try:
                self.store.maintenance()
            except RedisUnavailableError:
                pass
            except Exception:
                log.exception("cache maintenance failed")

    def stop(self) -> None:
        """Ask the loop to end."""
        self.stopped.set()


def start(settings: CacheSettings, store: CacheStore) -> tuple[RunningServer, Housekeeper]:
    """Start the gRPC server (SERVING at once; Redis state is reported by Stats) and the housekeeper."""
    service = CacheService(store)

    def register(server: grpc.Server) -> list[str]:
        cache_pb2_grpc.add_CacheServiceServicer_to_server(service, server)
        return [cache_pb2.DESCRIPTOR.services_by_name["CacheService"].full_name]

    running = serve(
        "cache",
        register,
        host=settings.bind_host,
        port=settings.cache_port,
        metrics_port=settings.cache_metrics_port,
    )
    store.ping()
    running.set_serving()
    housekeeper = Housekeeper(store, settings.cache_sweep_interval_s)
    housekeeper.start()
    log.info("cache ready", extra={"redis_available": store.available, "tiers": settings.cache_ttl_tiers})
    return running, housekeeper
