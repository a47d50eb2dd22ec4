"""QualityAwareRankingModel: shapes, outputs in [0, 1], parameter count, source scoring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dra_ranking import ranker
from dra_ranking.features import NUM_FEATURES, candidate_features, make_context
from dra_ranking.model import QualityAwareRankingModel

RUNBOOK_CONFIG = {"embedding_dim": 256, "hidden_dim": 128, "num_domains": 8, "num_sources": 16, "vocab_size": 10000}


def test_builds_from_runbook_config_and_counts_parameters():
    model = QualityAwareRankingModel(RUNBOOK_CONFIG)
    n = model.count_parameters()
    assert n == sum(p.numel() for p in model.parameters())
    assert model.token_emb.weight.shape == (10000, 256)
    assert 1_000_000 < n < 5_000_000


def test_forward_outputs_are_probabilities():
    torch.manual_seed(0)
    model = QualityAwareRankingModel(RUNBOOK_CONFIG).eval()
    n = 7
    out = model(
        torch.randn(n, 384), torch.randint(1, 10000, (20,)), torch.tensor([0, 3, 6, 9, 12, 15, 18]),
        torch.randn(n, 384), torch.randint(1, 10000, (30,)), torch.tensor([0, 4, 8, 12, 16, 20, 24]),
        torch.randint(0, 9, (n,)), torch.randint(0, 17, (n,)), torch.rand(n, NUM_FEATURES),
    )
    assert out.shape == (n,)
    assert torch.all((out >= 0) & (out <= 1))


def test_scores_candidates_and_sources(index, query_vec):
    model = QualityAwareRankingModel({}).eval()
    ctx = make_context(index, "singapore housing prices", query_vec)
    cands = index.candidates(ctx.terms, ctx.embedding)
    feats = candidate_features(index, ctx, cands)
    assert feats.shape == (len(cands), NUM_FEATURES)
    rel = ranker.rerank(index, model, ctx, cands)
    assert rel.shape == (len(cands),) and np.all((rel >= 0) & (rel <= 1))
    src = model.score_sources(query_vec, "singapore housing prices", ["data_gov_sg", "kaggle", "not_a_source"])
    assert src.shape == (3,) and np.all((src >= 0) & (src <= 1))


def test_predict_relevance_uses_attached_encoder(query_vec):
    class FakeEncoder:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def encode_query(self, q: str) -> np.ndarray:
            self.calls.append(q)
            return query_vec

    model = QualityAwareRankingModel({})
    enc = FakeEncoder()
    model.attach_encoder(enc)
    value = model.predict_relevance("climate change data", "world_bank")
    assert 0.0 <= value <= 1.0 and enc.calls == ["climate change data"]


def test_memory_prior_reads_nearest_mapping(query_vec):
    model = QualityAwareRankingModel({})
    targets = np.zeros((2, 17), dtype=np.float32)
    mask = np.zeros((2, 17), dtype=np.float32)
    targets[0, model.source_id("world_bank")] = 0.95
    mask[0, model.source_id("world_bank")] = 1.0
    other = -query_vec
    model.set_memory(np.stack([query_vec, other]), targets, mask)
    q = torch.from_numpy(query_vec).unsqueeze(0)
    with torch.no_grad():
        near = model.memory_prior(q, torch.tensor([model.source_id("world_bank")]))
        hidden = model.memory_prior(q, torch.tensor([model.source_id("world_bank")]), exclude=torch.tensor([0]))
    assert float(near) > 0.9 and float(hidden) < 0.2


def test_memory_scoring_ranks_sources_by_the_judgments_of_similar_queries(query_vec):
    model = QualityAwareRankingModel({"source_scoring": "memory", "memory_k": 2, "memory_tau": 0.05}).eval()
    targets = np.zeros((2, 17), dtype=np.float32)
    mask = np.ones((2, 17), dtype=np.float32)
    targets[0, model.source_id("world_bank")], targets[0, model.source_id("kaggle")] = 0.9, 0.1
    targets[1, model.source_id("world_bank")], targets[1, model.source_id("kaggle")] = 0.1, 0.9
    model.set_memory(np.stack([query_vec, -query_vec]), targets, mask)
    scores = model.score_sources(query_vec, "gdp", ["world_bank", "kaggle"])
    assert scores[0] > 0.85 and scores[1] < 0.15
    # Hiding the query's own memory row leaves only the dissimilar one.
    hidden = model.score_sources(query_vec, "gdp", ["world_bank", "kaggle"], exclude_memory=0)
    assert hidden[0] < 0.15 and hidden[1] > 0.85
    # predict_relevance answers from the same scoring.
    model.attach_encoder(type("E", (), {"encode_query": staticmethod(lambda q: query_vec)})())
    assert model.predict_relevance("gdp", "world_bank") == pytest.approx(float(scores[0]), abs=1e-6)


def test_rejects_wrong_feature_count():
    with pytest.raises(ValueError, match="num_features"):
        QualityAwareRankingModel({"num_features": NUM_FEATURES + 1})


def test_calibration_is_monotone_and_absent_by_default():
    model = QualityAwareRankingModel({})
    scores = np.array([0.2, 0.35, 0.5, 0.7], dtype=np.float32)
    assert np.array_equal(model.calibrated(scores), scores)
    model.config["relevance_calibration"] = [2.0, 1.5]  # sharper and shifted up
    out = model.calibrated(scores)
    assert np.all(np.diff(out) > 0)
    assert out[1] > scores[1] and out.min() > 0.0 and out.max() < 1.0


def test_ignored_features_no_longer_move_the_score():
    from dra_ranking.features import F
    from dra_ranking.model import DEFAULT_CONFIG, PairInputs

    torch.manual_seed(0)
    model = QualityAwareRankingModel(dict(DEFAULT_CONFIG, feature_hidden=16))
    n, dim = 4, model.config["embedding_dim"]
    feats = torch.rand(n, NUM_FEATURES)
    pairs = PairInputs(torch.rand(n, dim), torch.rand(n, dim), torch.rand(n, dim), torch.rand(n, dim),
                       torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long), feats)
    moved = feats.clone()
    moved[:, F["keyword_cov"]] += 1.0
    model.eval()
    with torch.no_grad():
        for param in model.parameters():  # as after training: every part reads its inputs
            param.normal_(std=0.2)
        assert not torch.allclose(model.pair_logits(pairs), model.pair_logits(pairs._replace(features=moved)))
        model.ignore_features(["keyword_cov", "theme_match"])
        assert torch.allclose(model.pair_logits(pairs), model.pair_logits(pairs._replace(features=moved)))
