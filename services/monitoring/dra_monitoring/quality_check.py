"""The quality check: judged query sets run through the live router and ranking, scored with trec_eval
(`dra_common.ir_metrics`).

Definitions (also in the README, "Metrics"):
- overall_ndcg_at_3: mean NDCG@3 over the held-out judged queries (graded 0–3), trec_eval's ndcg_cut.3.
- relevance_accuracy: share of held-out training-mapping pairs the live source ranking agrees with —
  a pair scored ≥ 0.7 agrees when its source is among the top 3 sources, a pair scored < 0.5 agrees
  when it is not; pairs in between are not counted.
- domain_routing_accuracy: share of held-out labelled queries whose domain the router gets right.
- singapore_first_accuracy: share of held-out labelled queries whose Singapore-first decision matches
  the label (Singapore intent ⇔ applied).
- cache_hit_rate: cache hits / searches over the last 24 h of search events (the cache's own counters
  when there were no searches).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import grpc

from dra.v1 import cache_pb2, cache_pb2_grpc, ranking_pb2_grpc, router_pb2, router_pb2_grpc
from dra_common import evalsets, ir_metrics, mappings
from dra_common.grpc_utils import channel
from dra_common.rank_request import rank_request
from dra_common.settings import Settings

log = logging.getLogger(__name__)

TOP_SOURCES = 3
AGREE_HIGH = 0.7
AGREE_LOW = 0.5


@dataclass
class Peers:
    """Stubs of the services a check exercises."""

    router: router_pb2_grpc.RouterServiceStub
    ranking: ranking_pb2_grpc.RankingServiceStub
    cache: cache_pb2_grpc.CacheServiceStub

    @classmethod
    def connect(cls, settings: Settings) -> Peers:
        """Stubs over the shared channels."""
        return cls(
            router_pb2_grpc.RouterServiceStub(channel(settings.router_addr)),
            ranking_pb2_grpc.RankingServiceStub(channel(settings.ranking_addr)),
            cache_pb2_grpc.CacheServiceStub(channel(settings.cache_addr)),
        )


@dataclass
class CheckResult:
    """Metric values (None when the check could not measure one) and how they were obtained."""

    metrics: dict[str, float | None] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    model_version: str = ""


def _rank(peers: Peers, settings: Settings, query: str, k: int) -> tuple[router_pb2.ClassifyResponse, Any]:
    route = peers.router.Classify(
        router_pb2.ClassifyRequest(query=query, return_embedding=True), timeout=settings.rpc_deadline_s
    )
    ranked = peers.ranking.Rank(
        rank_request(query, k, route),
        timeout=settings.rpc_deadline_s * 5,
    )
    return route, ranked


def _ndcg(peers: Peers, settings: Settings, result: CheckResult) -> None:
    judged = evalsets.judged_queries("heldout")
    if not judged:
        result.details["ndcg"] = "no held-out judged queries shipped"
        return
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for q in judged:
        _, ranked = _rank(peers, settings, q.query, 10)
        result.model_version = ranked.model_version
        qrels[q.qid] = {d: g for d, g in q.judgments.items() if g > 0} or {"__none__": 1}
        recs = list(ranked.recommendations)
        run[q.qid] = {r.dataset_id: float(len(recs) - i) for i, r in enumerate(recs)}  # empty: scores zero
    scores = ir_metrics.mean(qrels, run, ["ndcg@3", "ndcg@10"])
    result.metrics["overall_ndcg_at_3"] = round(float(scores["ndcg@3"]), 4)
    result.details["ndcg"] = {"queries": len(judged), "ndcg_at_10": round(float(scores["ndcg@10"]), 4)}


def _relevance_accuracy(peers: Peers, settings: Settings, result: CheckResult) -> None:
    if not settings.training_mappings_path.exists():
        result.details["relevance_accuracy"] = f"no training mappings at {settings.training_mappings_path}"
        return
    by_query: dict[str, dict[str, float]] = {}
    for m in mappings.parse_file(settings.training_mappings_path).split(mappings.HELDOUT):
        by_query.setdefault(m.query, {})[m.source] = m.score
    agree = counted = 0
    for query, expected in by_query.items():
        _, ranked = _rank(peers, settings, query, 20)
        top = [s.source for s in ranked.source_ranking[:TOP_SOURCES]]
        for source, score in expected.items():
            if score >= AGREE_HIGH:
                counted += 1
                agree += source in top
            elif score < AGREE_LOW:
                counted += 1
                agree += source not in top
    if counted:
        result.metrics["relevance_accuracy"] = round(agree / counted, 4)
    result.details["relevance_accuracy"] = {"queries": len(by_query), "pairs": counted}


def _routing(peers: Peers, settings: Settings, result: CheckResult) -> None:
    labelled = evalsets.labelled_queries("heldout")
    if not labelled:
        result.details["routing"] = "no held-out labelled queries shipped"
        return
    domain_ok = sg_ok = 0
    for q in labelled:
        route = peers.router.Classify(router_pb2.ClassifyRequest(query=q.query), timeout=settings.rpc_deadline_s)
        domain_ok += route.domain == q.domain
        sg_ok += route.singapore_first_applied == q.singapore
    result.metrics["domain_routing_accuracy"] = round(domain_ok / len(labelled), 4)
    result.metrics["singapore_first_accuracy"] = round(sg_ok / len(labelled), 4)
    result.details["routing"] = {"queries": len(labelled)}


def _cache_hit_rate(peers: Peers, settings: Settings, result: CheckResult, searches: int, hits: int) -> None:
    if searches:
        result.metrics["cache_hit_rate"] = round(hits / searches, 4)
        result.details["cache_hit_rate"] = {"searches_24h": searches, "hits_24h": hits, "from": "search events"}
        return
    stats = peers.cache.Stats(cache_pb2.CacheStatsRequest(), timeout=settings.rpc_deadline_s)
    result.metrics["cache_hit_rate"] = round(stats.hit_rate_since_start, 4)
    result.details["cache_hit_rate"] = {"lookups": stats.hits + stats.misses, "from": "cache counters"}


def run_check(settings: Settings, peers: Peers, searches_24h: int, hits_24h: int) -> CheckResult:
    """Measure every metric; one failing peer leaves its metrics None and says why in details."""
    result = CheckResult()
    for name, step in (("ndcg", _ndcg), ("relevance_accuracy", _relevance_accuracy), ("routing", _routing)):
        try:
            step(peers, settings, result)
        except grpc.RpcError as exc:
            result.details[name] = f"peer unavailable: {exc.code().name}"
            log.warning("quality check step failed", extra={"step": name, "code": exc.code().name})
    try:
        _cache_hit_rate(peers, settings, result, searches_24h, hits_24h)
    except grpc.RpcError as exc:
        result.details["cache_hit_rate"] = f"cache unavailable: {exc.code().name}"
    return result
