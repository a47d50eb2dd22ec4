"""The ranking gRPC service: Rank, Reload, Info.

State (catalog index + loaded models) lives in one immutable `ServingState`; a reload builds a new one
and swaps the reference, so every request sees one consistent index and model set and none fails
during a swap. A background thread watches the catalog version (Redis pub/sub, with a Postgres poll as
fallback) and model-registry announcements.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import grpc
import numpy as np

from dra.v1 import common_pb2, ranking_pb2, ranking_pb2_grpc
from dra_common.catalog_version import CHANNEL as CATALOG_CHANNEL
from dra_common.catalog_version import model_channel
from dra_common.domain import DOMAINS, SOURCE_NAMES
from dra_common.encoder import DIM, MODEL_NAME
from dra_common.settings import Settings
from dra_common.text import clip_query
from dra_ranking import metrics, ranker, registry
from dra_ranking.catalog import catalog_version, ensure_embeddings, load_active
from dra_ranking.features import make_context
from dra_ranking.index import CatalogIndex

log = logging.getLogger(__name__)

SERVICE_NAME = "dra.v1.RankingService"
DEGRADED_VERSION = "fused-candidates"
POLL_SECONDS = 30.0
_GEO_OK = {"global"}


@dataclass(frozen=True)
class ServingState:
    """What a request ranks with: one catalog index and up to two models."""

    index: CatalogIndex
    current: registry.LoadedModel | None = None
    candidate: registry.LoadedModel | None = None
    degraded_reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def degraded(self) -> bool:
        """No current model: the fused candidates are served."""
        return self.current is None


class RankingService(ranking_pb2_grpc.RankingServiceServicer):
    """Servicer holding the serving state and doing the reloads."""

    def __init__(self, settings: Settings, encoder: Any) -> None:
        self.settings = settings
        self.encoder = encoder
        self.state = ServingState(index=CatalogIndex([], version=0), degraded_reason="starting")
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()

    # -- loading -----------------------------------------------------------------------------------

    def load_catalog(self) -> None:
        """Build an index of the active catalog and swap it in."""
        version = catalog_version(self.settings)
        records = load_active(self.settings)
        computed = ensure_embeddings(records, self.encoder, self.settings)
        index = CatalogIndex(records, version=version)
        with self._reload_lock:
            self.state = replace(self.state, index=index)
        metrics.CATALOG_DATASETS.set(len(index))
        metrics.CATALOG_VERSION.set(version)
        metrics.INDEX_BUILD_SECONDS.set(index.build_seconds)
        metrics.RELOADS.labels("catalog", "ok").inc()
        log.info("catalog loaded", extra={"version": version, "datasets": len(index), "embedded_here": computed})

    def load_models(self) -> None:
        """Load the registry's active and candidate versions (registering the shipped model on first start)."""
        reason = ""
        current: registry.LoadedModel | None = None
        candidate: registry.LoadedModel | None = None
        try:
            registry.ensure_shipped_registered(self.settings)
            active = registry.active_version(self.settings)
            if active is None:
                reason = "no model version is registered and no model ships in MODELS_DIR"
            else:
                current = self._load(active)
            cand_row = registry.candidate_version(self.settings)
            if cand_row is not None:
                try:
                    candidate = self._load(cand_row)
                except registry.CheckpointError as exc:
                    log.warning("candidate model not loaded", extra={"version": cand_row["version"], "error": str(exc)})
        except registry.CheckpointError as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - the registry being down must not stop ranking
            log.warning("model registry unavailable; trying the shipped model directly", exc_info=True)
            reason = f"model registry unavailable: {type(exc).__name__}"
            entry = registry.shipped_manifest(self.settings)
            if entry is not None:
                try:
                    current = self._load(entry)
                    reason = ""
                except registry.CheckpointError as inner:
                    reason = str(inner)
        if current is None:
            log.error("serving fused candidates (degraded)", extra={"reason": reason})
        self._swap_models(current, candidate, reason)

    def _load(self, row: dict[str, Any]) -> registry.LoadedModel:
        loaded = registry.load_version(self.settings, row)
        loaded.model.attach_encoder(self.encoder)
        return loaded

    def _swap_models(
        self, current: registry.LoadedModel | None, candidate: registry.LoadedModel | None, reason: str
    ) -> None:
        with self._reload_lock:
            self.state = replace(self.state, current=current, candidate=candidate,
                                 degraded_reason="" if current is not None else reason)
        metrics.DEGRADED.set(0 if current is not None else 1)
        metrics.MODEL_LOADED.clear()
        if current is not None:
            metrics.MODEL_LOADED.labels("current", current.version).set(1)
        if candidate is not None:
            metrics.MODEL_LOADED.labels("candidate", candidate.version).set(1)

    # -- background --------------------------------------------------------------------------------

    def start_watcher(self) -> threading.Thread:
        """Reload the catalog when its version changes, and models when the registry announces a change."""
        thread = threading.Thread(target=self._watch, name="ranking-watcher", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Stop the watcher."""
        self._stop.set()

    def _watch(self) -> None:
        from dra_common.redis_client import redis_client

        pubsub = None
        next_poll = time.monotonic() + POLL_SECONDS
        while not self._stop.is_set():
            try:
                if pubsub is None:
                    pubsub = redis_client(self.settings, timeout=5.0).pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(self.settings.key(CATALOG_CHANNEL), model_channel(self.settings))
                message = pubsub.get_message(timeout=1.0)
            except Exception:  # noqa: BLE001 - Redis down: keep polling Postgres
                pubsub = None
                message = None
                self._stop.wait(2.0)
            if message is not None:
                channel = message.get("channel")
                channel = channel.decode() if isinstance(channel, bytes) else str(channel)
                if channel == model_channel(self.settings):
                    self._safe(self.load_models, "model")
                else:
                    self._maybe_reload_catalog()
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + POLL_SECONDS
                self._maybe_reload_catalog()

    def _maybe_reload_catalog(self) -> None:
        try:
            version = catalog_version(self.settings)
        except Exception:  # noqa: BLE001
            log.warning("catalog version unavailable", exc_info=True)
            return
        if version != self.state.index.version or (version == 0 and len(self.state.index) == 0):
            self._safe(self.load_catalog, "catalog")

    def _safe(self, fn: Any, kind: str) -> None:
        try:
            fn()
        except Exception:  # noqa: BLE001 - a failed reload keeps the previous state
            metrics.RELOADS.labels(kind, "error").inc()
            log.exception("reload failed; keeping the previous state", extra={"kind": kind})

    # -- RPCs --------------------------------------------------------------------------------------

    def Rank(self, request: ranking_pb2.RankRequest, context: grpc.ServicerContext) -> ranking_pb2.RankResponse:  # noqa: N802
        """Top datasets and sources for a query."""
        started = time.perf_counter()
        state = self.state
        query, notices = clip_query(request.query)
        if not query.strip():
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "query must not be empty or whitespace")
        k = request.max_results or 10
        if k < 1 or k > 100:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"max_results must be between 1 and 100, got {k}")
        known_sources = set(SOURCE_NAMES) | set(state.index.source_slots()[0])
        bad = [s for s in request.filters.sources if s not in known_sources]
        if bad:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"unknown source(s) in filters: {', '.join(bad)} (known: {', '.join(sorted(known_sources))})")
        bad_geo = [g for g in request.filters.geography if not (g in _GEO_OK or (len(g) == 2 and g.isalpha()
                                                                                 and g.isupper()))]
        if bad_geo:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"geography filters must be ISO 3166-1 alpha-2 codes or 'global': {', '.join(bad_geo)}")
        if request.domain and request.domain not in DOMAINS:
            notices.append(f"unknown domain {request.domain!r} ignored")
        embedding = self._query_embedding(request, query, notices, context)

        model_slot = state.current
        if request.model_version:
            if state.candidate is not None and request.model_version == state.candidate.version:
                model_slot = state.candidate
            elif state.current is None or request.model_version != state.current.version:
                notices.append(f"model version {request.model_version!r} is not loaded; ranked with "
                               f"{state.current.version if state.current else DEGRADED_VERSION}")
        model = model_slot.model if model_slot is not None else None
        if model is None:
            notices.append(f"degraded: {state.degraded_reason or 'no model loaded'}; serving fused candidates")

        index = state.index
        ctx = make_context(index, query, embedding, domain=request.domain,
                           domain_confidence=request.domain_confidence, geography=list(request.geography))
        mask = index.filter_mask(list(request.filters.sources), list(request.filters.geography))
        priors = {p.source: float(p.score) for p in request.source_priors}
        result = ranker.rank(index, model, ctx, k=k, mask=mask, singapore_first=request.singapore_first,
                             source_priors=priors)
        if len(index) == 0:
            notices.append("the catalog is empty")
        response = ranking_pb2.RankResponse(
            model_version=model_slot.version if model_slot is not None else DEGRADED_VERSION,
            degraded=model is None,
            notices=notices,
            catalog_version=index.version,
            candidates=result.candidates,
        )
        for item in result.items:
            rec = index.records[item.position]
            response.recommendations.append(
                common_pb2.Recommendation(
                    dataset_id=rec.id, title=rec.title, source=rec.source, url=rec.landing_page,
                    snippet=item.snippet, matched_terms=item.matched_terms, matched_fields=item.matched_fields,
                    relevance_score=_unit(item.relevance), quality_score=_unit(item.quality),
                    confidence=_unit(item.confidence), publisher=rec.publisher, geography=rec.geography,
                    lexical_score=_unit(item.lexical), dense_score=float(item.dense),
                )
            )
        for src in result.sources:
            response.source_ranking.append(common_pb2.SourceScore(source=src.source, score=_unit(src.score),
                                                                  reason=src.reason))
        elapsed = time.perf_counter() - started
        metrics.RANK_LATENCY.observe(elapsed)
        metrics.CANDIDATES.observe(result.candidates)
        metrics.RANK_REQUESTS.labels(response.model_version, "degraded" if model is None else "ok").inc()
        return response

    def _query_embedding(
        self, request: ranking_pb2.RankRequest, query: str, notices: list[str], context: grpc.ServicerContext
    ) -> np.ndarray:
        vec = list(request.query_embedding)
        if vec:
            if len(vec) != DIM:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"query_embedding has {len(vec)} values; {MODEL_NAME} embeddings have {DIM}")
            if request.embedding_model and request.embedding_model != MODEL_NAME:
                notices.append(f"query_embedding from {request.embedding_model!r} ignored; re-encoded with "
                               f"{MODEL_NAME}")
            else:
                arr = np.asarray(vec, dtype=np.float32)
                norm = float(np.linalg.norm(arr))
                if not math.isfinite(norm) or norm == 0:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "query_embedding must be finite and non-zero")
                return arr / norm
        start = time.perf_counter()
        out = self.encoder.encode_query(query)
        metrics.ENCODE_LATENCY.observe(time.perf_counter() - start)
        return out

    def Reload(self, request: ranking_pb2.ReloadRequest, context: grpc.ServicerContext) -> ranking_pb2.ReloadResponse:  # noqa: N802
        """Load versions from the registry and swap them in; rollback re-activates the previous version."""
        try:
            message = self._reload(request)
        except KeyError as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc.args[0] if exc.args else exc))
        except LookupError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except registry.CheckpointError as exc:
            metrics.RELOADS.labels("model", "error").inc()
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"model not loaded, previous one kept: {exc}")
        except Exception as exc:  # noqa: BLE001 - registry (Postgres) down: say so, keep serving
            metrics.RELOADS.labels("model", "error").inc()
            log.warning("reload failed", exc_info=True)
            context.abort(grpc.StatusCode.UNAVAILABLE, f"model registry unavailable, previous model kept: "
                          f"{type(exc).__name__}")
        metrics.RELOADS.labels("model", "ok").inc()
        state = self.state
        return ranking_pb2.ReloadResponse(
            current_version=state.current.version if state.current else DEGRADED_VERSION,
            candidate_version=state.candidate.version if state.candidate else "",
            message=message,
        )

    def _reload(self, request: ranking_pb2.ReloadRequest) -> str:
        s = self.settings
        state = self.state
        if request.rollback:
            before = registry.active_version(s)
            row = registry.rollback(s)
            try:
                loaded = self._load(row)
            except registry.CheckpointError:
                if before is not None:
                    registry.activate(s, before["version"])
                raise
            candidate = state.candidate if state.candidate and state.candidate.version != loaded.version else None
            self._swap_models(loaded, candidate, "")
            return f"rolled back to {loaded.version}"
        if request.as_candidate:
            if not request.version:
                row = registry.candidate_version(s)
                if row is None:
                    raise LookupError("no candidate version in the registry; name one in `version`")
            else:
                row = registry.get_version(s, request.version)
                if row is None:
                    raise KeyError(f"model version {request.version!r} is not registered")
            loaded = self._load(row)
            registry.set_candidate(s, loaded.version)
            self._swap_models(state.current, loaded, state.degraded_reason)
            return f"candidate {loaded.version} loaded"
        row = registry.get_version(s, request.version) if request.version else registry.active_version(s)
        if row is None:
            if request.version:
                raise KeyError(f"model version {request.version!r} is not registered")
            raise LookupError("no active model version in the registry")
        loaded = self._load(row)
        registry.activate(s, loaded.version)
        candidate = state.candidate if state.candidate and state.candidate.version != loaded.version else None
        self._swap_models(loaded, candidate, "")
        return f"current model {loaded.version} loaded"

    def Info(self, request: ranking_pb2.InfoRequest, context: grpc.ServicerContext) -> ranking_pb2.InfoResponse:  # noqa: N802
        """Loaded versions, catalog version and size, degraded state."""
        state = self.state
        return ranking_pb2.InfoResponse(
            current_version=state.current.version if state.current else DEGRADED_VERSION,
            candidate_version=state.candidate.version if state.candidate else "",
            catalog_version=state.index.version,
            catalog_size=len(state.index),
            degraded=state.degraded,
            degraded_reason=state.degraded_reason,
            embedding_model=MODEL_NAME,
        )


def _unit(x: float) -> float:
    return float(min(1.0, max(0.0, x))) if math.isfinite(x) else 0.0


def register_servicer(service: RankingService) -> Any:
    """The `register` callback for `grpc_utils.serve`."""

    def _register(server: grpc.Server) -> list[str]:
        ranking_pb2_grpc.add_RankingServiceServicer_to_server(service, server)
        return [SERVICE_NAME]

    return _register
