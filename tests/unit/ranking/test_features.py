"""Candidate features and source evidence: values that follow from the catalog and the query."""

from __future__ import annotations

import numpy as np

from dra_ranking.features import SOURCE_EVIDENCE_NAMES, F, candidate_features, make_context, source_evidence
from dra_ranking.text import hash_tokens, query_geographies, tokenize


def test_field_coverage_and_geography(index, query_vec):
    ctx = make_context(index, "singapore hdb resale", query_vec, domain="economics_finance", domain_confidence=0.9)
    assert ctx.geography == {"SG"}
    cands = index.candidates(ctx.terms, ctx.embedding)
    feats = candidate_features(index, ctx, cands)
    row = feats[cands.idx.tolist().index(index.position["data_gov_sg:d_hdb"])]
    assert row[F["title_cov"]] > 0 and row[F["keyword_cov"]] > 0
    assert row[F["geo_match"]] == 1.0 and row[F["sg_dataset"]] == 1.0 and row[F["sg_query"]] == 1.0
    assert row[F["theme_match"]] == 1.0 and abs(row[F["domain_conf"]] - 0.9) < 1e-6
    assert abs(row[F["quality"]] - 0.9) < 1e-6
    co2 = feats[cands.idx.tolist().index(index.position["world_bank:EN.ATM.CO2E.PC"])]
    assert co2[F["any_cov"]] == 0.0 and co2[F["geo_match"]] == 0.0
    assert np.all(feats[:, F["dense_gap"]] <= 0)


def test_unknown_domain_is_ignored(index, query_vec):
    ctx = make_context(index, "bus", query_vec, domain="astrology", domain_confidence=0.99)
    assert ctx.domain == "" and ctx.domain_confidence == 0.0


def test_source_evidence(index, query_vec):
    ctx = make_context(index, "housing prices", query_vec)
    cands = index.candidates(ctx.terms, ctx.embedding)
    ev = source_evidence(index, cands, 17)
    assert ev.shape == (17, len(SOURCE_EVIDENCE_NAMES))
    assert np.all(ev[:, 0] == 1.0)
    present = {index.sources[i] for i in cands.idx}
    assert int(ev[:, 1].sum()) == len(present)
    assert abs(float(ev[:, 5].sum()) - min(20, len(cands)) / 20) < 1e-6


def test_text_helpers():
    assert tokenize("I need the Housing Prices of flats") == ["hous", "price", "flat"]
    # "non-" negates its word: the Non-EEG dataset must not match "eeg"; "non-profit" meets "nonprofit"
    assert tokenize("Non-EEG signals of non-profit staff") == ["noneeg", "signal", "nonprofit", "staff"]
    assert tokenize("nonprofit EEG") == ["nonprofit", "eeg"]
    assert query_geographies("HDB flats in Singapore and the UK") == {"SG", "GB"}
    assert query_geographies("help us find data") == set()
    ids = hash_tokens(["a", "b", "a"], 100)
    assert len(ids) == 2 and all(1 <= i < 100 for i in ids) and ids == hash_tokens(["a", "b"], 100)
