"""QualityAwareRankingModel: re-ranks fused candidates and scores sources for a query.

Design, chosen to stay robust on catalogs and queries it never saw:

- A linear *base* scorer over the retrieval features (fused rank, BM25, cosine, field coverage, quality)
  carries most of the ranking; it starts close to the fused candidate order.
- A small *feature MLP* learns the non-linear interactions of those features (e.g. a strong lexical
  match counts more when the cosine agrees); its last layer starts at zero, so it too starts at the
  fused order. With a hundred-odd judged queries, this is where most of the learned gain comes from.
- A small MLP adds a *residual* correction from the interaction of the query and dataset text
  (projected MiniLM embeddings plus a hashed-token embedding of `vocab_size` buckets), the router's
  domain, the dataset's source and the source head's opinion. Its output is scaled by a learned gate
  that starts small, so an untrained or badly trained residual cannot overturn retrieval.
- A *source head* scores (query, source) pairs from the query representation and a source
  representation: a learned source vector plus the projected mean embedding of the source's datasets.
  It also reads a *mapping memory*: the embeddings of the training-mapping queries and their source
  scores; the scores of the nearest remembered queries (softmax over cosine, learned temperature) are
  an input. Centroids and memory are buffers saved with the weights, so `predict_relevance` works from
  a checkpoint alone.

Relevance is the sigmoid of the logit, in [0, 1], trained against graded judgments / 3.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from dra_common.domain import DOMAINS, SINGAPORE_SOURCES, SOURCE_NAMES
from dra_common.encoder import DIM
from dra_ranking.features import FEATURE_NAMES, NUM_FEATURES, NUM_SOURCE_EVIDENCE, F
from dra_ranking.text import hash_tokens, query_geographies, tokenize

DEFAULT_CONFIG: dict[str, Any] = {
    "embedding_dim": 256,
    "hidden_dim": 128,
    "num_domains": len(DOMAINS),
    "num_sources": len(SOURCE_NAMES),
    "vocab_size": 10000,
    "text_dim": DIM,
    "domain_dim": 16,
    "source_dim": 16,
    "num_features": NUM_FEATURES,
    "feature_hidden": 32,  # width of the feature MLP (0: none, as in checkpoints made before it existed)
    "dropout": 0.1,
    "residual_init": 0.0,
    "base_init": "fused",
    "memory_size": 0,
    "memory_k": 10,
    "memory_unmapped": 0.1,
    # How sources are scored: "head" (the trained source head) or "memory" (the nearest remembered mapping
    # queries' judgments alone); training chooses on validation queries and sets memory_k / memory_tau.
    "source_scoring": "head",
    "memory_tau": 0.0,  # > 0: fixed softmax temperature over the memory (else the learned one)
    "source_names": list(SOURCE_NAMES),
    "domain_names": list(DOMAINS),
    "feature_names": list(FEATURE_NAMES),
}

# Starting weights of the base scorer. "fused": exactly the fused candidate order (with the residual
# gate at 0, an untrained model ranks like the candidate generator, which training must then beat on
# validation); "blend": the fused order nudged by cosine, title coverage and quality.
_BASE_INITS = {
    "fused": ({"rrf_norm": 6.0}, -4.0),
    "blend": ({"rrf_norm": 3.0, "dense_cos": 3.0, "bm25_norm": 1.0, "title_cov": 0.5, "any_cov": 0.5,
               "quality": 0.3, "geo_match": 0.3}, -4.0),
}
# Parameters and buffers of the source head (everything else belongs to the re-ranker).
SOURCE_HEAD_PREFIXES = ("src_", "source_centroids", "memory_")


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), with p kept inside (1e-6, 1 - 1e-6)."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


class PairInputs(NamedTuple):
    """The re-ranker's inputs for n (query, dataset) pairs, one row per pair (query rows already aligned)."""

    q_text: torch.Tensor  # projected query embeddings (n, embedding_dim)
    q_tok: torch.Tensor  # hashed-token query embeddings (n, embedding_dim)
    d_text: torch.Tensor
    d_tok: torch.Tensor
    domain: torch.Tensor  # router domain ids (n,)
    source: torch.Tensor  # source ids (n,)
    features: torch.Tensor  # retrieval features (n, NUM_FEATURES)


class QualityAwareRankingModel(nn.Module):
    """Relevance of (query, dataset) candidates and of (query, source) pairs, in [0, 1]."""

    _shared_encoder: Any = None
    _encoder_lock = threading.Lock()

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        cfg = {**DEFAULT_CONFIG, **(config or {})}
        if int(cfg["num_sources"]) < len(cfg["source_names"]):
            cfg["source_names"] = list(cfg["source_names"])[: int(cfg["num_sources"])]
        if int(cfg["num_domains"]) < len(cfg["domain_names"]):
            cfg["domain_names"] = list(cfg["domain_names"])[: int(cfg["num_domains"])]
        if int(cfg["num_features"]) != NUM_FEATURES:
            raise ValueError(f"num_features is {cfg['num_features']}, this code computes {NUM_FEATURES}")
        self.config = cfg
        emb, hid, text = int(cfg["embedding_dim"]), int(cfg["hidden_dim"]), int(cfg["text_dim"])
        ns, nd = int(cfg["num_sources"]), int(cfg["num_domains"])
        dd, sd = int(cfg["domain_dim"]), int(cfg["source_dim"])
        drop = float(cfg["dropout"])
        self.vocab_size = int(cfg["vocab_size"])
        self.source_index = {s: i for i, s in enumerate(cfg["source_names"])}
        self.domain_index = {d: i for i, d in enumerate(cfg["domain_names"])}
        self.unknown_source = ns
        self.unknown_domain = nd

        self.text_proj = nn.Linear(text, emb)
        # Sparse gradients: a batch touches a few hundred of the vocab_size rows.
        self.token_emb = nn.EmbeddingBag(self.vocab_size, emb, mode="mean", padding_idx=0, sparse=True)
        self.domain_emb = nn.Embedding(nd + 1, dd)
        self.source_emb = nn.Embedding(ns + 1, sd)

        pair_in = 2 * emb + 2 + dd + sd + NUM_FEATURES
        self.residual = nn.Sequential(
            nn.Linear(pair_in, hid), nn.GELU(), nn.Dropout(drop),
            nn.Linear(hid, hid // 2), nn.GELU(), nn.Linear(hid // 2, 1),
        )
        self.base = nn.Linear(NUM_FEATURES, 1)
        fh = int(cfg["feature_hidden"])
        self.feature_mlp = (
            nn.Sequential(nn.Linear(NUM_FEATURES, fh), nn.GELU(), nn.Linear(fh, 1)) if fh > 0 else None
        )
        self.gate = nn.Parameter(torch.tensor(float(cfg["residual_init"])))

        # The source head has parameters of its own (prefix "src_"), so training can keep the best
        # re-ranker and the best source head from different epochs.
        self.src_proj = nn.Linear(text, emb)
        self.src_domain_emb = nn.Embedding(nd + 1, dd)
        self.src_source_emb = nn.Embedding(ns + 1, sd)
        self.src_vec = nn.Embedding(ns + 1, emb)
        # Inputs: query×source interaction, cosine, memory prior, retrieval evidence of the source's
        # datasets, Singapore flags (query about Singapore, source is Singapore public sector, both).
        self.src_head = nn.Sequential(
            nn.Linear(emb + 2 + NUM_SOURCE_EVIDENCE + 3 + dd + sd, hid), nn.GELU(), nn.Dropout(drop),
            nn.Linear(hid, 1),
        )
        self.src_memory_weight = nn.Parameter(torch.tensor(2.0))
        self.src_memory_log_tau = nn.Parameter(torch.tensor(math.log(0.1)))
        self.register_buffer("source_centroids", torch.zeros(ns + 1, text))
        sg = torch.tensor([1.0 if s in SINGAPORE_SOURCES else 0.0 for s in cfg["source_names"]] + [0.0])
        self.register_buffer("source_is_sg", sg, persistent=False)
        m = int(cfg["memory_size"])
        self.register_buffer("memory_emb", torch.zeros(m, text))
        self.register_buffer("memory_targets", torch.zeros(m, ns + 1))
        self.register_buffer("memory_mask", torch.zeros(m, ns + 1))
        self._init_weights()
        self._encoder: Any = None

    def _init_weights(self) -> None:
        nn.init.normal_(self.token_emb.weight, std=0.05)
        with torch.no_grad():
            self.token_emb.weight[0].zero_()
            self.base.weight.zero_()
            weights, bias = _BASE_INITS[str(self.config.get("base_init", "fused"))]
            for name, value in weights.items():
                self.base.weight[0, F[name]] = value
            self.base.bias.fill_(bias)
            last = self.residual[-1]
            assert isinstance(last, nn.Linear)
            last.weight.mul_(0.1)
            last.bias.zero_()
            if self.feature_mlp is not None:
                out = self.feature_mlp[-1]
                assert isinstance(out, nn.Linear)
                out.weight.zero_()
                out.bias.zero_()
        nn.init.normal_(self.src_vec.weight, std=0.05)

    def ignore_features(self, names: Sequence[str]) -> None:
        """Zero every weight that reads these features (linear base, feature MLP, residual).

        For features a training run never sees vary: their weights get no gradient, so untrained values
        would act on them at serving time. Zeroed before training, they stay zero.
        """
        cols = [F[n] for n in names]
        if not cols:
            return
        first = self.residual[0]
        assert isinstance(first, nn.Linear)
        offset = first.in_features - NUM_FEATURES  # the features come last in the residual's input
        with torch.no_grad():
            self.base.weight[:, cols] = 0.0
            first.weight[:, [offset + c for c in cols]] = 0.0
            if self.feature_mlp is not None:
                mlp_in = self.feature_mlp[0]
                assert isinstance(mlp_in, nn.Linear)
                mlp_in.weight[:, cols] = 0.0

    # -- representations -------------------------------------------------------------------------

    def encode_text(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Projected MiniLM embeddings (n, embedding_dim)."""
        return self.text_proj(embeddings)

    def encode_tokens(self, flat: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Mean hashed-token embedding per bag (n, embedding_dim); empty bags give zeros."""
        return self.token_emb(flat, offsets)

    def memory_prior(
        self, q_raw: torch.Tensor, source: torch.Tensor, exclude: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Source scores (n,) of the remembered mapping queries nearest to each query (0.5 without memory).

        `q_raw` is (n, 384), or (1, 384) to score one query against all n `source` ids.

        `exclude` (n,) names a memory row each query must not see (itself, during training; -1 = none).
        """
        m = self.memory_emb.shape[0]
        if m == 0:
            return torch.full((source.shape[0],), 0.5)
        sims = q_raw @ self.memory_emb.T  # (n, m)
        if exclude is not None:
            hit = exclude.unsqueeze(-1) == torch.arange(m).unsqueeze(0)
            sims = sims.masked_fill(hit, -2.0)
        k = min(int(self.config["memory_k"]), m)
        top, idx = sims.topk(k, dim=-1)
        fixed_tau = float(self.config.get("memory_tau") or 0.0)
        tau = torch.tensor(fixed_tau) if fixed_tau > 0 else self.src_memory_log_tau.exp().clamp(min=0.01)
        weights = torch.softmax(top / tau, dim=-1)
        unmapped = float(self.config["memory_unmapped"])
        vals = torch.where(self.memory_mask[idx, source.unsqueeze(-1)] > 0,
                           self.memory_targets[idx, source.unsqueeze(-1)], torch.tensor(unmapped))
        return (weights * vals).sum(-1)

    def source_logits(
        self,
        q_raw: torch.Tensor,
        domain: torch.Tensor,
        source: torch.Tensor,
        exclude: torch.Tensor | None = None,
        evidence: torch.Tensor | None = None,
        sg_query: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (n,) of source relevance for raw MiniLM query embeddings (n, 384) and source ids (n,).

        One query row (1, 384) with `exclude` of shape (1,) broadcasts against all n sources.

        `evidence` (n, NUM_SOURCE_EVIDENCE) describes the source's datasets among the query's candidates
        (zeros: unknown, e.g. `predict_relevance` without a catalog); `sg_query` (n,) flags Singapore queries.
        """
        n = source.shape[0]
        q = self.src_proj(q_raw)
        s = self.src_vec(source) + self.src_proj(self.source_centroids[source])
        cos = nn.functional.cosine_similarity(q, s, dim=-1).unsqueeze(-1)
        prior = self.memory_prior(q_raw, source, exclude)
        if evidence is None:
            evidence = torch.zeros(n, NUM_SOURCE_EVIDENCE)
        sgq = sg_query if sg_query is not None else torch.zeros(n)
        sgs = self.source_is_sg[source]
        flags = torch.stack([sgq, sgs, sgq * sgs], dim=-1)
        x = torch.cat([q * s, cos, prior.unsqueeze(-1), evidence, flags, self.src_domain_emb(domain),
                       self.src_source_emb(source)], dim=-1)
        return self.src_head(x).squeeze(-1) + self.src_memory_weight * (prior - 0.5) * 4.0

    def set_memory(self, embeddings: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> None:
        """Replace the mapping memory (rows: remembered queries; columns: sources incl. the unknown slot)."""
        self.memory_emb = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))
        self.memory_targets = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32))
        self.memory_mask = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))
        self.config["memory_size"] = int(embeddings.shape[0])

    def pair_logits(self, pairs: PairInputs) -> torch.Tensor:
        """Relevance logits (n,) of n (query, dataset) pairs."""
        return self.feature_logits(pairs.features) + self.residual_logits(pairs)

    def feature_logits(self, features: torch.Tensor) -> torch.Tensor:
        """The feature scorers' part of the logits (n,): the linear base plus the feature MLP."""
        logits = self.base(features).squeeze(-1)
        if self.feature_mlp is not None:
            logits = logits + self.feature_mlp(features).squeeze(-1)
        return logits

    def residual_logits(self, pairs: PairInputs) -> torch.Tensor:
        """The gated text-interaction residual's part of the logits (n,)."""
        cos_text = nn.functional.cosine_similarity(pairs.q_text, pairs.d_text, dim=-1).unsqueeze(-1)
        cos_tok = nn.functional.cosine_similarity(pairs.q_tok, pairs.d_tok, dim=-1, eps=1e-6).unsqueeze(-1)
        x = torch.cat(
            [pairs.q_text * pairs.d_text, pairs.q_tok * pairs.d_tok, cos_text, cos_tok, self.domain_emb(pairs.domain),
             self.source_emb(pairs.source), pairs.features],
            dim=-1,
        )
        return self.gate * self.residual(x).squeeze(-1)

    def forward(
        self,
        q_emb: torch.Tensor,
        q_flat: torch.Tensor,
        q_offsets: torch.Tensor,
        d_emb: torch.Tensor,
        d_flat: torch.Tensor,
        d_offsets: torch.Tensor,
        domain: torch.Tensor,
        source: torch.Tensor,
        features: torch.Tensor,
    ) -> torch.Tensor:
        """Relevance in [0, 1] of n pairs given raw inputs (each query row aligned with its dataset row)."""
        logits = self.pair_logits(PairInputs(
            self.encode_text(q_emb), self.encode_tokens(q_flat, q_offsets),
            self.encode_text(d_emb), self.encode_tokens(d_flat, d_offsets), domain, source, features,
        ))
        return torch.sigmoid(logits)

    # -- serving helpers ---------------------------------------------------------------------------

    def source_id(self, source: str) -> int:
        """Index of a source name (the unknown slot for unregistered names)."""
        return self.source_index.get(source, self.unknown_source)

    def domain_id(self, domain: str) -> int:
        """Index of a domain name (the unknown slot for "" and other names)."""
        return self.domain_index.get(domain, self.unknown_domain)

    def query_tokens(self, text: str) -> torch.Tensor:
        """Hashed-token ids of a query."""
        return torch.tensor(hash_tokens(tokenize(text), self.vocab_size), dtype=torch.long)

    @torch.inference_mode()
    def score_candidates(
        self,
        query_embedding: np.ndarray,
        query_text: str,
        domain: str,
        doc_embeddings: np.ndarray,
        doc_flat: np.ndarray,
        doc_offsets: np.ndarray,
        sources: Sequence[str] | np.ndarray,
        features: np.ndarray,
    ) -> np.ndarray:
        """Relevance (c,) of c candidates of one query."""
        c = features.shape[0]
        if c == 0:
            return np.zeros(0, dtype=np.float32)
        q_raw = torch.from_numpy(np.asarray(query_embedding, dtype=np.float32)).unsqueeze(0)
        q_text = self.encode_text(q_raw)
        q_ids = self.query_tokens(query_text)
        q_tok = self.encode_tokens(q_ids, torch.zeros(1, dtype=torch.long))
        d_text = self.encode_text(torch.from_numpy(np.ascontiguousarray(doc_embeddings, dtype=np.float32)))
        d_tok = self.encode_tokens(torch.from_numpy(doc_flat), torch.from_numpy(doc_offsets))
        src = torch.tensor([self.source_id(s) for s in sources], dtype=torch.long)
        dom = torch.full((c,), self.domain_id(domain), dtype=torch.long)
        q_text_b, q_tok_b = q_text.expand(c, -1), q_tok.expand(c, -1)
        logits = self.pair_logits(PairInputs(q_text_b, q_tok_b, d_text, d_tok, dom, src,
                                             torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))))
        return torch.sigmoid(logits).numpy().astype(np.float32)

    @torch.inference_mode()
    def score_sources(
        self,
        query_embedding: np.ndarray,
        query_text: str,
        sources: Sequence[str],
        domain: str = "",
        evidence: np.ndarray | None = None,
        singapore: bool | None = None,
        exclude_memory: int = -1,
    ) -> np.ndarray:
        """Relevance in [0, 1] of each source (len(sources),) for one query.

        With `source_scoring` "head": the source head, given `evidence` (len(sources), NUM_SOURCE_EVIDENCE),
        the retrieval evidence of each source (None: unknown), and `singapore`, whether the query is about
        Singapore (None: read from the text). With "memory": the judgments of the nearest remembered mapping
        queries. `exclude_memory` hides one memory row (a remembered query scored against the others).
        """
        if not sources:
            return np.zeros(0, dtype=np.float32)
        # One query row, broadcast against the n sources: its projection and memory look-up run once.
        q_raw = torch.from_numpy(np.asarray(query_embedding, dtype=np.float32)).unsqueeze(0)
        n = len(sources)
        src = torch.tensor([self.source_id(s) for s in sources], dtype=torch.long)
        exclude = torch.tensor([exclude_memory], dtype=torch.long) if exclude_memory >= 0 else None
        if self.config.get("source_scoring") == "memory":
            return self.memory_prior(q_raw, src, exclude).numpy().astype(np.float32)
        dom = torch.full((n,), self.domain_id(domain), dtype=torch.long)
        if singapore is None:
            singapore = "SG" in query_geographies(query_text)
        ev = torch.from_numpy(np.ascontiguousarray(evidence, dtype=np.float32)) if evidence is not None else None
        logits = self.source_logits(q_raw, dom, src, exclude=exclude, evidence=ev,
                                    sg_query=torch.full((n,), 1.0 if singapore else 0.0))
        return torch.sigmoid(logits).numpy().astype(np.float32)

    def attach_encoder(self, encoder: Any) -> None:
        """Use this sentence encoder for `predict_relevance` (the service shares its own)."""
        self._encoder = encoder

    def _get_encoder(self) -> Any:
        if self._encoder is not None:
            return self._encoder
        with QualityAwareRankingModel._encoder_lock:
            if QualityAwareRankingModel._shared_encoder is None:
                from dra_common.encoder import SentenceEncoder

                QualityAwareRankingModel._shared_encoder = SentenceEncoder(threads=torch.get_num_threads())
        return QualityAwareRankingModel._shared_encoder

    def predict_relevance(self, query: str, source: str, domain: str = "") -> float:
        """Relevance in [0, 1] of a whole source for a query (the runbook's model check).

        Encodes the query with MiniLM (loaded on first use when no encoder is attached).
        """
        was_training = self.training
        self.eval()
        try:
            emb = self._get_encoder().encode_query(query)
            return float(self.score_sources(emb, query, [source], domain)[0])
        finally:
            self.train(was_training)

    def calibrated(self, relevance: np.ndarray) -> np.ndarray:
        """Relevance scores as probabilities that a dataset is relevant (judged grade >= 2).

        Platt scaling of the score's logit with the (slope, intercept) training fitted on validation
        judgments (config "relevance_calibration"); monotone, so it never changes an order. Checkpoints
        without it return the scores unchanged.
        """
        params = self.config.get("relevance_calibration")
        if not params:
            return relevance
        slope, intercept = float(params[0]), float(params[1])
        return (1.0 / (1.0 + np.exp(-(slope * logit(relevance) + intercept)))).astype(np.float32)

    def count_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def set_source_centroids(self, centroids: dict[str, np.ndarray]) -> None:
        """Store the mean dataset embedding of each source (part of the saved state)."""
        with torch.no_grad():
            self.source_centroids.zero_()
            for name, vec in centroids.items():
                sid = self.source_id(name)
                if sid != self.unknown_source:
                    self.source_centroids[sid] = torch.from_numpy(np.asarray(vec, dtype=np.float32))
