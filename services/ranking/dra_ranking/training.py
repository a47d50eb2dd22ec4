"""Training of QualityAwareRankingModel (`dra model train`).

Data, none of it from a held-out split:
- training mappings (train split): source-level targets for the source head;
- dataset-level judgments (train split): graded candidate lists for the re-ranker;
- `user_feedback` rows: ratings of a dataset (re-ranker) or of a source (source head);
- pseudo-queries made from the catalog itself (titles, keywords, description phrases, request templates).

Candidate lists come from the same fused retrieval the service uses, so every non-relevant candidate is
a hard negative (a BM25 or dense near-miss). Queries are augmented (word dropout, request templates).
Curriculum learning admits harder examples as epochs pass; early stopping watches a validation part of
the *train* split; the best checkpoint is written atomically each time validation improves. The weights
are also averaged over the epochs after the curriculum's warm-up (stochastic weight averaging); the
average replaces the best single epoch unless validation finds it clearly worse (`clearly_worse`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from dra_common import ir_metrics
from dra_common.domain import DOMAINS, SOURCE_NAMES
from dra_ranking import evaluation
from dra_ranking.evaluation import encode_queries
from dra_ranking.features import FEATURE_NAMES, candidate_features, make_context, source_evidence
from dra_ranking.index import CatalogIndex
from dra_ranking.model import DEFAULT_CONFIG, SOURCE_HEAD_PREFIXES, PairInputs, QualityAwareRankingModel, logit
from dra_ranking.ranker import (
    DEFAULT_POOL,
    NATIONAL_SOURCE_FACTOR,
    SourceInputs,
    ordered_sources,
    rerank,
    source_inputs,
    source_scores,
)
from dra_ranking.registry import CHECKPOINT, MODEL_NAME, atomic_write_json, save_checkpoint, sha256_file
from dra_ranking.text import GEOGRAPHY_NAMES, hash_tokens, tokenize, words

log = logging.getLogger(__name__)

VALIDATION_PERCENT = 15
EVIDENCE_DROPOUT = 0.3
# A re-ranker epoch must beat the best so far by this much on validation NDCG@10 to be kept (noise guard).
RERANK_MIN_GAIN = 0.002
# Grids of the source ranking's mixing weights, chosen on validation mappings after training.
SOURCE_BLENDS = (0.25, 0.5, 0.6, 0.75, 0.9, 1.0)
NATIONAL_FACTORS = (1.0, 0.8, 0.6, 0.4, 0.2)
MEMORY_KS = (5, 10, 20)
MEMORY_TAUS = (0.05, 0.1, 0.2)
# Parameters of the re-ranker's text-interaction residual (slower learning rate, see TrainConfig).
RESIDUAL_PREFIXES = ("residual.", "gate", "text_proj.")
# Parameters of the feature scorers, which the refit stage trains alone.
FEATURE_SCORER_PREFIXES = ("base.", "feature_mlp.")
REFIT_BATCH = 16
# Pseudo-queries teach title/keyword matching; people's judgments outweigh them.
PSEUDO_WEIGHT = 0.15
TEMPLATES = (
    "I need data on {q}",
    "looking for datasets about {q}",
    "{q} dataset for research",
    "research data on {q}",
    "where can I find {q} data",
)


@dataclass
class TrainConfig:
    """Knobs of one training run."""

    mode: str = "quick"
    max_epochs: int = 20
    patience: int = 5
    time_budget_s: float = 60.0
    pool: int = 50
    batch_groups: int = 32
    lr: float = 2e-3
    # The residual reads 256-d text interactions and can memorise a hundred-odd judged queries within a
    # few epochs; it learns at this fraction of `lr` while the feature scorers learn at full speed.
    residual_lr_scale: float = 0.1
    weight_decay: float = 1e-4
    seed: int = 13
    pseudo_per_doc: int = 1
    max_pseudo: int = 800
    augment_per_query: int = 1
    refit_epochs: int = 40  # epochs of the feature scorers' refit on the judged queries (0: none)
    # Dataset groups are built on the catalog without keywords and themes (`CatalogIndex.without_curation`):
    # the re-ranker learns from what any catalog has, so a thinly described external catalog ranks as well.
    uncurated: bool = True
    model_config: dict[str, Any] = field(default_factory=dict)

    @property
    def warm_epochs(self) -> int:
        """Epochs of the curriculum's warm-up (harder examples admitted step by step)."""
        return max(2, int(0.3 * self.max_epochs))

    @classmethod
    def for_mode(cls, mode: str, **overrides: Any) -> TrainConfig:
        """Quick (≤20 epochs, ~1.5 min budget) or full (≤100 epochs, ~8 min budget)."""
        if mode == "quick":
            cfg = cls(mode="quick")
        elif mode == "full":
            cfg = cls(mode="full", max_epochs=100, patience=12, time_budget_s=420.0, pseudo_per_doc=2,
                      max_pseudo=2500, augment_per_query=2)
        else:
            raise ValueError(f"unknown training mode {mode!r} (quick or full)")
        for key, value in overrides.items():
            if value is not None:
                setattr(cfg, key, value)
        return cfg


@dataclass
class Group:
    """One query's candidate list with its labels (dataset level)."""

    qi: int
    cand: np.ndarray
    feats: np.ndarray
    labels: np.ndarray
    mask: np.ndarray  # which labels the pointwise loss uses
    weight: float
    difficulty: float
    domain: int
    listwise: bool
    kind: str


@dataclass
class SourceExample:
    """Source-level targets of one query (every registered source)."""

    qi: int
    targets: np.ndarray  # (num_sources,)
    weights: np.ndarray  # (num_sources,)
    domain: int
    difficulty: float
    kind: str
    mem_id: int = -1  # memory row of the mapping query this example comes from (hidden from it)
    evidence: np.ndarray | None = None  # (num_sources + 1, NUM_SOURCE_EVIDENCE) retrieval evidence
    singapore: float = 0.0  # the query is about Singapore


@dataclass
class TrainingData:
    """Everything the loop needs, precomputed once."""

    texts: list[str]
    embeddings: np.ndarray
    groups: list[Group]
    source_examples: list[SourceExample]
    val_judged: list[Any]
    val_mappings: list[Any]
    val_pseudo: list[tuple[str, str]]  # (query, dataset id)
    memory: tuple[np.ndarray, np.ndarray, np.ndarray]  # embeddings, targets, mask of fit mapping queries
    full_memory: tuple[np.ndarray, np.ndarray, np.ndarray]  # the same for every train-split mapping query
    data_hash: str
    counts: dict[str, int]
    full_memory_queries: list[str] = field(default_factory=list)  # the rows of full_memory
    route: evaluation.Route | None = None  # the router's answer for a query (None: no domains)
    group_index: CatalogIndex | None = None  # the catalog view the groups were built on (None: the index)


@dataclass
class TrainResult:
    """Outcome of a training run."""

    version: str
    path: Path
    manifest: dict[str, Any]
    history: list[dict[str, float]]
    plot_path: Path | None


def _bucket(text: str, percent: int) -> bool:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16) % 100 < percent


def _grade_target(labels: np.ndarray) -> np.ndarray:
    """Listwise target distribution from labels in [0, 1] (graded gains 2^(3·label) − 1)."""
    gains = np.power(2.0, 3.0 * labels) - 1.0
    total = gains.sum()
    return gains / total if total > 0 else gains


# -- data ------------------------------------------------------------------------------------------


def _pseudo_queries(index: CatalogIndex, per_doc: int, rng: random.Random) -> list[tuple[str, int, float, str]]:
    """(query, doc position, difficulty, kind) made from catalog records."""
    out: list[tuple[str, int, float, str]] = []
    geo_word = {code: names[0] for code, names in GEOGRAPHY_NAMES.items() if code != "global"}
    for pos, rec in enumerate(index.records):
        title_words = words(rec.title)
        options: list[tuple[str, float, str]] = []
        if title_words:
            options.append((rec.title.lower(), 0.1, "title"))
        if len(title_words) >= 3:
            k = rng.randint(2, min(4, len(title_words) - 1))
            options.append((" ".join(rng.sample(title_words, k)), 0.4, "title-words"))
        if rec.keywords:
            kws = rng.sample(rec.keywords, min(len(rec.keywords), rng.randint(1, 3)))
            q = " ".join(kws)
            geos = [geo_word[g] for g in rec.geography if g in geo_word]
            if geos and rng.random() < 0.5:
                q = f"{geos[0]} {q}"
            options.append((q, 0.3, "keywords"))
            options.append((rng.choice(TEMPLATES).format(q=" ".join(kws[:2])), 0.5, "template"))
        desc = words(rec.description)
        if len(desc) >= 8:
            start = rng.randint(0, len(desc) - 6)
            options.append((" ".join(desc[start : start + rng.randint(4, 6)]), 0.7, "description"))
        rng.shuffle(options)
        for q, diff, kind in options[:per_doc]:
            out.append((q, pos, diff, kind))
    return out


def _augment(query: str, n: int, rng: random.Random) -> list[str]:
    """Variants of a query: word dropout and request templates."""
    out: list[str] = []
    toks = query.split()
    for i in range(n):
        if i % 2 == 0 and len(toks) >= 3:
            drop = rng.randrange(len(toks))
            out.append(" ".join(t for j, t in enumerate(toks) if j != drop))
        else:
            out.append(rng.choice(TEMPLATES).format(q=query))
    return out


def load_feedback(settings: Any) -> list[dict[str, Any]]:
    """Rated feedback rows from Postgres (empty when the table cannot be read)."""
    if settings is None:
        return []
    try:
        from sqlalchemy import select

        from dra_common.db import session_scope
        from dra_common.models import UserFeedback

        with session_scope(settings) as s:
            rows = s.execute(select(UserFeedback).where(UserFeedback.user_rating.is_not(None))).scalars().all()
            return [
                {"query": r.query, "dataset_id": r.dataset_id, "source": r.recommended_source,
                 "rating": int(r.user_rating)}
                for r in rows
                if r.query and r.user_rating is not None
            ]
    except Exception as exc:  # noqa: BLE001 - feedback is optional training data
        log.warning("user feedback could not be read; training without it",
                    extra={"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"})
        return []


def build_training_data(
    index: CatalogIndex,
    encoder: Any,
    mappings_train: Sequence[Any],
    judged_train: Sequence[Any],
    feedback: Sequence[dict[str, Any]],
    cfg: TrainConfig,
    route: evaluation.Route | None = None,
) -> TrainingData:
    """Queries, candidate groups and source examples for training, plus the validation parts of the train split.

    With `route`, every training query carries the domain, confidence and geography the router gives it, as
    at serving time; without one, a query gets the dominant theme of its labels half of the time.
    """
    rng = random.Random(cfg.seed)
    source_ids = {s: i for i, s in enumerate(SOURCE_NAMES)}
    domain_ids = {d: i for i, d in enumerate(DOMAINS)}
    unknown_domain = len(DOMAINS)
    texts: list[str] = []
    text_index: dict[str, int] = {}

    def qi(text: str) -> int:
        if text not in text_index:
            text_index[text] = len(texts)
            texts.append(text)
        return text_index[text]

    # Validation parts of the train split (never the held-out split).
    val_judged = [j for j in judged_train if _bucket("val:" + str(j.qid), VALIDATION_PERCENT)]
    fit_judged = [j for j in judged_train if not _bucket("val:" + str(j.qid), VALIDATION_PERCENT)]
    from dra_common.text import normalize_query

    val_mappings = [m for m in mappings_train if _bucket("val:" + normalize_query(m.query), VALIDATION_PERCENT)]
    fit_mappings = [m for m in mappings_train if not _bucket("val:" + normalize_query(m.query), VALIDATION_PERCENT)]

    # (query text, labels {pos: label}, listwise, weight, difficulty, domain name, kind)
    specs: list[tuple[str, dict[int, float], bool, float, float, str, str]] = []
    pseudo = _pseudo_queries(index, cfg.pseudo_per_doc, rng)
    if len(pseudo) > cfg.max_pseudo:
        pseudo = rng.sample(pseudo, cfg.max_pseudo)
    val_pseudo: list[tuple[str, str]] = []
    for text, pos, diff, _kind in pseudo:
        if rng.random() < 0.04 and len(val_pseudo) < 60:
            val_pseudo.append((text, index.ids[pos]))
            continue
        themes = index.records[pos].themes
        domain = themes[0] if themes and rng.random() < 0.5 else ""
        specs.append((text, {pos: 1.0}, True, PSEUDO_WEIGHT, diff, domain, "pseudo"))
    for j in fit_judged:
        labels = {index.position[d]: g / 3.0 for d, g in j.judgments.items() if d in index.position}
        if not labels:
            continue
        dom = _dominant_theme(index, labels) if rng.random() < 0.5 else ""
        n_terms = len(tokenize(j.query))
        base = 0.3 if n_terms <= 4 else 0.6
        specs.append((j.query, labels, True, 1.0, base, dom, "judgment"))
        for variant in _augment(j.query, cfg.augment_per_query, rng):
            specs.append((variant, labels, True, 0.7, min(1.0, base + 0.2), dom, "judgment-aug"))
    by_query: dict[str, dict[int, float]] = {}
    for f in feedback:
        did = f.get("dataset_id")
        if did and did in index.position:
            by_query.setdefault(f["query"], {})[index.position[did]] = (f["rating"] - 1) / 4.0
    for q, labels in by_query.items():
        specs.append((q, labels, False, 0.8, 0.5, "", "feedback"))

    # Source-level examples.
    src_specs: list[tuple[str, dict[str, float], float, str, float, str, int]] = []
    per_query: dict[str, dict[str, float]] = {}
    domains_of: dict[str, str] = {}
    for m in fit_mappings:
        per_query.setdefault(m.query, {})[m.source] = float(m.score)
        domains_of[m.query] = m.domain or ""
    memory_queries = list(per_query)
    for mem_id, (q, targets) in enumerate(per_query.items()):
        src_specs.append((q, targets, 0.25, domains_of[q], 0.2, "mapping", mem_id))
        for variant in _augment(q, cfg.augment_per_query, rng):
            src_specs.append((variant, targets, 0.25, domains_of[q], 0.4, "mapping-aug", mem_id))
    for j in fit_judged:
        targets: dict[str, float] = {}
        for d, g in j.judgments.items():
            if d in index.position:
                s = index.sources[index.position[d]]
                targets[s] = max(targets.get(s, 0.0), g / 3.0)
        if targets:
            src_specs.append((j.query, targets, 0.15, "", 0.5, "judgment", -1))
    for f in feedback:
        if f.get("source") and f["source"] in source_ids and not f.get("dataset_id"):
            src_specs.append((f["query"], {f["source"]: (f["rating"] - 1) / 4.0}, 0.0, "", 0.5, "feedback", -1))
    all_per_query: dict[str, dict[str, float]] = {}
    for m in mappings_train:
        all_per_query.setdefault(m.query, {})[m.source] = float(m.score)

    # Encode every query once.
    for spec in specs:
        qi(spec[0])
    for sspec in src_specs:
        qi(sspec[0])
    for q in all_per_query:
        qi(q)
    embeddings = encode_queries(encoder, texts)

    def memory_of(queries: list[str], table: dict[str, dict[str, float]]) -> tuple[np.ndarray, ...]:
        ns = len(SOURCE_NAMES) + 1
        emb = np.stack([embeddings[qi(q)] for q in queries]) if queries else np.zeros((0, 384), np.float32)
        targets = np.zeros((len(queries), ns), dtype=np.float32)
        mask = np.zeros((len(queries), ns), dtype=np.float32)
        for row, q in enumerate(queries):
            for src, v in table[q].items():
                targets[row, source_ids[src]] = v
                mask[row, source_ids[src]] = 1.0
        return emb.astype(np.float32), targets, mask

    view = index.without_curation() if cfg.uncurated else index
    groups: list[Group] = []
    for text, labels, listwise, weight, diff, domain, kind in specs:
        q = qi(text)
        confidence = rng.uniform(0.5, 1.0) if domain else 0.0
        geography: Sequence[str] = ()
        if route is not None:
            domain, confidence, geography = route(text, embeddings[q])
        ctx = make_context(view, text, embeddings[q], domain=domain, domain_confidence=confidence,
                           geography=geography)
        cands = view.candidates(ctx.terms, ctx.embedding, pool=cfg.pool)
        if len(cands) == 0:
            continue
        lab = np.array([labels.get(int(i), 0.0) for i in cands.idx], dtype=np.float32)
        if listwise and lab.max() <= 0:
            continue  # no relevant candidate: nothing to learn for the re-ranker
        if listwise:
            mask = np.ones(len(cands), dtype=np.float32)
            # Unjudged candidates of judged queries are probably not relevant, but less certain.
            if kind.startswith("judgment"):
                mask = np.where(np.isin(cands.idx, list(labels)), 1.0, 0.5).astype(np.float32)
        else:
            mask = np.isin(cands.idx, list(labels)).astype(np.float32)
            if mask.sum() == 0:
                continue
        groups.append(Group(q, cands.idx.astype(np.int64), candidate_features(view, ctx, cands), lab, mask,
                            weight, diff, domain_ids.get(domain, unknown_domain), listwise, kind))
    source_examples: list[SourceExample] = []
    for text, targets, unmapped_weight, domain, diff, kind, mem_id in src_specs:
        t = np.zeros(len(SOURCE_NAMES), dtype=np.float32)
        w = np.full(len(SOURCE_NAMES), unmapped_weight, dtype=np.float32)
        for s, v in targets.items():
            if s in source_ids:
                t[source_ids[s]] = v
                w[source_ids[s]] = 1.0
        dom = domain_ids.get(domain, unknown_domain) if rng.random() < 0.5 else unknown_domain
        geography = ()
        if route is not None:
            routed_domain, _, geography = route(text, embeddings[qi(text)])
            dom = domain_ids.get(routed_domain, unknown_domain)
        ctx = make_context(index, text, embeddings[qi(text)], geography=geography)
        cands = index.candidates(ctx.terms, ctx.embedding, pool=DEFAULT_POOL)
        evidence = source_evidence(index, cands, len(SOURCE_NAMES) + 1)
        source_examples.append(SourceExample(qi(text), t, w, dom, diff, kind, mem_id, evidence,
                                             1.0 if "SG" in ctx.geography else 0.0))

    counts = {
        "queries": len(texts),
        "groups": len(groups),
        "pairs": int(sum(len(g.cand) for g in groups)),
        "pseudo_groups": sum(1 for g in groups if g.kind == "pseudo"),
        "judgment_groups": sum(1 for g in groups if g.kind.startswith("judgment")),
        "feedback_groups": sum(1 for g in groups if g.kind == "feedback"),
        "source_examples": len(source_examples),
        "mapping_records_train": len(mappings_train),
        "judged_queries_train": len(judged_train),
        "feedback_rows": len(feedback),
        "val_judged": len(val_judged),
        "val_mapping_records": len(val_mappings),
        "val_pseudo": len(val_pseudo),
    }
    data_hash = training_data_hash(index, mappings_train, judged_train, feedback, cfg, routed=route is not None)
    memory = memory_of(memory_queries, per_query)
    full_memory = memory_of(list(all_per_query), all_per_query)
    return TrainingData(texts, embeddings, groups, source_examples, val_judged, val_mappings, val_pseudo,
                        memory, full_memory, data_hash, counts, list(all_per_query), route, view)


def _dominant_theme(index: CatalogIndex, labels: dict[int, float]) -> str:
    counts: dict[str, float] = {}
    for pos, lab in labels.items():
        for t in index.records[pos].themes:
            counts[t] = counts.get(t, 0.0) + lab
    return max(counts, key=lambda k: counts[k]) if counts else ""


def training_data_hash(
    index: CatalogIndex, mappings: Sequence[Any], judged: Sequence[Any], feedback: Sequence[dict[str, Any]],
    cfg: TrainConfig, routed: bool = False,
) -> str:
    """sha256 of everything a training run learns from (catalog, train splits, feedback, generator settings)."""
    h = hashlib.sha256()
    for rec in sorted(index.records, key=lambda r: r.id):
        h.update(f"{rec.id}\t{rec.content_hash or rec.title}\n".encode())
    payload = {
        "mappings": sorted((m.query, m.source, float(m.score)) for m in mappings),
        "judged": sorted((str(j.qid), j.query, sorted(j.judgments.items())) for j in judged),
        "feedback": sorted(json.dumps(f, sort_keys=True) for f in feedback),
        "generator": {"seed": cfg.seed, "pseudo_per_doc": cfg.pseudo_per_doc, "augment": cfg.augment_per_query,
                      "pool": cfg.pool, **({"routed": True} if routed else {}),
                      **({"uncurated": True} if cfg.uncurated else {})},
    }
    h.update(json.dumps(payload, sort_keys=True, default=str).encode("utf-8"))
    return h.hexdigest()


# -- loop ------------------------------------------------------------------------------------------


class _Batcher:
    """Turns groups into tensors (documents and queries encoded once per batch)."""

    def __init__(self, index: CatalogIndex, data: TrainingData, vocab_size: int) -> None:
        # The view the groups' candidates and token bags come from (embeddings and sources are the same).
        self.index = data.group_index if data.group_index is not None else index
        self.doc_emb = torch.from_numpy(index.embeddings).float()
        self.q_emb = torch.from_numpy(np.ascontiguousarray(data.embeddings, dtype=np.float32))
        self.buckets = self.index.term_buckets(vocab_size)
        self.q_tokens = [np.array(hash_tokens(tokenize(t), vocab_size), dtype=np.int64) for t in data.texts]
        self.source_codes = torch.from_numpy(np.minimum(index.source_codes, len(SOURCE_NAMES)))
        self.rng = random.Random(data.counts.get("queries", 0))

    def query_bags(self, qis: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [self.q_tokens[int(q)] for q in qis]
        lengths = np.array([len(p) for p in parts], dtype=np.int64)
        offsets = np.zeros(len(parts), dtype=np.int64)
        if len(parts) > 1:
            offsets[1:] = np.cumsum(lengths)[:-1]
        flat = np.concatenate(parts) if lengths.sum() else np.zeros(0, dtype=np.int64)
        return torch.from_numpy(flat), torch.from_numpy(offsets)

    def doc_bags(self, docs: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        flat, offsets = self.index.doc_model_terms(docs)
        flat = self.buckets[flat] if flat.size else flat
        return torch.from_numpy(flat), torch.from_numpy(offsets)


def _pair_inputs(model: QualityAwareRankingModel, batcher: _Batcher, batch: Sequence[Group]) -> PairInputs:
    """The re-ranker's inputs for every (query, candidate) pair of `batch`, in group order."""
    docs = np.concatenate([g.cand for g in batch])
    sizes = [len(g.cand) for g in batch]
    q_of_pair = np.repeat(np.array([g.qi for g in batch], dtype=np.int64), sizes)
    uniq_docs, d_inv = np.unique(docs, return_inverse=True)
    uniq_q, q_inv = np.unique(q_of_pair, return_inverse=True)
    d_text = model.encode_text(batcher.doc_emb[torch.from_numpy(uniq_docs)])
    d_tok = model.encode_tokens(*batcher.doc_bags(uniq_docs))
    q_text = model.encode_text(batcher.q_emb[torch.from_numpy(uniq_q)])
    q_tok = model.encode_tokens(*batcher.query_bags(uniq_q))
    d_inv_t, q_inv_t = torch.from_numpy(d_inv), torch.from_numpy(q_inv)
    domain = torch.from_numpy(np.repeat(np.array([g.domain for g in batch], dtype=np.int64), sizes))
    source = batcher.source_codes[torch.from_numpy(docs)]
    feats = torch.from_numpy(np.concatenate([g.feats for g in batch]))
    return PairInputs(q_text[q_inv_t], q_tok[q_inv_t], d_text[d_inv_t], d_tok[d_inv_t], domain, source, feats)


def _group_loss(model: QualityAwareRankingModel, batcher: _Batcher, batch: Sequence[Group]) -> torch.Tensor:
    return _ranking_loss(model.pair_logits(_pair_inputs(model, batcher, batch)), batch)


def _ranking_loss(logits: torch.Tensor, batch: Sequence[Group]) -> torch.Tensor:
    """Pointwise BCE against the labels (which anchors the scores' level) plus the listwise loss of the
    listwise groups (which orders them); `logits` holds the groups' pairs in order."""
    sizes = [len(g.cand) for g in batch]
    labels = torch.from_numpy(np.concatenate([g.labels for g in batch]))
    weights = torch.from_numpy(np.concatenate([g.mask * g.weight for g in batch]).astype(np.float32))
    point = nn.functional.binary_cross_entropy_with_logits(logits, labels, weight=weights, reduction="sum")
    point = point / max(1.0, float(weights.sum()))
    listwise = torch.zeros(())
    n_list = 0
    start = 0
    for g, size in zip(batch, sizes, strict=True):
        if g.listwise:
            target = torch.from_numpy(_grade_target(g.labels).astype(np.float32))
            logp = torch.log_softmax(logits[start : start + size], dim=0)
            listwise = listwise - g.weight * (target * logp).sum()
            n_list += 1
        start += size
    if n_list:
        listwise = listwise / n_list
    return point + listwise


def refit_feature_scorers(model: QualityAwareRankingModel, batcher: _Batcher, groups: Sequence[Group],
                          cfg: TrainConfig, rng: random.Random) -> int:
    """Fit the feature scorers (linear base and feature MLP) to the judged queries' graded lists (the joint
    loop's loss), with the text residual and the source head frozen; returns the number of judged groups used.

    Why a stage of its own: in the joint loop the judged queries are a quarter of the groups and early
    stopping ends it after a few hundred steps, so the feature scorers, which carry over to catalogs and
    queries never seen, stay near the fused order. The residual's part of each logit is computed once.
    """
    judged = [g for g in groups if g.listwise and g.kind.startswith("judgment")]
    if not judged or cfg.refit_epochs <= 0:
        return 0
    model.eval()
    with torch.no_grad():
        frozen = [model.residual_logits(_pair_inputs(model, batcher, [g])) for g in judged]
    feats = [torch.from_numpy(g.feats) for g in judged]
    params = [p for n, p in model.named_parameters() if n.startswith(FEATURE_SCORER_PREFIXES)]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    order = list(range(len(judged)))
    for _ in range(cfg.refit_epochs):
        rng.shuffle(order)
        for start in range(0, len(order), REFIT_BATCH):
            chunk = order[start : start + REFIT_BATCH]
            logits = torch.cat([model.feature_logits(feats[i]) + frozen[i] for i in chunk])
            loss = _ranking_loss(logits, [judged[i] for i in chunk])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return len(judged)


def _source_loss(model: QualityAwareRankingModel, batcher: _Batcher, batch: Sequence[SourceExample]) -> torch.Tensor:
    ns = len(SOURCE_NAMES)
    qis = np.array([e.qi for e in batch], dtype=np.int64)
    q_raw = batcher.q_emb[torch.from_numpy(qis)]
    b = len(batch)
    src = torch.arange(ns).repeat(b)
    dom = torch.from_numpy(np.repeat(np.array([e.domain for e in batch], dtype=np.int64), ns))
    exclude = torch.from_numpy(np.repeat(np.array([e.mem_id for e in batch], dtype=np.int64), ns))
    # Evidence dropout: the head must also work without a catalog (predict_relevance).
    evidence = np.concatenate([
        e.evidence[:ns] * (0.0 if batcher.rng.random() < EVIDENCE_DROPOUT else 1.0) for e in batch
    ]).astype(np.float32)
    sg = torch.from_numpy(np.repeat(np.array([e.singapore for e in batch], dtype=np.float32), ns))
    logits = model.source_logits(q_raw.repeat_interleave(ns, dim=0), dom, src, exclude,
                                 evidence=torch.from_numpy(evidence), sg_query=sg)
    targets = torch.from_numpy(np.concatenate([e.targets for e in batch]))
    weights = torch.from_numpy(np.concatenate([e.weights for e in batch]))
    point = nn.functional.binary_cross_entropy_with_logits(logits, targets, weight=weights, reduction="sum")
    point = point / max(1.0, float(weights.sum()))
    logits2 = logits.view(b, ns)
    listwise = torch.zeros(())
    for i, e in enumerate(batch):
        mask = e.weights >= 1.0
        if mask.sum() < 2:
            continue
        target = _grade_target(np.where(mask, e.targets, 0.0))
        listwise = listwise - (torch.from_numpy(target.astype(np.float32)) * torch.log_softmax(logits2[i], 0)).sum()
    return point + listwise / max(1, b)


def _curriculum(epoch: int, cfg: TrainConfig) -> float:
    return 0.35 + 0.65 * min(1.0, epoch / cfg.warm_epochs)


def _prepare_validation(index: CatalogIndex, encoder: Any, data: TrainingData, cache: dict[str, Any]) -> None:
    """Contexts and candidates of the validation queries, once per run (kept in `cache`)."""
    if "judged" in cache:
        return

    def prepared(qs: list[evaluation.EvalQuery]) -> list[evaluation.Prepared]:
        return evaluation.prepare(index, qs, encode_queries(encoder, [q.text for q in qs]), route=data.route)

    qs, qrels = evaluation.judgment_queries(data.val_judged)
    cache["judged"] = (prepared(qs), qrels)
    qs, qrels = evaluation.mapping_queries(data.val_mappings)
    cache["mappings"] = (prepared(qs), qrels)
    qs = [evaluation.EvalQuery(f"p{i}", t) for i, (t, _) in enumerate(data.val_pseudo)]
    qrels = {f"p{i}": {d: 1} for i, (_, d) in enumerate(data.val_pseudo)}
    cache["pseudo"] = (prepared(qs), qrels)


VALIDATION_SETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("judged", ("ndcg@10", "ndcg@3")), ("pseudo", ("ndcg@10",)), ("mappings", ("ndcg@3",)),
)


def validation_per_query(index: CatalogIndex, encoder: Any, model: QualityAwareRankingModel, data: TrainingData,
                         cache: dict[str, Any]) -> dict[str, dict[str, float]]:
    """{"val_<set>_<metric>": {qid: value}} on the validation part of the train split (not the held-out split)."""
    _prepare_validation(index, encoder, data, cache)
    model.eval()
    out: dict[str, dict[str, float]] = {}
    for name, metrics in VALIDATION_SETS:
        prepared, qrels = cache[name]
        if not prepared:
            continue
        runs = (evaluation.source_runs if name == "mappings" else evaluation.dataset_runs)(
            index, prepared, model, systems=("model",))
        for metric, values in ir_metrics.per_query(qrels, runs["model"], metrics).items():
            out[f"val_{name}_{metric}"] = values
    return out


def validate(index: CatalogIndex, encoder: Any, model: QualityAwareRankingModel, data: TrainingData,
             cache: dict[str, Any]) -> dict[str, float]:
    """Mean validation metrics, and `val_score` (judged NDCG@10 and mappings NDCG@3, else whatever exists)."""
    per_query = validation_per_query(index, encoder, model, data, cache)
    out = {key: _mean(values) for key, values in per_query.items()}
    parts = [v for k, v in out.items() if k not in ("val_pseudo_ndcg@10", "val_judged_ndcg@3")] or list(out.values())
    out["val_score"] = float(np.mean(parts)) if parts else 0.0
    return out


def clearly_worse(candidate: dict[str, float], incumbent: dict[str, float]) -> bool:
    """Whether `candidate`'s per-query scores are below `incumbent`'s by more than two standard errors of
    the paired differences (about 95 % one-sided); False without at least two common queries."""
    common = sorted(set(candidate) & set(incumbent))
    if len(common) < 2:
        return False
    diff = np.array([candidate[q] - incumbent[q] for q in common])
    return float(diff.mean()) < -2.0 * float(diff.std(ddof=1)) / math.sqrt(len(diff))


def prefer_average(index: CatalogIndex, encoder: Any, model: QualityAwareRankingModel, data: TrainingData,
                   cache: dict[str, Any], best_state: dict[str, torch.Tensor],
                   average_state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, bool]]:
    """The weights to ship: part by part (re-ranker, then source head), the average over epochs replaces the
    best single epoch unless validation finds it clearly worse. Without validation queries for a part, that
    part keeps its best epoch (the untrained start when nothing was ever validated).

    Why prefer the average: the best epoch is picked by a few dozen validation queries, whose noise is as
    large as the gains; an average of the late epochs does not depend on that pick.
    """
    state = dict(best_state)
    model.load_state_dict(state)
    current = validation_per_query(index, encoder, model, data, cache)
    used: dict[str, bool] = {}
    for part, is_part in (("rerank", lambda k: not _is_source_key(k)), ("source", _is_source_key)):
        key = _rerank_key(current) if part == "rerank" else "val_mappings_ndcg@3"
        trial = {**state, **{k: v for k, v in average_state.items() if is_part(k)}}
        model.load_state_dict(trial)
        scores = validation_per_query(index, encoder, model, data, cache)
        used[part] = bool(current.get(key)) and not clearly_worse(scores[key], current[key])
        if used[part]:
            state, current = trial, scores
    return state, used


def _sources_per_query(inputs: dict[str, SourceInputs], qrels: dict[str, dict[str, int]], blend: float,
                       national: float) -> dict[str, float]:
    """Per-query NDCG@3 of the source rankings that `blend` and `national` make of precomputed source inputs."""
    run = {q: evaluation.as_run_scores(ordered_sources(x.names, source_scores(x, blend, national)))
           for q, x in inputs.items()}
    return ir_metrics.per_query({q: qrels[q] for q in inputs}, run, ["ndcg@3"])["ndcg@3"]


def _sources_ndcg3(inputs: dict[str, SourceInputs], qrels: dict[str, dict[str, int]], blend: float,
                   national: float) -> float:
    """Mean NDCG@3 of the source rankings that `blend` and `national` make of precomputed source inputs."""
    return _mean(_sources_per_query(inputs, qrels, blend, national))


def _mean(per_query: dict[str, float]) -> float:
    """Mean of per-query values (0.0 for none)."""
    return float(np.mean(list(per_query.values()))) if per_query else 0.0


def _best_mix(inputs: dict[str, SourceInputs], qrels: dict[str, dict[str, int]]) -> tuple[float, tuple[float, float]]:
    """The source blend and national-source factor to use, and their mean NDCG@3.

    The blends are walked from the model's source score alone (1.0) towards more dataset evidence, and a
    blend replaces the current one only when it is clearly better per query (`clearly_worse` the other way
    round). Why: the model's score already reads the source's retrieval evidence, and the validation queries
    are a few dozen, so the best mean of the grid was mostly noise; held-out and train mappings both rank
    best at the high end. For each blend, the national-source factor with the best mean is taken.
    """
    best: tuple[dict[str, float], tuple[float, float]] | None = None
    for blend in sorted(SOURCE_BLENDS, reverse=True):
        scores, national = max(((_sources_per_query(inputs, qrels, blend, n), n) for n in NATIONAL_FACTORS),
                               key=lambda x: _mean(x[0]))
        if best is None or clearly_worse(best[0], scores):
            best = (scores, (blend, national))
    if best is None or not best[0]:  # no judged query to choose on
        return 0.0, (max(SOURCE_BLENDS), NATIONAL_SOURCE_FACTOR)
    return _mean(best[0]), best[1]


def choose_source_blend(index: CatalogIndex, model: QualityAwareRankingModel, cache: dict[str, Any]) -> float:
    """The source ranking's mixing weights that do best on the validation mappings (never the held-out ones).

    Chooses together the weight of the source head against the dataset evidence (`source_blend`) and the
    factor applied to a single-country source for a query about elsewhere (`national_source_factor`).
    """
    prepared, qrels = cache.get("mappings", ([], {}))
    if not prepared:
        return float(model.config.get("source_blend", 0.5))
    inputs = {p.query.qid: source_inputs(index, model, p.ctx, p.cands, rerank(index, model, p.ctx, p.cands))
              for p in prepared}
    _, (blend, national) = _best_mix(inputs, qrels)
    model.config["source_blend"], model.config["national_source_factor"] = blend, national
    return blend


def choose_source_scoring(index: CatalogIndex, model: QualityAwareRankingModel, data: TrainingData) -> dict[str, float]:
    """Score sources with the trained head or with the remembered judgments of similar queries, whichever
    ranks the validation mapping queries better; sets the choice and its mixing weights in `model.config`.

    The memory's own settings (neighbours, temperature, weight against dataset evidence, national-source
    factor) are chosen leave-one-out over every train-split mapping query: each query is scored with its own
    memory row hidden. Head and memory are then compared on the validation queries, which the head never
    trained on, again with their own rows hidden (the head's mixing weights were chosen on these same queries,
    which favours the head). Returns the validation NDCG@3 of both.
    """
    queries = data.full_memory_queries
    if not queries:
        return {}
    emb, targets, mask = data.full_memory
    qrels = {f"q{i}": {s: int(round(100 * targets[i, j])) for j, s in enumerate(SOURCE_NAMES) if mask[i, j] > 0}
             for i in range(len(queries))}
    prepared = evaluation.prepare(index, [evaluation.EvalQuery(f"q{i}", q) for i, q in enumerate(queries)], emb,
                                  route=data.route)
    rels = [rerank(index, model, p.ctx, p.cands) for p in prepared]
    from dra_common.text import normalize_query

    validation = {f"q{i}" for i, q in enumerate(queries) if _bucket("val:" + normalize_query(q), VALIDATION_PERCENT)}

    def inputs_for(settings: dict[str, Any], qids: set[str] | None = None) -> dict[str, SourceInputs]:
        model.config.update(settings)
        return {p.query.qid: source_inputs(index, model, p.ctx, p.cands, rel, exclude_memory=row)
                for row, (p, rel) in enumerate(zip(prepared, rels, strict=True)) if qids is None or p.query.qid in qids}

    def ndcg3(settings: dict[str, Any], qids: set[str]) -> float:
        blend, national = settings.get("source_blend"), settings.get("national_source_factor")
        return _sources_ndcg3(inputs_for(settings, qids), qrels, 0.5 if blend is None else float(blend),
                              NATIONAL_SOURCE_FACTOR if national is None else float(national))

    head = {k: v for k in ("source_scoring", "source_blend", "national_source_factor", "memory_k", "memory_tau")
            if (v := model.config.get(k)) is not None}
    head_val = ndcg3(head, validation) if validation else 0.0
    # The memory's scores depend on its neighbours and temperature only: computed once per pair, then every
    # blend and national-source factor is tried on them.
    best: tuple[float, dict[str, Any]] = (-1.0, {})
    for k, tau in itertools.product(MEMORY_KS, MEMORY_TAUS):
        memory = {"source_scoring": "memory", "memory_k": k, "memory_tau": tau}
        score, (blend, national) = _best_mix(inputs_for(memory), qrels)
        if score > best[0] + 1e-9:
            best = (score, {**memory, "source_blend": blend, "national_source_factor": national})
    memory_val = ndcg3(best[1], validation) if validation else best[0]
    model.config.update(best[1] if memory_val >= head_val else head)
    log.info("source scoring chosen", extra={"scoring": model.config["source_scoring"], "head_val_ndcg3": head_val,
                                             "memory_val_ndcg3": memory_val, "memory_loo_ndcg3": best[0]})
    return {"val_mappings_ndcg@3_head": head_val, "val_mappings_ndcg@3_memory": memory_val,
            "train_mappings_loo_ndcg@3_memory": best[0]}


def platt_fit(scores: np.ndarray, relevant: np.ndarray) -> tuple[float, float] | None:
    """(slope, intercept) of a logistic regression of `relevant` on the logit of `scores` (Platt scaling);
    None without both relevant and irrelevant examples."""
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(relevant, dtype=int)
    if labels.size < 2 or labels.min() == labels.max():
        return None
    fit = LogisticRegression(C=1e4).fit(logit(scores).reshape(-1, 1), labels)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def relevance_calibration(index: CatalogIndex, model: QualityAwareRankingModel,
                          cache: dict[str, Any]) -> tuple[float, float] | None:
    """Platt scaling of the re-ranker's scores on the top 10 of each validation judged query (grade >= 2 counts
    as relevant), so a reported relevance reads as a probability and the live NDCG@3 estimate built from it
    tracks the judged one. Validation queries only: the re-ranker trained on the others."""
    prepared, qrels = cache.get("judged", ([], {}))
    scores: list[float] = []
    relevant: list[bool] = []
    for p in prepared:
        rel = rerank(index, model, p.ctx, p.cands)
        for o in np.argsort(-rel, kind="stable")[:10]:
            scores.append(float(rel[o]))
            relevant.append(qrels[p.query.qid].get(index.ids[int(p.cands.idx[o])], 0) >= 2)
    return platt_fit(np.array(scores), np.array(relevant)) if len(scores) >= 20 else None


def source_centroids(index: CatalogIndex) -> dict[str, np.ndarray]:
    """Mean (re-normalised) dataset embedding of each source in the catalog."""
    out: dict[str, np.ndarray] = {}
    codes = np.array(index.sources)
    for s in sorted(set(index.sources)):
        vec = index.embeddings[codes == s].astype(np.float32).mean(axis=0)
        norm = float(np.linalg.norm(vec))
        out[s] = vec / norm if norm > 0 else vec
    return out


def unseen_features(groups: Sequence[Group]) -> list[str]:
    """Features that are zero in every group (keyword coverage and theme match on the uncurated view)."""
    if not groups:
        return []
    seen = np.any(np.concatenate([g.feats for g in groups]) != 0, axis=0)
    return [name for name, s in zip(FEATURE_NAMES, seen, strict=True) if not s]


def new_version(data_hash: str) -> str:
    """A version name: qarm-<UTC time>-<first 8 of the training-data hash>."""
    return f"qarm-{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}-{data_hash[:8]}"


def train(
    index: CatalogIndex,
    encoder: Any,
    data: TrainingData,
    cfg: TrainConfig,
    output_dir: Path,
    *,
    version: str | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train, keep the best checkpoint (atomically) in `output_dir/<version>/`, write manifest and plot."""
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    version = version or new_version(data.data_hash)
    folder = output_dir / version
    folder.mkdir(parents=True, exist_ok=True)
    ckpt = folder / CHECKPOINT
    model = QualityAwareRankingModel({**DEFAULT_CONFIG, **cfg.model_config})
    model.set_source_centroids(source_centroids(index))
    model.set_memory(*data.memory)
    unseen = unseen_features(data.groups)
    model.ignore_features(unseen)
    batcher = _Batcher(index, data, model.vocab_size)
    dense_params = [p for n, p in model.named_parameters() if n != "token_emb.weight"]
    slow = [p for n, p in model.named_parameters() if n.startswith(RESIDUAL_PREFIXES)]
    fast = [p for n, p in model.named_parameters() if n != "token_emb.weight" and not n.startswith(RESIDUAL_PREFIXES)]
    optimizer = torch.optim.AdamW([{"params": fast}, {"params": slow, "lr": cfg.lr * cfg.residual_lr_scale}],
                                  lr=cfg.lr, weight_decay=cfg.weight_decay)
    sparse_opt = torch.optim.SparseAdam([model.token_emb.weight], lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, cfg.max_epochs))
    cache: dict[str, Any] = {}
    history: list[dict[str, float]] = []
    started = time.monotonic()
    warm = cfg.warm_epochs
    # The re-ranker and the source head are selected separately (each on its own validation metric),
    # starting from the untrained model: its base scorer is close to the fused order, so a run that
    # only overfits keeps the starting point instead of shipping something worse.
    metrics = validate(index, encoder, model, data, cache)
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    best = {"rerank": _rerank_score(metrics), "source": metrics.get("val_mappings_ndcg@3", 0.0)}
    best_epochs = {"rerank": 0, "source": 0}
    best_metrics: dict[str, float] = dict(metrics)
    history.append({"epoch": 0.0, "train_loss": None, "source_loss": None, "curriculum": 0.0,
                    "groups": 0.0, "seconds": time.monotonic() - started, **metrics, "best": 1.0})
    _save_best(model, best_state, index, cache, ckpt, version, best_epochs, best_metrics)
    stale = 0
    average: AveragedModel | None = None  # of the weights after each epoch from `warm` on
    for epoch in range(1, cfg.max_epochs + 1):
        model.train()
        level = _curriculum(epoch - 1, cfg)
        groups = [g for g in data.groups if g.difficulty <= level]
        sources = [e for e in data.source_examples if e.difficulty <= level]
        rng.shuffle(groups)
        rng.shuffle(sources)
        n_steps = max(1, math.ceil(len(groups) / cfg.batch_groups))
        src_batch = max(1, math.ceil(len(sources) / n_steps)) if sources else 0
        total, total_src = 0.0, 0.0
        for step in range(n_steps):
            batch = groups[step * cfg.batch_groups : (step + 1) * cfg.batch_groups]
            loss = _group_loss(model, batcher, batch) if batch else torch.zeros((), requires_grad=True)
            loss_val = float(loss.detach())
            if src_batch:
                sb = sources[step * src_batch : (step + 1) * src_batch]
                if sb:
                    sloss = _source_loss(model, batcher, sb)
                    loss = loss + sloss
                    total_src += float(sloss.detach())
            optimizer.zero_grad()
            sparse_opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(dense_params, 5.0)
            optimizer.step()
            sparse_opt.step()
            total += loss_val
        scheduler.step()
        if epoch >= warm:
            if average is None:
                average = AveragedModel(model)
            average.update_parameters(model)
        metrics = validate(index, encoder, model, data, cache)
        stats = {"epoch": float(epoch), "train_loss": total / n_steps, "source_loss": total_src / n_steps,
                 "curriculum": level, "groups": float(len(groups)), "seconds": time.monotonic() - started, **metrics}
        state = model.state_dict()
        improved = False
        if _rerank_score(metrics) > best["rerank"] + RERANK_MIN_GAIN:
            best["rerank"], best_epochs["rerank"], improved = _rerank_score(metrics), epoch, True
            best_state.update({k: v.detach().clone() for k, v in state.items() if not _is_source_key(k)})
            best_metrics.update({k: v for k, v in metrics.items() if "mappings" not in k})
        if "val_mappings_ndcg@3" in metrics and metrics["val_mappings_ndcg@3"] > best["source"] + 1e-4:
            best["source"], best_epochs["source"], improved = metrics["val_mappings_ndcg@3"], epoch, True
            best_state.update({k: v.detach().clone() for k, v in state.items() if _is_source_key(k)})
            best_metrics["val_mappings_ndcg@3"] = metrics["val_mappings_ndcg@3"]
        if improved:
            stale = 0
            _save_best(model, best_state, index, cache, ckpt, version, best_epochs, best_metrics)
        else:
            stale += 1
        stats["best"] = float(improved)
        history.append(stats)
        if on_epoch:
            on_epoch(epoch, stats)
        # Not before the weight average holds `patience` epochs past the warm-up.
        if stale >= cfg.patience and epoch >= warm + cfg.patience:
            log.info("early stopping", extra={"epoch": epoch, "best_epochs": best_epochs})
            break
        if time.monotonic() - started > cfg.time_budget_s:
            log.info("time budget reached", extra={"epoch": epoch, "best_epochs": best_epochs})
            break
    averaged = {"from_epoch": warm, "epochs": int(average.n_averaged) if average else 0, "rerank": False,
                "source": False}
    if average is not None and average.n_averaged > 1:
        best_state, used = prefer_average(index, encoder, model, data, cache, best_state,
                                          average.module.state_dict())
        averaged.update(used)
        if any(used.values()):
            model.load_state_dict(best_state)
            best_metrics = validate(index, encoder, model, data, cache)
            _save_best(model, best_state, index, cache, ckpt, version, best_epochs, best_metrics)
    log.info("weight average", extra=averaged)
    model.load_state_dict(best_state)
    before = validation_per_query(index, encoder, model, data, cache)
    refit = {"epochs": cfg.refit_epochs, "groups": refit_feature_scorers(model, batcher, data.groups, cfg, rng),
             "accepted": False}
    key = _rerank_key(before)
    if refit["groups"] and before.get(key):
        after = validation_per_query(index, encoder, model, data, cache)
        refit["accepted"] = not clearly_worse(after[key], before[key])
    if refit["accepted"]:
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        best_metrics = validate(index, encoder, model, data, cache)
        _save_best(model, best_state, index, cache, ckpt, version, best_epochs, best_metrics)
    log.info("feature scorer refit", extra=refit)
    best_epoch = max(best_epochs.values())
    plot_path = plot_learning_curves(history, folder / "learning_curve.png")
    from dra_ranking.registry import load_checkpoint

    # The memory is non-parametric: the shipped model remembers every train-split mapping query,
    # including the validation part that early stopping kept out of it.
    best_model, meta = load_checkpoint(ckpt)
    best_model.set_memory(*data.full_memory)
    source_choice = choose_source_scoring(index, best_model, data)
    calibration = relevance_calibration(index, best_model, cache)
    if calibration is not None:
        best_model.config["relevance_calibration"] = list(calibration)
    meta["validation"] = {**meta.get("validation", {}), **source_choice}
    best_metrics.update(source_choice)
    save_checkpoint(best_model, ckpt, meta)
    sha = sha256_file(ckpt)
    manifest = {
        "name": MODEL_NAME,
        "version": version,
        "file": CHECKPOINT,
        "sha256": sha,
        "config": best_model.config,
        "training_data_hash": data.data_hash,
        "metrics": {"validation": best_metrics, "best_epoch": best_epoch, "best_epochs": best_epochs,
                    "weight_average": averaged, "feature_refit": refit, "ignored_features": unseen,
                    "epochs_run": len(history) - 1,
                    "train_seconds": round(time.monotonic() - started, 1)},
        "training": {"mode": cfg.mode, "max_epochs": cfg.max_epochs, "patience": cfg.patience, "pool": cfg.pool,
                     "lr": cfg.lr, "seed": cfg.seed, "uncurated": cfg.uncurated, "counts": data.counts},
        "parameters": best_model.count_parameters(),
        "created_at": datetime.now(UTC).isoformat(),
        "features": list(best_model.config["feature_names"]),
    }
    atomic_write_json(folder / "manifest.json", manifest)
    atomic_write_json(folder / "history.json", history)
    return TrainResult(version, ckpt, manifest, history, plot_path)


def _is_source_key(name: str) -> bool:
    return name.startswith(SOURCE_HEAD_PREFIXES)


def _rerank_key(metrics: dict[str, Any]) -> str:
    """The re-ranker's validation metric: judged queries when there are any, else pseudo-queries."""
    return "val_judged_ndcg@10" if "val_judged_ndcg@10" in metrics else "val_pseudo_ndcg@10"


def _rerank_score(metrics: dict[str, float]) -> float:
    return metrics.get(_rerank_key(metrics), 0.0)


def _save_best(
    model: QualityAwareRankingModel,
    best_state: dict[str, torch.Tensor],
    index: CatalogIndex,
    cache: dict[str, Any],
    ckpt: Path,
    version: str,
    best_epochs: dict[str, int],
    best_metrics: dict[str, float],
) -> None:
    """Write the best re-ranker + best source head so far (atomically), with its source blend."""
    snapshot = QualityAwareRankingModel(dict(model.config))
    snapshot.load_state_dict(best_state)
    snapshot.eval()
    choose_source_blend(index, snapshot, cache)
    save_checkpoint(snapshot, ckpt, {"version": version, "best_epochs": dict(best_epochs),
                                     "validation": dict(best_metrics)})


def plot_learning_curves(history: Sequence[dict[str, float]], path: Path) -> Path | None:
    """Training loss and validation metrics per epoch, as a PNG (matplotlib, Agg backend)."""
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]

    def series(key: str) -> list[float]:
        return [math.nan if h.get(key) is None else float(h[key]) for h in history]

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, series("train_loss"), label="re-ranker loss")
    ax1.plot(epochs, series("source_loss"), label="source-head loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax1.set_title("Training loss")
    ax1.legend()
    for key in ("val_judged_ndcg@10", "val_judged_ndcg@3", "val_mappings_ndcg@3", "val_pseudo_ndcg@10", "val_score"):
        if key in history[0]:
            ax2.plot(epochs, series(key), label=key.replace("val_", ""))
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("metric")
    ax2.set_title("Validation (part of the train split)")
    ax2.legend()
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return path
