"""Per-candidate features: retrieval scores, field matches, metadata quality, geography and domain signals.

Computed with numpy for a whole candidate list at once (a Rank request scores ~100 candidates in well
under a millisecond). The same function builds training examples, so training and serving agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dra_common.domain import DOMAINS
from dra_ranking.index import RRF_K, Candidates, CatalogIndex, QueryTerms
from dra_ranking.text import query_geographies

FEATURE_NAMES: tuple[str, ...] = (
    "bm25_norm",  # BM25 / best BM25 among the candidates
    "bm25_log",  # log(1 + BM25) / 4: how strong the lexical match is in absolute terms
    "dense_cos",  # cosine similarity of MiniLM embeddings
    "dense_gap",  # cosine minus the best cosine among the candidates (<= 0)
    "rrf_norm",  # reciprocal rank fusion score, 1 = first in both lists
    "bm25_rr",  # 1 / (1 + BM25 rank), 0 when not in the BM25 list
    "dense_rr",  # 1 / (1 + dense rank)
    "title_cov",  # share of query terms in the title
    "keyword_cov",  # ... in the keywords
    "desc_cov",  # ... in the description
    "publisher_cov",  # ... in the publisher
    "any_cov",  # share of query terms found in any field
    "quality",  # metadata quality of the record
    "geo_named",  # the query names a geography (text or router)
    "geo_match",  # the dataset covers a geography the query names
    "sg_dataset",  # Singapore public-sector source or Singapore coverage
    "sg_query",  # the query is about Singapore
    "theme_match",  # the router's domain is one of the dataset's themes
    "domain_conf",  # the router's confidence in that domain
    "query_len",  # log(1 + number of query terms) / 3
)
NUM_FEATURES = len(FEATURE_NAMES)
F = {name: i for i, name in enumerate(FEATURE_NAMES)}
DOMAIN_INDEX = {d: i for i, d in enumerate(DOMAINS)}


@dataclass
class QueryContext:
    """What is known about a query besides its text: router output and request fields."""

    text: str
    terms: QueryTerms
    embedding: np.ndarray
    domain: str = ""
    domain_confidence: float = 0.0
    geography: set[str] = field(default_factory=set)

    @property
    def domain_index(self) -> int:
        """Index of the router's domain, len(DOMAINS) when unknown."""
        return DOMAIN_INDEX.get(self.domain, len(DOMAINS))


def make_context(
    index: CatalogIndex,
    text: str,
    embedding: np.ndarray,
    *,
    domain: str = "",
    domain_confidence: float = 0.0,
    geography: Sequence[str] = (),
) -> QueryContext:
    """A query context; geographies named in the text are added to the router's."""
    geos = set(geography) | query_geographies(text)
    return QueryContext(
        text=text,
        terms=index.query_terms(text),
        embedding=embedding,
        domain=domain if domain in DOMAIN_INDEX else "",
        domain_confidence=float(domain_confidence) if domain in DOMAIN_INDEX else 0.0,
        geography=geos,
    )


def candidate_features(index: CatalogIndex, ctx: QueryContext, cands: Candidates) -> np.ndarray:
    """Feature matrix (len(cands), NUM_FEATURES) of a candidate list."""
    n = len(cands)
    out = np.zeros((n, NUM_FEATURES), dtype=np.float32)
    if n == 0:
        return out
    idx = cands.idx
    bm25 = cands.bm25
    best_bm25 = float(bm25.max()) if n else 0.0
    out[:, F["bm25_norm"]] = bm25 / best_bm25 if best_bm25 > 0 else 0.0
    out[:, F["bm25_log"]] = np.log1p(np.maximum(bm25, 0.0)) / 4.0
    out[:, F["dense_cos"]] = cands.dense
    out[:, F["dense_gap"]] = cands.dense - float(cands.dense.max())
    out[:, F["rrf_norm"]] = cands.rrf * (RRF_K + 1) / 2.0
    pool = cands.pool
    out[:, F["bm25_rr"]] = np.where(cands.bm25_rank < pool, 1.0 / (1.0 + cands.bm25_rank), 0.0)
    out[:, F["dense_rr"]] = np.where(cands.dense_rank < pool, 1.0 / (1.0 + cands.dense_rank), 0.0)

    n_terms = len(ctx.terms.stems)
    if ctx.terms.ids and n_terms:
        matches = index.field_matches(idx, ctx.terms.ids)
        any_match = np.zeros((n, len(ctx.terms.ids)), dtype=np.float32)
        for name, key in (("title", "title_cov"), ("keywords", "keyword_cov"), ("description", "desc_cov"),
                          ("publisher", "publisher_cov")):
            m = matches[name]
            out[:, F[key]] = m.sum(axis=1) / n_terms
            any_match = np.maximum(any_match, m)
        out[:, F["any_cov"]] = any_match.sum(axis=1) / n_terms

    out[:, F["quality"]] = index.quality[idx]
    geos = ctx.geography
    if geos:
        out[:, F["geo_named"]] = 1.0
        out[:, F["geo_match"]] = [1.0 if index.geo_sets[i] & geos else 0.0 for i in idx]
    out[:, F["sg_dataset"]] = index.singapore[idx]
    out[:, F["sg_query"]] = 1.0 if "SG" in geos else 0.0
    if ctx.domain:
        out[:, F["theme_match"]] = [1.0 if ctx.domain in index.records[i].themes else 0.0 for i in idx]
        out[:, F["domain_conf"]] = ctx.domain_confidence
    out[:, F["query_len"]] = np.log1p(n_terms) / 3.0
    return out


def fused_relevance(cands: Candidates) -> np.ndarray:
    """Relevance in [0, 1] from the fused candidates alone (degraded mode): RRF scaled so 1 = top of both lists."""
    return np.clip(cands.rrf * (RRF_K + 1) / 2.0, 0.0, 1.0).astype(np.float32)


SOURCE_EVIDENCE_NAMES: tuple[str, ...] = (
    "has_evidence",  # 1 when the evidence below was computed (0: scoring a source without a catalog)
    "present",  # the source has a dataset among the candidates
    "best_rrf",  # best fused score of its datasets (1 = top of both lists)
    "best_cos",  # best cosine of its datasets
    "best_bm25",  # best BM25 of its datasets / best BM25 overall
    "top20_share",  # share of the top 20 fused candidates that are its datasets
)
NUM_SOURCE_EVIDENCE = len(SOURCE_EVIDENCE_NAMES)


def source_evidence(index: CatalogIndex, cands: Candidates, num_slots: int) -> np.ndarray:
    """Retrieval evidence per source slot (num_slots, NUM_SOURCE_EVIDENCE) from a fused candidate list."""
    out = np.zeros((num_slots, NUM_SOURCE_EVIDENCE), dtype=np.float32)
    out[:, 0] = 1.0
    if len(cands) == 0:
        return out
    codes = np.minimum(index.source_codes[cands.idx], num_slots - 1)
    rrf = cands.rrf * (RRF_K + 1) / 2.0
    best_bm25 = float(cands.bm25.max())
    bm25 = cands.bm25 / best_bm25 if best_bm25 > 0 else np.zeros_like(cands.bm25)
    out[codes, 1] = 1.0
    np.maximum.at(out[:, 2], codes, rrf)
    out[:, 3] = -1.0
    np.maximum.at(out[:, 3], codes, cands.dense)
    out[:, 3] = np.where(out[:, 1] > 0, out[:, 3], 0.0)
    np.maximum.at(out[:, 4], codes, bm25)
    top = codes[:20]
    np.add.at(out[:, 5], top, 1.0 / 20.0)
    return out
