"""Candidate generation: BM25 + dense retrieval, reciprocal rank fusion, filters."""

from __future__ import annotations

import numpy as np

from dra_ranking.index import RRF_K, fuse


def test_bm25_finds_lexical_match(index, query_vec):
    terms = index.query_terms("HDB resale prices")
    scores = index.bm25_scores(terms)
    assert index.ids[int(np.argmax(scores))] == "data_gov_sg:d_hdb"
    assert scores[index.position["world_bank:EN.ATM.CO2E.PC"]] == 0


def test_query_without_known_terms_scores_zero(index):
    assert not index.bm25_scores(index.query_terms("😀 東京 مرحبا")).any()


def test_dense_scores_are_cosines(index, records):
    target = index.embeddings[2]
    scores = index.dense_scores(target)
    assert int(np.argmax(scores)) == 2
    # Half-precision storage and product: within 2e-3 of the float32 cosines.
    exact = index.embeddings.astype(np.float32) @ target.astype(np.float32)
    assert scores.dtype == np.float32
    assert np.abs(scores - exact).max() < 2e-3
    assert abs(float(scores[2]) - 1.0) < 2e-3


def test_rrf_rewards_agreement():
    bm25 = np.array([3.0, 2.0, 1.0, 0.0], dtype=np.float32)
    dense = np.array([0.1, 0.9, 0.8, 0.95], dtype=np.float32)
    cands = fuse(bm25, dense, pool=4)
    # doc 1: ranks 2 and 2 → 2/(k+2); doc 0: ranks 1 and 4; doc 3 only in the dense list
    assert int(cands.idx[0]) == 1
    assert abs(float(cands.rrf[0]) - 2.0 / (RRF_K + 2)) < 1e-6
    assert 3 in cands.idx.tolist()
    assert cands.bm25_rank[cands.idx.tolist().index(3)] == 4  # absent from the BM25 list


def test_filters_restrict_candidates(index, query_vec):
    terms = index.query_terms("housing prices")
    mask = index.filter_mask(sources=["kaggle"])
    cands = index.candidates(terms, query_vec, mask=mask)
    assert {index.sources[i] for i in cands.idx} == {"kaggle"}
    mask = index.filter_mask(geography=["SG"])
    cands = index.candidates(terms, query_vec, mask=mask)
    assert cands.idx.size == 3 and all("SG" in index.geo_sets[i] for i in cands.idx)


def test_field_matches(index):
    terms = index.query_terms("resale emotion")
    m = index.field_matches(np.array([0, 4]), terms.ids)
    assert m["title"][0].tolist() == [1.0, 0.0]
    assert m["keywords"][1].tolist() == [0.0, 1.0]


def test_the_uncurated_view_has_the_same_datasets_without_keywords_and_themes(index):
    view = index.without_curation()
    assert view.ids == index.ids and np.array_equal(view.embeddings, index.embeddings)
    assert all(not r.keywords and not r.themes for r in view.records)
    assert index.records[4].keywords == ["eeg", "emotion"]  # the curated index is untouched
    # "climate" is only a keyword of the CO2 dataset
    assert index.bm25_scores(index.query_terms("climate"))[3] > 0
    assert not view.bm25_scores(view.query_terms("climate")).any()
