"""One ranking pass: fused candidates → model re-ranking → Singapore-first → explained results.

Shared by the gRPC service, the offline evaluation and the benchmark, so the numbers they report come
from the same code that serves requests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from dra_common.domain import SINGAPORE_SOURCES, SOURCE_NAMES, SOURCES
from dra_ranking.features import QueryContext, candidate_features, fused_relevance, source_evidence
from dra_ranking.index import FIELDS, Candidates, CatalogIndex
from dra_ranking.model import QualityAwareRankingModel
from dra_ranking.text import stems, words

DEFAULT_POOL = 100
# The model re-ranks the best RERANK_DEPTH fused candidates; the rest keep their fused order below them.
RERANK_DEPTH = 50
# Source-ranking weight of a single-country source for a query that does not name that country, for
# checkpoints that did not choose their own on validation (config "national_source_factor").
NATIONAL_SOURCE_FACTOR = 0.6
SOURCE_COUNTRY = {s.name: s.country for s in SOURCES}
SNIPPET_CHARS = 240
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass
class RankedItem:
    """One ranked dataset with the scores and explanations a Recommendation carries."""

    position: int  # index position
    relevance: float
    quality: float
    confidence: float
    lexical: float  # BM25 normalised over the candidates
    dense: float
    matched_terms: list[str] = field(default_factory=list)
    matched_fields: list[str] = field(default_factory=list)
    snippet: str = ""


@dataclass
class SourceRank:
    """A source's score for a query and why."""

    source: str
    score: float
    reason: str


@dataclass
class RankResult:
    """The outcome of one ranking pass."""

    items: list[RankedItem]
    sources: list[SourceRank]
    degraded: bool
    candidates: int
    singapore_first_applied: bool = False


def rerank(
    index: CatalogIndex,
    model: QualityAwareRankingModel | None,
    ctx: QueryContext,
    cands: Candidates,
) -> np.ndarray:
    """Relevance of every candidate (model, or fused scores when there is no model)."""
    if len(cands) == 0:
        return np.zeros(0, dtype=np.float32)
    fused = fused_relevance(cands)
    if model is None:
        return fused
    head = cands if len(cands) <= RERANK_DEPTH else cands.head(RERANK_DEPTH)
    feats = candidate_features(index, ctx, head)
    flat, offsets = index.doc_model_terms(head.idx)
    flat = index.term_buckets(model.vocab_size)[flat] if flat.size else flat
    rel = model.score_candidates(
        ctx.embedding, ctx.text, ctx.domain, index.embeddings[head.idx], flat, offsets,
        [index.sources[i] for i in head.idx], feats,
    )
    if len(head) == len(cands):
        return rel
    # Below the re-ranked block, in fused order, scaled under its weakest score.
    tail = fused[len(head) :]
    floor = float(rel.min()) * 0.99
    top_tail = float(tail.max()) if tail.size else 1.0
    return np.concatenate([rel, (tail / top_tail * floor if top_tail > 0 else tail * 0).astype(np.float32)])


def singapore_first_order(index: CatalogIndex, order: np.ndarray, rel: np.ndarray, cands: Candidates) -> np.ndarray:
    """Among the relevant results, Singapore public-sector datasets first; the rest keeps its order.

    "Relevant" is relative to the best result (at least half its relevance, and at least 0.3), so a
    weak Singapore match never jumps over a strong answer from elsewhere.
    """
    if order.size == 0:
        return order
    top = float(rel[order[0]])
    threshold = max(0.3, 0.5 * top)
    relevant = [o for o in order if rel[o] >= threshold]
    rest = [o for o in order if rel[o] < threshold]
    sg = [o for o in relevant if index.sources[cands.idx[o]] in SINGAPORE_SOURCES]
    other = [o for o in relevant if index.sources[cands.idx[o]] not in SINGAPORE_SOURCES]
    return np.array(sg + other + rest, dtype=np.int64)


def rank(
    index: CatalogIndex,
    model: QualityAwareRankingModel | None,
    ctx: QueryContext,
    *,
    k: int = 10,
    pool: int = DEFAULT_POOL,
    mask: np.ndarray | None = None,
    singapore_first: bool = False,
    source_priors: Mapping[str, float] | None = None,
    explain: bool = True,
) -> RankResult:
    """Rank the catalog for one query: top `k` datasets and the source ranking."""
    cands = index.candidates(ctx.terms, ctx.embedding, pool=pool, mask=mask)
    rel = rerank(index, model, ctx, cands)
    order = np.argsort(-rel, kind="stable")
    applied = False
    if singapore_first and order.size:
        new_order = singapore_first_order(index, order, rel, cands)
        applied = not np.array_equal(new_order, order) or bool(
            index.sources[cands.idx[order[0]]] in SINGAPORE_SOURCES
        )
        order = new_order
    top = order[:k]
    best_bm25 = float(cands.bm25.max()) if len(cands) else 0.0
    # What a recommendation reports: the calibrated probability of relevance (the order above is unchanged).
    reported = model.calibrated(rel[top]) if model is not None else rel[top]
    items: list[RankedItem] = []
    for o, r in zip(top, reported.tolist(), strict=True):
        pos = int(cands.idx[o])
        support = (float(cands.bm25_rank[o] < cands.pool) + float(cands.dense_rank[o] < cands.pool)) / 2.0
        items.append(
            RankedItem(
                position=pos,
                relevance=r,
                quality=float(index.quality[pos]),
                confidence=round(0.6 * abs(2.0 * r - 1.0) + 0.4 * support, 4),
                lexical=float(cands.bm25[o] / best_bm25) if best_bm25 > 0 else 0.0,
                dense=float(cands.dense[o]),
            )
        )
    if explain:
        explain_items(index, ctx, items)
    sources = rank_sources(index, model, ctx, cands, rel, source_priors or {})
    return RankResult(items=items, sources=sources, degraded=model is None, candidates=len(cands),
                      singapore_first_applied=applied)


@dataclass
class SourceInputs:
    """A query's source evidence and model scores, before the model config's weights mix them."""

    names: list[str]  # the catalog's sources
    evidence: np.ndarray  # best dataset relevance + 0.1 × the second best, capped at 1
    head: np.ndarray | None  # the model's source scores (None without a model)
    foreign: np.ndarray  # single-country source for a query not about that country


def source_inputs(
    index: CatalogIndex,
    model: QualityAwareRankingModel | None,
    ctx: QueryContext,
    cands: Candidates,
    rel: np.ndarray,
    exclude_memory: int = -1,
) -> SourceInputs:
    """Evidence of each catalog source among the ranked candidates, and the model's score of each source.

    `exclude_memory` hides one remembered mapping query (training scores remembered queries this way).
    """
    per_source: dict[str, list[float]] = {}
    for o in np.argsort(-rel, kind="stable")[:50]:
        per_source.setdefault(index.sources[int(cands.idx[o])], []).append(float(rel[o]))
    names, rows = index.source_slots()
    evidence = np.array([min(1.0, v[0] + 0.1 * (v[1] if len(v) > 1 else 0.0)) if (v := per_source.get(s)) else 0.0
                         for s in names], dtype=np.float64)
    head = None
    if model is not None and names:
        src_evidence = None
        if model.config.get("source_scoring") != "memory":  # the memory needs no retrieval evidence
            src_evidence = source_evidence(index, cands, len(SOURCE_NAMES) + 1)[rows]
        head = model.score_sources(ctx.embedding, ctx.text, names, ctx.domain, src_evidence,
                                   singapore="SG" in ctx.geography, exclude_memory=exclude_memory).astype(np.float64)
    countries = [SOURCE_COUNTRY.get(s, "global") for s in names]
    foreign = np.array([c != "global" and c not in ctx.geography for c in countries], dtype=bool)
    return SourceInputs(list(names), evidence, head, foreign)


def source_scores(inputs: SourceInputs, blend: float, national: float,
                  router_priors: Mapping[str, float] | None = None) -> np.ndarray:
    """Scores in [0, 1]: (1 - blend) × evidence + blend × model score, mixed 0.8/0.2 with the router's prior
    where there is one; a national portal's score times `national` for a query about elsewhere."""
    scores = (1.0 - blend) * inputs.evidence
    if inputs.head is not None:
        scores = scores + blend * inputs.head
    if router_priors:
        prior = np.array([router_priors.get(s, np.nan) for s in inputs.names], dtype=np.float64)
        scores = np.where(np.isnan(prior), scores, 0.8 * scores + 0.2 * np.nan_to_num(prior))
    return np.clip(np.where(inputs.foreign, scores * national, scores), 0.0, 1.0)


def ordered_sources(names: Sequence[str], scores: np.ndarray) -> list[tuple[str, float]]:
    """(source, score) best first, ties by name; sources scoring zero are left out."""
    return sorted(((s, float(v)) for s, v in zip(names, scores, strict=True) if v > 0.0), key=lambda x: (-x[1], x[0]))


def rank_sources(
    index: CatalogIndex,
    model: QualityAwareRankingModel | None,
    ctx: QueryContext,
    cands: Candidates,
    rel: np.ndarray,
    router_priors: Mapping[str, float],
    exclude_memory: int = -1,
) -> list[SourceRank]:
    """Sources ranked for the query: their best datasets' relevance, blended with the model's source scores.

    The model's source scores (its source head, or the judgments of the nearest remembered mapping
    queries) and the router's priors, when present, are mixed in with the weights stored in the model config.
    """
    inputs = source_inputs(index, model, ctx, cands, rel, exclude_memory)
    config = model.config if model is not None else {}
    blend = float(config.get("source_blend", 0.5)) if model is not None else 0.0
    national = float(config.get("national_source_factor", NATIONAL_SOURCE_FACTOR))
    scores = source_scores(inputs, blend, national, router_priors)
    head_label = "similar judged queries" if config.get("source_scoring") == "memory" else "source model"
    at = {s: i for i, s in enumerate(inputs.names)}
    out: list[SourceRank] = []
    for s, score in ordered_sources(inputs.names, scores):
        i = at[s]
        reason = f"best dataset relevance {inputs.evidence[i]:.2f}"
        if inputs.head is not None:
            reason += f", {head_label} {inputs.head[i]:.2f}"
        if s in router_priors:
            reason += f", router prior {float(router_priors[s]):.2f}"
        if inputs.foreign[i]:
            # A national portal answers questions about its country; others get it only as a fallback.
            country = SOURCE_COUNTRY[s]
            reason += f", {country}-only source for a query not about {country}"
        out.append(SourceRank(s, score, reason))
    return out


def explain_items(index: CatalogIndex, ctx: QueryContext, items: Sequence[RankedItem]) -> None:
    """Fill matched terms/fields and a query-aware snippet for the returned items."""
    if not items:
        return
    query_words = list(dict.fromkeys(words(ctx.text)))
    word_stems = stems(query_words)
    term_ids = [index.vocab.get(s) for s in word_stems]
    known = [(w, t) for w, t in zip(query_words, term_ids, strict=True) if t is not None]
    positions = np.array([it.position for it in items], dtype=np.int64)
    matches = index.field_matches(positions, [t for _, t in known]) if known else {}
    stem_set = set(word_stems)
    for row, item in enumerate(items):
        terms: list[str] = []
        fields: list[str] = []
        for f in FIELDS:
            if not known:
                break
            hit = matches[f][row]
            if hit.any():
                fields.append(f)
                for (w, _), h in zip(known, hit, strict=True):
                    if h and w not in terms:
                        terms.append(w)
        item.matched_terms = terms
        item.matched_fields = fields
        item.snippet = snippet(index.records[item.position].description, stem_set)


def snippet(description: str, query_stems: set[str], limit: int = SNIPPET_CHARS) -> str:
    """The description sentence that mentions most query terms (stem prefixes), cut to `limit` characters."""
    text = " ".join(description.split())
    if not text:
        return ""
    sentences = _SENTENCE.split(text)
    best = sentences[0]
    if query_stems and len(sentences) > 1:
        lowered = [s.lower() for s in sentences]
        scores = [sum(1 for stem in query_stems if stem in low) for low in lowered]
        best = sentences[int(np.argmax(scores))]
    if len(best) <= limit:
        return best
    cut = best[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"
