"""The RankRequest built from a router answer: the gateway and monitoring's quality check send the same one."""

from __future__ import annotations

from dra.v1 import common_pb2, ranking_pb2, router_pb2


def rank_request(
    query: str,
    max_results: int,
    route: router_pb2.ClassifyResponse | None = None,
    filters: common_pb2.SearchFilters | None = None,
    model_version: str = "",
) -> ranking_pb2.RankRequest:
    """Pass the router's domain, priors, Singapore-first decision and query embedding on to ranking.

    Without a route (router unavailable) ranking encodes the query itself and applies no routing.
    """
    request = ranking_pb2.RankRequest(
        query=query, max_results=max_results, filters=filters or common_pb2.SearchFilters(), model_version=model_version
    )
    if route is not None:
        request.query_embedding.extend(route.query_embedding)
        request.embedding_model = route.embedding_model
        request.domain = route.domain
        request.domain_confidence = route.confidence
        request.source_priors.extend(route.recommended_sources)
        request.singapore_first = route.singapore_first_applied
        request.geography.extend(route.geography)
    return request
