"""Candidate generation: BM25 (bm25s) and dense cosine retrieval over the catalog, fused by reciprocal rank.

The index is immutable once built; a catalog change builds a new one and swaps the reference, so a
request always sees one consistent catalog. Everything per document is a numpy array or a sparse
matrix, which keeps 100,000 datasets within a few hundred megabytes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import bm25s
import numpy as np
import scipy.sparse as sp
import torch

from dra_common.domain import SINGAPORE_SOURCES, SOURCE_NAMES
from dra_common.encoder import DIM
from dra_ranking.catalog import DatasetRecord
from dra_ranking.text import tokenize

log = logging.getLogger(__name__)

RRF_K = 60
FIELDS = ("title", "keywords", "description", "publisher")


@dataclass
class QueryTerms:
    """A query as the index sees it: its stems and their ids in the index vocabulary."""

    stems: list[str]
    ids: list[int]


@dataclass
class Candidates:
    """The fused candidate list of one query (arrays aligned, best fused first)."""

    idx: np.ndarray  # document positions in the index
    bm25: np.ndarray  # raw BM25 score
    dense: np.ndarray  # cosine similarity
    bm25_rank: np.ndarray  # 0-based rank in the BM25 list (pool size when absent)
    dense_rank: np.ndarray  # 0-based rank in the dense list (pool size when absent)
    rrf: np.ndarray  # reciprocal rank fusion score
    pool: int

    def __len__(self) -> int:
        return int(self.idx.shape[0])

    def head(self, n: int) -> Candidates:
        """The first `n` candidates (same pool, so absent-rank markers keep their meaning)."""
        return Candidates(self.idx[:n], self.bm25[:n], self.dense[:n], self.bm25_rank[:n], self.dense_rank[:n],
                          self.rrf[:n], self.pool)


class CatalogIndex:
    """BM25 + dense index over a catalog snapshot, with the per-field term matrices features need."""

    def __init__(self, records: Sequence[DatasetRecord], version: int = 0) -> None:
        start = time.perf_counter()
        self.version = version
        self.records = list(records)
        n = len(self.records)
        self.ids = [r.id for r in self.records]
        self.position = {rid: i for i, rid in enumerate(self.ids)}
        self.sources = [r.source for r in self.records]
        source_index = {s: i for i, s in enumerate(SOURCE_NAMES)}
        self.source_codes = np.array([source_index.get(s, len(SOURCE_NAMES)) for s in self.sources], dtype=np.int64)
        self.quality = np.array([r.metadata_quality for r in self.records], dtype=np.float32)
        self.singapore = np.array(
            [r.source in SINGAPORE_SOURCES or "SG" in r.geography for r in self.records], dtype=bool
        )
        self.geo_sets = [frozenset(g for g in r.geography) for r in self.records]
        # Half precision: the per-query scan reads half the bytes (its cost is memory traffic) and 100,000
        # datasets take 77 MB. Cosines stay within 2e-3 of float32 (tested), below the gaps that order candidates.
        self.embeddings = np.zeros((n, DIM), dtype=np.float16)
        for i, r in enumerate(self.records):
            if r.embedding is not None:
                self.embeddings[i] = r.embedding
            r.embedding = None  # the matrix holds it now; don't keep two copies
        self._embedding_tensor = torch.from_numpy(self.embeddings)  # shares the memory

        self.vocab: dict[str, int] = {}
        field_rows: dict[str, list[list[int]]] = {f: [] for f in FIELDS}
        bm25_docs: list[list[int]] = []
        for r in self.records:
            per_field = {
                "title": self._ids(tokenize(r.title)),
                "keywords": self._ids(tokenize(" ".join(r.keywords))),
                "description": self._ids(tokenize(r.description)),
                "publisher": self._ids(tokenize(r.publisher)),
            }
            for f in FIELDS:
                field_rows[f].append(per_field[f])
            # Title twice: a title term says more about a dataset than one in a long description.
            bm25_docs.append(per_field["title"] * 2 + per_field["keywords"] + per_field["description"]
                             + per_field["publisher"])
        vsize = len(self.vocab) + 1
        self.field_terms = {f: _binary_csr(rows, vsize) for f, rows in field_rows.items()}
        # Terms the model embeds for a document: title and keywords, in order, deduplicated.
        model_rows = [list(dict.fromkeys(t + k))[:48] for t, k in zip(field_rows["title"], field_rows["keywords"],
                                                                       strict=True)]
        self.model_offsets = np.zeros(n + 1, dtype=np.int64)
        self.model_offsets[1:] = np.cumsum([len(r) for r in model_rows])
        self.model_terms = np.array([t for r in model_rows for t in r], dtype=np.int64)
        self.inverse_vocab = [""] * vsize
        for term, tid in self.vocab.items():
            self.inverse_vocab[tid] = term
        self._buckets: dict[int, np.ndarray] = {}

        logging.getLogger("bm25s").setLevel(max(logging.WARNING, logging.getLogger().level))
        self.bm25 = bm25s.BM25(k1=1.2, b=0.75)
        if n:
            vocab_for_bm25 = dict(self.vocab)
            self.bm25.index((bm25_docs, vocab_for_bm25), show_progress=False)
        self.build_seconds = time.perf_counter() - start
        log.info("index built", extra={"datasets": n, "terms": len(self.vocab), "seconds": round(self.build_seconds, 2)})

    def without_curation(self) -> CatalogIndex:
        """The same datasets without their keywords and themes, embeddings kept: how a thinly described
        external catalog looks to the lexical side (training builds its groups on it, so the re-ranker does
        not come to depend on our curation)."""
        records = [replace(r, keywords=[], themes=[], embedding=self.embeddings[i].astype(np.float32))
                   for i, r in enumerate(self.records)]
        return CatalogIndex(records, version=self.version)

    def _ids(self, stems: list[str]) -> list[int]:
        out = []
        for s in stems:
            tid = self.vocab.get(s)
            if tid is None:
                tid = len(self.vocab)
                self.vocab[s] = tid
            out.append(tid)
        return out

    def __len__(self) -> int:
        return len(self.records)

    def query_terms(self, query: str) -> QueryTerms:
        """Stems of `query` and the ids of those the catalog knows."""
        stems = list(dict.fromkeys(tokenize(query)))
        return QueryTerms(stems, [self.vocab[s] for s in stems if s in self.vocab])

    def bm25_scores(self, terms: QueryTerms) -> np.ndarray:
        """BM25 score of every document (zeros when no query term is in the catalog)."""
        if not terms.ids or not self.records:
            return np.zeros(len(self.records), dtype=np.float32)
        return np.asarray(self.bm25.get_scores(list(terms.ids)), dtype=np.float32)

    def dense_scores(self, query_embedding: np.ndarray) -> np.ndarray:
        """Cosine similarity of every document to the query (embeddings are unit vectors).

        torch's half-precision matrix-vector product: numpy has no fast float16 path.
        """
        query = torch.from_numpy(np.asarray(query_embedding, dtype=np.float16))
        return torch.mv(self._embedding_tensor, query).float().numpy()

    def filter_mask(self, sources: Sequence[str] = (), geography: Sequence[str] = ()) -> np.ndarray | None:
        """Documents allowed by the filters (None: no filter)."""
        if not sources and not geography:
            return None
        mask = np.ones(len(self.records), dtype=bool)
        if sources:
            wanted = set(sources)
            mask &= np.array([s in wanted for s in self.sources], dtype=bool)
        if geography:
            geos = set(geography)
            mask &= np.array([bool(g & geos) for g in self.geo_sets], dtype=bool)
        return mask

    def candidates(
        self,
        terms: QueryTerms,
        query_embedding: np.ndarray,
        *,
        pool: int = 100,
        mask: np.ndarray | None = None,
    ) -> Candidates:
        """Top `pool` documents of BM25 and of dense retrieval, fused by reciprocal rank (k=60)."""
        bm25 = self.bm25_scores(terms)
        dense = self.dense_scores(query_embedding)
        return fuse(bm25, dense, pool=pool, mask=mask)

    def term_buckets(self, vocab_size: int) -> np.ndarray:
        """Hashed-token bucket of every index term for a model with `vocab_size` (cached per size)."""
        cached = self._buckets.get(vocab_size)
        if cached is None:
            from dra_ranking.text import hash_token

            cached = np.array([hash_token(t, vocab_size) if t else 0 for t in self.inverse_vocab], dtype=np.int64)
            self._buckets[vocab_size] = cached
        return cached

    def doc_model_terms(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat term ids and offsets (EmbeddingBag layout) of the documents at `idx`."""
        starts = self.model_offsets[idx]
        ends = self.model_offsets[idx + 1]
        lengths = ends - starts
        offsets = np.zeros(len(idx), dtype=np.int64)
        if len(idx) > 1:
            offsets[1:] = np.cumsum(lengths)[:-1]
        if lengths.sum() == 0:
            return np.zeros(0, dtype=np.int64), offsets
        flat = np.concatenate([self.model_terms[s:e] for s, e in zip(starts, ends, strict=True)])
        return flat, offsets

    def field_matches(self, idx: np.ndarray, term_ids: Sequence[int]) -> dict[str, np.ndarray]:
        """Per field, a (len(idx), len(term_ids)) 0/1 matrix: does the document's field contain the term.

        A ragged gather of the documents' term ids (numpy only): scipy's fancy indexing costs ~10x more
        for the ~100 rows a request touches.
        """
        n, m = len(idx), len(term_ids)
        out = {f: np.zeros((n, m), dtype=np.float32) for f in FIELDS}
        if not n or not m:
            return out
        cols = np.asarray(term_ids, dtype=np.int32)
        order = np.argsort(cols)
        sorted_cols = cols[order]
        rows_of = np.arange(n)
        for f, mat in self.field_terms.items():
            starts = mat.indptr[idx]
            lengths = mat.indptr[idx + 1] - starts
            total = int(lengths.sum())
            if total == 0:
                continue
            offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
            values = mat.indices[offsets + np.arange(total)]
            pos = np.searchsorted(sorted_cols, values)
            pos[pos == m] = 0
            hit = sorted_cols[pos] == values
            out[f][np.repeat(rows_of, lengths)[hit], order[pos[hit]]] = 1.0
        return out

    def source_slots(self) -> tuple[list[str], np.ndarray]:
        """The catalog's sources (sorted) and their slots in SOURCE_NAMES order (unknown: the last slot)."""
        cached = getattr(self, "_source_slots", None)
        if cached is None:
            names = sorted(set(self.sources))
            slot = {s: i for i, s in enumerate(SOURCE_NAMES)}
            cached = (names, np.array([slot.get(s, len(SOURCE_NAMES)) for s in names], dtype=np.int64))
            self._source_slots = cached
        return cached

    def memory_bytes(self) -> int:
        """Approximate size of the numeric parts of the index."""
        total = self.embeddings.nbytes + self.model_terms.nbytes + self.model_offsets.nbytes
        for m in self.field_terms.values():
            total += m.data.nbytes + m.indices.nbytes + m.indptr.nbytes
        return int(total)


def _binary_csr(rows: list[list[int]], ncols: int) -> sp.csr_matrix:
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    uniq = [np.unique(np.asarray(r, dtype=np.int32)) for r in rows]
    indptr[1:] = np.cumsum([len(u) for u in uniq])
    indices = np.concatenate(uniq) if uniq else np.zeros(0, dtype=np.int32)
    data = np.ones(len(indices), dtype=np.int8)
    return sp.csr_matrix((data, indices.astype(np.int32), indptr), shape=(len(rows), ncols))


def _top(scores: np.ndarray, k: int, valid: np.ndarray | None) -> np.ndarray:
    """Indices of the `k` best `valid` scores (None: all), best first."""
    if valid is None:
        cand = np.argpartition(-scores, k - 1)[:k] if scores.size > k else np.arange(scores.size)
    else:
        cand = np.flatnonzero(valid)
        if cand.size > k:
            cand = cand[np.argpartition(-scores[cand], k - 1)[:k]]
    return cand[np.argsort(-scores[cand], kind="stable")]


def fuse(
    bm25: np.ndarray, dense: np.ndarray, *, pool: int = 100, mask: np.ndarray | None = None, k: int = RRF_K
) -> Candidates:
    """Reciprocal rank fusion of the BM25 and dense lists; documents with zero BM25 are not in the BM25 list."""
    top_bm25 = _top(bm25, pool, bm25 > 0 if mask is None else mask & (bm25 > 0))
    top_dense = _top(dense, pool, mask)
    docs = np.union1d(top_bm25, top_dense).astype(np.int64)
    rb = np.full(docs.shape[0], float(pool), dtype=np.float32)
    rd = np.full(docs.shape[0], float(pool), dtype=np.float32)
    rb[np.searchsorted(docs, top_bm25)] = np.arange(top_bm25.shape[0], dtype=np.float32)
    rd[np.searchsorted(docs, top_dense)] = np.arange(top_dense.shape[0], dtype=np.float32)
    rrf = np.where(rb < pool, 1.0 / (k + rb + 1), 0.0) + np.where(rd < pool, 1.0 / (k + rd + 1), 0.0)
    # Ties (same fused score) go to the better dense rank, then the document order: deterministic.
    order = np.lexsort((docs, rd, -rrf))[:pool]
    docs = docs[order]
    return Candidates(
        idx=docs,
        bm25=bm25[docs].astype(np.float32),
        dense=dense[docs].astype(np.float32),
        bm25_rank=rb[order],
        dense_rank=rd[order],
        rrf=rrf[order].astype(np.float32),
        pool=pool,
    )
