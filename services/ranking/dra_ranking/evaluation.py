"""Offline evaluation (trec_eval metrics): BM25 alone, dense alone, fused candidates and the full model.

Query sets:
- held-out training mappings, scored at the source level (gain = 100 × the mapping's relevance);
- held-out dataset-level judgments (grades 0–3);
- any TREC topics + qrels over the loaded catalog, or a ready TREC run + qrels.

Every system ranks with the same code the service uses (`ranker`), over the same index. Given a `Route`
(the router's answer for a query), the model sees the domain, confidence and geography the router gives it
when serving; without one, queries carry no domain.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dra_common import ir_metrics
from dra_ranking.features import QueryContext, make_context
from dra_ranking.index import Candidates, CatalogIndex, fuse
from dra_ranking.model import QualityAwareRankingModel
from dra_ranking.ranker import DEFAULT_POOL, rank_sources, rerank

log = logging.getLogger(__name__)

SYSTEMS: tuple[str, ...] = ("bm25", "dense", "fused", "model")
# What the router says of a query, from its text and embedding: (domain, confidence, geography).
Route = Callable[[str, np.ndarray], tuple[str, float, Sequence[str]]]
SYSTEM_LABELS = {
    "bm25": "BM25 alone",
    "dense": "dense (MiniLM) alone",
    "fused": "fused candidates (RRF)",
    "model": "full model",
}
DATASET_METRICS: tuple[str, ...] = (
    "ndcg@3", "ndcg@10", "map@100", "mrr@100", "precision@5", "precision@10", "recall@10", "recall@100",
)
# Source-level: a source counts as relevant for binary metrics when its mapping relevance is >= 0.5.
SOURCE_METRICS: tuple[str, ...] = (
    "ndcg@3", "ndcg@10", "map-l50", "mrr-l50", "precision@3-l50", "recall@3-l50", "recall@5-l50",
)
RUN_DEPTH = 100


@dataclass
class EvalQuery:
    """A query to evaluate, with what the router would have said (empty when unknown)."""

    qid: str
    text: str
    domain: str = ""
    geography: tuple[str, ...] = ()


@dataclass
class Prepared:
    """A query with its context and candidates (independent of the model)."""

    query: EvalQuery
    ctx: QueryContext
    bm25_top: list[tuple[int, float]]
    dense_top: list[tuple[int, float]]
    cands: Candidates


@dataclass
class SetResult:
    """Metrics of every system on one query set."""

    name: str
    level: str  # "dataset" or "source"
    queries: int
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # system -> metric -> value
    notes: list[str] = field(default_factory=list)  # what a reader must know to trust the figures
    per_query: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # system -> metric -> qid
    texts: dict[str, str] = field(default_factory=dict)  # qid -> query text

    def score(self, qrels: dict[str, dict[str, int]], runs: dict[str, dict[str, dict[str, float]]],
              queries: Sequence[EvalQuery]) -> SetResult:
        """Each system's per-query metrics (trec_eval) and their means, for the metrics of this set's level."""
        metrics = DATASET_METRICS if self.level == "dataset" else SOURCE_METRICS
        self.texts = {q.qid: q.text for q in queries}
        for system, run in runs.items():
            if run:
                self.per_query[system] = ir_metrics.per_query(qrels, run, metrics)
                self.metrics[system] = ir_metrics.average(self.per_query[system])
        return self


def encode_queries(encoder: Any, texts: list[str]) -> np.ndarray:
    """Query embeddings the way the service computes them (its chosen precision), for a batch of queries."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return getattr(encoder, "encode_queries", encoder.encode)(texts)


def prepare(
    index: CatalogIndex, queries: Sequence[EvalQuery], embeddings: np.ndarray, pool: int = DEFAULT_POOL,
    route: Route | None = None,
) -> list[Prepared]:
    """Contexts and candidate lists of `queries` (embeddings aligned with them); `route` fills in the
    domain, confidence and geography of queries that do not name a domain."""
    out: list[Prepared] = []
    for q, emb in zip(queries, embeddings, strict=True):
        vector = np.asarray(emb, dtype=np.float32)
        domain, confidence, geography = q.domain, 0.0, tuple(q.geography)
        if route is not None and not domain:
            domain, confidence, routed = route(q.text, vector)
            geography = (*geography, *routed)
        ctx = make_context(index, q.text, vector, domain=domain, domain_confidence=confidence, geography=geography)
        bm25 = index.bm25_scores(ctx.terms)
        dense = index.dense_scores(ctx.embedding)
        cands = fuse(bm25, dense, pool=pool)
        out.append(Prepared(q, ctx, _top_list(bm25, RUN_DEPTH, positive=True), _top_list(dense, RUN_DEPTH), cands))
    return out


def _top_list(scores: np.ndarray, k: int, positive: bool = False) -> list[tuple[int, float]]:
    valid = np.flatnonzero(scores > 0) if positive else np.arange(scores.shape[0])
    if valid.size > k:
        valid = valid[np.argpartition(-scores[valid], k - 1)[:k]]
    valid = valid[np.argsort(-scores[valid], kind="stable")]
    return [(int(i), float(scores[i])) for i in valid]


def as_run_scores(pairs: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Run scores that keep the given order even when scores tie (metrics sort by score)."""
    items = list(pairs)
    n = len(items)
    return {doc: float(n - r) for r, (doc, _) in enumerate(items)}


def dataset_runs(
    index: CatalogIndex, prepared: Sequence[Prepared], model: QualityAwareRankingModel | None,
    systems: Sequence[str] = SYSTEMS,
) -> dict[str, dict[str, dict[str, float]]]:
    """TREC-style runs {system: {qid: {dataset_id: score}}} (order-preserving scores)."""
    runs: dict[str, dict[str, dict[str, float]]] = {s: {} for s in systems}
    for p in prepared:
        qid = p.query.qid
        if "bm25" in runs:
            runs["bm25"][qid] = as_run_scores((index.ids[i], s) for i, s in p.bm25_top)
        if "dense" in runs:
            runs["dense"][qid] = as_run_scores((index.ids[i], s) for i, s in p.dense_top)
        if "fused" in runs:
            runs["fused"][qid] = as_run_scores((index.ids[int(i)], 0.0) for i in p.cands.idx)
        if "model" in runs and model is not None:
            rel = rerank(index, model, p.ctx, p.cands)
            order = np.argsort(-rel, kind="stable")
            runs["model"][qid] = as_run_scores((index.ids[int(p.cands.idx[o])], 0.0) for o in order)
    return runs


def _first_rank_sources(index: CatalogIndex, ranked: Iterable[int]) -> dict[str, float]:
    """Sources in the order their first dataset appears in a ranking."""
    seen: dict[str, None] = {}
    for i in ranked:
        seen.setdefault(index.sources[int(i)], None)
    return as_run_scores((s, 0.0) for s in seen)


def source_runs(
    index: CatalogIndex, prepared: Sequence[Prepared], model: QualityAwareRankingModel | None,
    systems: Sequence[str] = SYSTEMS,
) -> dict[str, dict[str, dict[str, float]]]:
    """Source rankings per system: baselines order sources by their first dataset; the model uses its source ranking."""
    runs: dict[str, dict[str, dict[str, float]]] = {s: {} for s in systems}
    for p in prepared:
        qid = p.query.qid
        if "bm25" in runs:
            runs["bm25"][qid] = _first_rank_sources(index, (i for i, _ in p.bm25_top))
        if "dense" in runs:
            runs["dense"][qid] = _first_rank_sources(index, (i for i, _ in p.dense_top))
        if "fused" in runs:
            runs["fused"][qid] = _first_rank_sources(index, p.cands.idx)
        if "model" in runs and model is not None:
            rel = rerank(index, model, p.ctx, p.cands)
            ranked = rank_sources(index, model, p.ctx, p.cands, rel, {})
            runs["model"][qid] = as_run_scores((s.source, s.score) for s in ranked)
    return runs


def qrels_id_aliases(qrels: dict[str, dict[str, int]], catalog_ids: Sequence[str]) -> dict[str, str]:
    """Catalog id -> the collection's own id, when the qrels judge documents by the source id of a catalog
    dataset (`<source>:<doc id>`), as after `dra catalog ingest --source X` of a test collection.

    Every dataset of a source that such a judged document names is renamed to its source id (unless that id
    is ambiguous or a catalog id itself), so run files speak the collection's ids throughout."""
    known = set(catalog_ids)
    judged = {doc for docs in qrels.values() for doc in docs}
    if judged <= known:
        return {}
    by_suffix: dict[str, list[str]] = {}
    for cid in catalog_ids:
        _, sep, suffix = cid.partition(":")
        if sep:
            by_suffix.setdefault(suffix, []).append(cid)
    unique = {suffix: ids[0] for suffix, ids in by_suffix.items() if len(ids) == 1 and suffix not in known}
    sources = {unique[doc].partition(":")[0] for doc in judged - known if doc in unique}
    return {cid: suffix for suffix, cid in unique.items() if cid.partition(":")[0] in sources}


def judged_coverage(qrels: dict[str, dict[str, int]], ids: Iterable[str]) -> tuple[int, int]:
    """(relevant judged documents the catalog holds, relevant judged documents): a collection whose documents
    are not in the catalog scores near zero for every system, which only this count tells apart."""
    relevant = {doc for docs in qrels.values() for doc, grade in docs.items() if grade > 0}
    return len(relevant & set(ids)), len(relevant)


def score_runs(
    qrels: dict[str, dict[str, int]], runs: dict[str, dict[str, dict[str, float]]], metrics: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Metrics (trec_eval, `dra_common.ir_metrics`) of each run against `qrels`; a query a system returned
    nothing for counts as zero, queries without any positive judgment are left out."""
    return {system: ir_metrics.mean(qrels, run, metrics) for system, run in runs.items() if run}


# -- query sets --------------------------------------------------------------------------------


def mapping_queries(records: Sequence[Any]) -> tuple[list[EvalQuery], dict[str, dict[str, int]]]:
    """Source-level queries and qrels from mapping records (gain = round(100 × relevance))."""
    from dra_common.text import normalize_query

    queries: dict[str, EvalQuery] = {}
    qrels: dict[str, dict[str, int]] = {}
    for r in records:
        key = normalize_query(r.query)
        qid = "m-" + key.replace(" ", "_")[:80]
        if qid not in queries:
            queries[qid] = EvalQuery(qid, r.query)
            qrels[qid] = {}
        qrels[qid][r.source] = max(qrels[qid].get(r.source, 0), int(round(100 * float(r.score))))
    return list(queries.values()), qrels


def judgment_queries(judged: Sequence[Any], index: CatalogIndex | None = None) -> tuple[list[EvalQuery],
                                                                                       dict[str, dict[str, int]]]:
    """Dataset-level queries and qrels from judged queries (datasets missing from the catalog are kept)."""
    queries = [EvalQuery(str(j.qid), j.query) for j in judged]
    qrels = {str(j.qid): {d: int(g) for d, g in j.judgments.items()} for j in judged}
    if index is not None:
        missing = {d for q in qrels.values() for d in q if d not in index.position}
        if missing:
            log.warning("judged datasets not in the catalog", extra={"count": len(missing)})
    return queries, qrels


def load_judgments(path: Path | None = None, split: str | None = None) -> list[Any]:
    """Judged queries from the shared eval-set file (or `path`)."""
    from dra_common import evalsets

    if path is not None:
        return evalsets.judged_queries(split, path=path)
    found = evalsets.judged_queries(split)
    if found:
        return found
    local = Path(__file__).parent / "data" / "judgments.jsonl"
    return evalsets.judged_queries(split, path=local) if local.exists() else []


def read_topics(path: Path) -> list[EvalQuery]:
    """Topics as TSV (`qid<TAB>query`), JSON Lines (`{"qid"|"_id"|"id", "query"|"text"|"title"}`, as BEIR's
    queries.jsonl) or classic TREC topic files (`<top>` with `<num>` and `<title>`).

    Raises:
        ValueError: a line or topic that gives no id or no text, with its file and line number.
    """
    text = path.read_text(encoding="utf-8-sig")
    if "<top>" in text:
        return _trec_topics(path, text)
    out: list[EvalQuery] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: invalid JSON at column {exc.colno}: {exc.msg}") from None
            qid = next((str(obj[k]) for k in ("qid", "_id", "id", "query_id") if obj.get(k) not in (None, "")), "")
            query = next((str(obj[k]) for k in ("query", "text", "title") if str(obj.get(k) or "").strip()), "")
            if not qid or not query:
                raise ValueError(f"{path}:{n}: a topic needs an id (qid, _id, id or query_id) and a text (query, text or title)")
            out.append(EvalQuery(qid, query.strip()))
            continue
        parts = line.split("\t", 1)
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise ValueError(f"{path}:{n}: expected 'qid<TAB>query', a JSON object or a TREC <top> topic")
        out.append(EvalQuery(parts[0].strip(), parts[1].strip()))
    return out


_TREC_FIELD = re.compile(r"<(num|title)>\s*(?:Number:|Topic:)?\s*(.*?)\s*(?=<|$)", re.S | re.I)


def _trec_topics(path: Path, text: str) -> list[EvalQuery]:
    """Classic TREC topics: each `<top>` block's `<num>` and `<title>` (the short query)."""
    out: list[EvalQuery] = []
    for block in re.findall(r"<top>(.*?)</top>", text, re.S | re.I):
        found = {name.lower(): " ".join(value.split()) for name, value in _TREC_FIELD.findall(block)}
        if not found.get("num") or not found.get("title"):
            line = text[: text.find(block)].count("\n") + 1
            raise ValueError(f"{path}:{line}: a TREC topic needs <num> and <title>")
        out.append(EvalQuery(found["num"], found["title"]))
    return out


def write_trec_run(run: dict[str, dict[str, float]], path: Path, tag: str) -> None:
    """Write a run in TREC format (qid Q0 doc rank score tag)."""
    lines = []
    for qid, docs in run.items():
        for r, (doc, score) in enumerate(sorted(docs.items(), key=lambda x: -x[1]), start=1):
            lines.append(f"{qid} Q0 {doc} {r} {score:.6f} {tag}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def score_trec_files(run_path: Path, qrels_path: Path) -> SetResult:
    """Metrics of a TREC run file against a TREC qrels file."""
    qrels = ir_metrics.read_qrels(qrels_path)
    return SetResult(f"TREC run {run_path.name}", "dataset", len(qrels)).score(
        qrels, {run_path.stem: ir_metrics.read_run(run_path)}, [])


# -- reporting ---------------------------------------------------------------------------------


def improvement(result: SetResult, metric: str, system: str = "model", baseline: str = "bm25") -> float | None:
    """Relative gain of `system` over `baseline` on `metric` (0.15 = 15% better)."""
    base = result.metrics.get(baseline, {}).get(metric)
    new = result.metrics.get(system, {}).get(metric)
    if base is None or new is None or base <= 0:
        return None
    return new / base - 1.0


def _fmt(v: float | None) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def per_query_rows(results: Sequence[SetResult]) -> list[list[str]]:
    """A header and one row per set, query and system: the per-query metrics (as `trec_eval -q`), for finding
    where one system wins or loses against another."""
    metrics = list(dict.fromkeys(m for res in results for per in res.per_query.values() for m in per))
    rows = [["set", "qid", "query", "system", *metrics]]
    for res in results:
        qids = list(dict.fromkeys(q for per in res.per_query.values() for values in per.values() for q in values))
        for qid in qids:
            for system, per in res.per_query.items():
                values = [f"{per[m][qid]:.4f}" if qid in per.get(m, {}) else "" for m in metrics]
                rows.append([res.name, qid, " ".join(res.texts.get(qid, "").split()), system, *values])
    return rows


def table_rows(result: SetResult) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one set's comparison table."""
    metrics = list(DATASET_METRICS if result.level == "dataset" else SOURCE_METRICS)
    if result.metrics:
        metrics = [m for m in metrics if any(m in v for v in result.metrics.values())] or list(
            next(iter(result.metrics.values())).keys()
        )
    header = ["system", *metrics]
    rows = []
    for system, values in result.metrics.items():
        rows.append([SYSTEM_LABELS.get(system, system), *[_fmt(values.get(m)) for m in metrics]])
    return header, rows


def to_markdown(results: Sequence[SetResult], preface: str = "") -> str:
    """The comparison tables as Markdown."""
    parts = [preface.rstrip() + "\n"] if preface else []
    for res in results:
        parts.append(f"### {res.name} ({res.level} level, {res.queries} queries)\n")
        parts.extend(f"{note}\n" for note in res.notes)
        header, rows = table_rows(res)
        parts.append("| " + " | ".join(header) + " |")
        parts.append("|" + "---|" * len(header))
        for row in rows:
            parts.append("| " + " | ".join(row) + " |")
        parts.append("")
    return "\n".join(parts) + "\n"
