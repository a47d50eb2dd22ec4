"""Source priors and the Singapore-first rule, on synthetic data and on the trained router."""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest

from dra_common.domain import DOMAINS, SINGAPORE_SOURCES, SOURCE_NAMES
from dra_common.mappings import Mapping
from dra_common.text import MAX_QUERY_CHARS
from dra_router.feedback import aggregate
from dra_router.geography import detect
from dra_router.priors import FeedbackStat, SourcePrior, SourcePriors
from dra_router.routing import InvalidQueryError, Router, order_sources


def _mapping(query: str, source: str, score: float, domain: str | None = "psychology") -> Mapping:
    return Mapping(query, source, score, "", "test", domain, None if domain else "SG", 1, "train")


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return v / np.linalg.norm(v)


def _priors(records: list[Mapping], singapore: list[bool] | None = None, feedback=()) -> SourcePriors:
    embeddings = {m.query: _unit(i) for i, m in enumerate({m.query: m for m in records}.values())}
    return SourcePriors(records, [m.domain or "general" for m in records],
                        singapore or [False] * len(records), embeddings, feedback)


def _psychology() -> np.ndarray:
    p = np.zeros(len(DOMAINS))
    p[DOMAINS.index("psychology")] = 1.0
    return p


def test_priors_follow_the_mapping_scores() -> None:
    records = [_mapping("psychology", "zenodo", 0.9), _mapping("psychology", "kaggle", 0.6),
               _mapping("mental health", "zenodo", 0.95), _mapping("mental health", "world_bank", 0.1)]
    ranked = _priors(records).rank(_psychology(), _unit(999), singapore=False)
    order = [p.source for p in ranked]
    assert order[0] == "zenodo"
    assert order.index("kaggle") < order.index("world_bank")
    assert {p.source for p in ranked} == set(SOURCE_NAMES)
    # Flip the judgments and the order flips: nothing is a constant.
    flipped = [_mapping(m.query, m.source, 1.0 - m.score) for m in records]
    assert _priors(flipped).rank(_psychology(), _unit(999), singapore=False)[0].source == "world_bank"


def test_an_exact_mapped_query_dominates_its_prior() -> None:
    records = [_mapping("eeg emotion", "openneuro", 0.95), _mapping("eeg emotion", "kaggle", 0.3),
               _mapping("personality", "kaggle", 0.9), _mapping("personality", "openneuro", 0.2)]
    priors = _priors(records)
    same_as_first = priors._matrix[0]
    ranked = priors.rank(_psychology(), same_as_first, singapore=False)
    assert ranked[0].source == "openneuro"
    assert "eeg emotion" in ranked[0].reason


def test_feedback_moves_the_prior() -> None:
    records = [_mapping("psychology", "zenodo", 0.8), _mapping("psychology", "kaggle", 0.8),
               _mapping("psychology", "world_bank", 0.2)]
    base = _priors(records).domain_prior("psychology", "kaggle")
    bad = [FeedbackStat("psychology", False, "kaggle", 1.0, 50)]
    good = [FeedbackStat("psychology", False, "kaggle", 5.0, 50)]
    assert _priors(records, feedback=bad).domain_prior("psychology", "kaggle") < base / 2
    assert _priors(records, feedback=good).domain_prior("psychology", "kaggle") > base
    assert _priors(records, feedback=good).n_feedback == 50


def test_feedback_aggregation_weights_by_number_of_ratings() -> None:
    rows = [("q1", "kaggle", 5.0, 3), ("q2", "kaggle", 1.0, 1), ("q3", "zenodo", 4.0, 2)]
    stats = aggregate(rows, lambda qs: [("psychology", False)] * len(qs))
    by_source = {s.source: s for s in stats}
    assert by_source["kaggle"].mean_rating == pytest.approx(4.0) and by_source["kaggle"].count == 4
    assert by_source["zenodo"].mean_rating == pytest.approx(4.0) and by_source["zenodo"].count == 2


def _ranked(names: list[str]) -> list[SourcePrior]:
    return [SourcePrior(n, 1.0 - i / 100, "r") for i, n in enumerate(names)]


def test_singapore_first_puts_every_singapore_source_first_for_singapore_only_queries() -> None:
    ranked = _ranked(["world_bank", "kaggle", "singstat", "imf", "data_gov_sg", "onemap", "lta_datamall"])
    ordered, applied, reason = order_sources(ranked, detect("HDB resale prices in Tampines"))
    assert applied and "hdb" in reason
    assert [s.source for s in ordered[:4]] == ["singstat", "data_gov_sg", "onemap", "lta_datamall"]
    assert ordered[0].reason.startswith("Singapore public-sector source")


def test_singapore_first_pins_only_the_best_singapore_source_for_mixed_queries() -> None:
    ranked = _ranked(["world_bank", "imf", "singstat", "data_gov_sg", "kaggle"])
    ordered, applied, reason = order_sources(ranked, detect("compare Singapore and Malaysia GDP"))
    assert applied and "MY" in reason
    assert [s.source for s in ordered[:4]] == ["singstat", "world_bank", "imf", "data_gov_sg"]


@pytest.mark.parametrize("query", ["singer song lyrics dataset", "single-cell sequencing", "Taipei MRT ridership"])
def test_singapore_first_never_applies_without_singapore_intent(query: str) -> None:
    ranked = _ranked(["data_gov_sg", "kaggle", "zenodo"])
    ordered, applied, reason = order_sources(ranked, detect(query))
    assert not applied and reason.startswith("Singapore-first not applied")
    assert [s.source for s in ordered] == ["data_gov_sg", "kaggle", "zenodo"]


def test_preferred_sources_follow_the_singapore_block() -> None:
    ranked = _ranked(["world_bank", "kaggle", "singstat", "zenodo", "data_gov_sg", "onemap", "lta_datamall"])
    ordered, _, _ = order_sources(ranked, detect("singapore housing"), ["zenodo"])
    assert [s.source for s in ordered[:5]] == ["singstat", "data_gov_sg", "onemap", "lta_datamall", "zenodo"]


@pytest.mark.parametrize(
    ("query", "domain", "expected_top3"),
    [
        ("psychology research data", "psychology", {"kaggle", "zenodo"}),
        ("singapore housing prices", "economics_finance", {"data_gov_sg", "singstat"}),
        ("climate change indicators", "climate_environment", {"world_bank", "zenodo"}),
        ("machine learning datasets", "machine_learning", {"kaggle"}),
    ],
)
def test_runbook_validation_queries(router: Router, query: str, domain: str, expected_top3: set[str]) -> None:
    d = router.classify(query)
    assert d.domain == domain
    assert d.confidence > 0.5
    assert expected_top3 & set(d.recommended_sources[:3])


def test_singapore_queries_lead_with_singapore_sources(router: Router) -> None:
    for query in ["LTA bus arrival data", "dengue cases in Bedok", "SG population by planning area"]:
        d = router.classify(query)
        assert d.singapore_first_applied
        assert set(d.recommended_sources[: len(SINGAPORE_SOURCES)]) == set(SINGAPORE_SOURCES)
    assert router.classify("LTA bus arrival data").recommended_sources[0] == "lta_datamall"


def test_router_rejects_empty_and_clips_long_queries(router: Router) -> None:
    for empty in ["", "   ", "\n\t"]:
        with pytest.raises(InvalidQueryError, match="query is empty"):
            router.classify(empty)
    long = router.classify("rainfall data for my thesis " * 100)
    assert len(long.query) == MAX_QUERY_CHARS
    assert long.notices and "cut" in long.notices[0]


def test_any_unicode_is_classified_and_unsure_input_is_general(router: Router) -> None:
    for query in ["📊📈", "🙂🙂🙂", "asdfgh qwerty", "人口 普查 数据"]:
        d = router.classify(query)
        assert d.domain in DOMAINS
        assert 0.0 <= d.confidence <= 1.0
    assert router.classify("📊📈").domain == "general"


def test_embedding_is_the_encoders_unit_vector(router: Router, encoder) -> None:
    d = router.classify("EEG data for an emotion study")
    assert d.embedding.shape == (384,)
    assert np.linalg.norm(d.embedding) == pytest.approx(1.0, abs=1e-4)
    assert np.allclose(d.embedding, encoder.encode(["EEG data for an emotion study"])[0], atol=1e-5)


def test_routing_without_encoding_is_fast(router: Router, encoder, labelled) -> None:
    queries = [q.query for q in labelled[:200]]
    vectors = encoder.encode(queries)
    router.route(queries[0], vectors[0])
    times = []
    for text, vector in zip(queries, vectors, strict=True):
        start = time.perf_counter()
        router.route(text, vector)
        times.append((time.perf_counter() - start) * 1000)
    assert statistics.median(times) <= 5.0
