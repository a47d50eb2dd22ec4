"""One ranking pass: explanations, Singapore-first, degraded mode, source ranking."""

from __future__ import annotations

from dra_ranking import ranker
from dra_ranking.features import make_context
from dra_ranking.model import QualityAwareRankingModel


def test_degraded_rank_uses_fused_scores(index, query_vec):
    ctx = make_context(index, "HDB resale flat prices", query_vec)
    result = ranker.rank(index, None, ctx, k=3)
    assert result.degraded
    top = result.items[0]
    assert index.ids[top.position] == "data_gov_sg:d_hdb"
    assert "resale" in top.matched_terms and "title" in top.matched_fields
    assert all(0.0 <= it.relevance <= 1.0 for it in result.items)
    assert [s.source for s in result.sources][0] == "data_gov_sg"


def test_singapore_first_moves_relevant_singapore_results_up(index, query_vec):
    ctx = make_context(index, "house prices regression", query_vec)
    plain = ranker.rank(index, None, ctx, k=6)
    assert index.sources[plain.items[0].position] == "kaggle"
    sg = ranker.rank(index, None, ctx, k=6, singapore_first=True)
    assert sg.singapore_first_applied
    first_relevant = [it for it in sg.items if it.relevance >= max(0.3, 0.5 * plain.items[0].relevance)]
    sources = [index.sources[it.position] for it in first_relevant]
    sg_positions = [i for i, s in enumerate(sources) if s in ("data_gov_sg", "singstat", "lta_datamall")]
    other_positions = [i for i, s in enumerate(sources) if s not in ("data_gov_sg", "singstat", "lta_datamall")]
    assert sg_positions and (not other_positions or max(sg_positions) < min(other_positions))


def test_model_rank_explains_and_ranks_sources(index, query_vec):
    model = QualityAwareRankingModel({}).eval()
    ctx = make_context(index, "eeg emotion", query_vec)
    result = ranker.rank(index, model, ctx, k=2)
    assert not result.degraded and len(result.items) == 2
    assert index.ids[result.items[0].position] == "openneuro:ds000001"
    assert result.items[0].snippet.startswith("Scalp EEG")
    assert {s.source for s in result.sources} <= set(index.sources)


def test_snippet_prefers_matching_sentence():
    text = "First sentence about nothing. Second sentence about bus arrival times. Third."
    assert ranker.snippet(text, {"bus", "arriv"}) == "Second sentence about bus arrival times."
    assert ranker.snippet("x " * 400, set()).endswith("…")
