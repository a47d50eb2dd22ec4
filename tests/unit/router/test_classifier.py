"""The domain classifier and the labelled data it learns from; held-out figures are computed for real."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest

from dra_common.domain import DOMAINS
from dra_common.evalsets import LabelledQuery, load_labelled
from dra_common.text import normalize_query
from dra_router.classifier import DomainClassifier, training_examples
from dra_router.evaluation import evaluate, heldout
from dra_router.routing import Router


def test_labelled_set_is_large_balanced_and_split(labelled: list[LabelledQuery]) -> None:
    assert len(labelled) >= 450
    per_domain = Counter(q.domain for q in labelled)
    assert set(per_domain) == set(DOMAINS)
    assert min(per_domain.values()) >= 40
    held = [q for q in labelled if q.split == "heldout"]
    assert 0.2 <= len(held) / len(labelled) <= 0.3
    assert {q.domain for q in held} == set(DOMAINS)
    assert sum(q.singapore for q in labelled) >= 100
    assert sum(q.singapore for q in held) >= 25
    assert len({normalize_query(q.query) for q in labelled}) == len(labelled), "duplicate queries"


def test_split_follows_the_query_hash(labelled: list[LabelledQuery]) -> None:
    """The split was drawn by hash, not chosen by hand."""
    for q in labelled:
        bucket = int(hashlib.sha256(normalize_query(q.query).encode()).hexdigest()[:8], 16) % 100
        assert q.split == ("heldout" if bucket < 25 else "train"), q


def test_load_labelled_rejects_bad_rows(tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("query,domain,singapore,split\nfoo,astrology,0,train\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: unknown domain 'astrology'"):
        load_labelled(path)


def test_training_never_sees_a_heldout_query(labelled: list[LabelledQuery], parsed_mappings) -> None:
    texts, labels = training_examples(labelled, parsed_mappings.split("train"))
    held = {normalize_query(q.query) for q in labelled if q.split == "heldout"}
    assert not held & {normalize_query(t) for t in texts}
    assert len(texts) == len(labels) > 450


def test_heldout_domain_accuracy_and_singapore_first(router: Router, labelled: list[LabelledQuery]) -> None:
    report = evaluate(router, heldout(labelled), timing_rounds=1)
    assert report.queries >= 100
    assert report.accuracy >= 0.90, report.misses
    assert report.sg_precision >= 0.95
    assert report.sg_recall >= 0.95


def test_numpy_decision_values_match_libsvm(router: Router, encoder) -> None:
    vectors = encoder.encode(["gdp data", "EEG study", "bus arrival times", "???"]).astype(np.float64)
    expected = router.classifier._svm.decision_function(vectors)
    assert np.allclose(router.classifier.decision_values(vectors), expected, atol=1e-9)


def test_probabilities_are_a_distribution_led_by_the_svm_choice(router: Router, encoder) -> None:
    vectors = encoder.encode(["machine learning datasets", "asdf qwer", "climate change indicators"])
    probs = router.classifier.predict_proba(vectors)
    assert np.allclose(probs.sum(axis=1), 1.0)
    svm_choice = router.classifier._svm.predict(vectors.astype(np.float64))
    assert list(probs.argmax(axis=1)) == list(svm_choice)


def test_unsure_answers_fall_back_to_general() -> None:
    clf = DomainClassifier(min_confidence=0.5)
    probs = np.array([0.40, 0.30, 0.10, 0.05, 0.05, 0.04, 0.03, 0.03])
    decided = clf.decide(probs)
    assert decided.domain == "general" and decided.fallback and decided.confidence == pytest.approx(0.40)
    sure = clf.decide(np.array([0.90, 0.02, 0.02, 0.02, 0.01, 0.01, 0.01, 0.01]))
    assert sure.domain == DOMAINS[0] and not sure.fallback


def test_fit_needs_every_domain(encoder) -> None:
    texts = ["gdp data", "EEG study"]
    with pytest.raises(ValueError, match="no training examples"):
        DomainClassifier().fit(texts, encoder.encode(texts), ["economics_finance", "psychology"])


def test_external_query_sets_are_loaded_and_checked(tmp_path) -> None:
    from dra_router.evaluation import load_queries

    good = tmp_path / "unseen.csv"
    good.write_text("query,domain,singapore\nHDB prices,economics_finance,1\nEEG study,psychology,0\n", encoding="utf-8")
    rows = load_queries(good)
    assert [(q.query, q.domain, q.singapore) for q in rows] == [
        ("HDB prices", "economics_finance", True), ("EEG study", "psychology", False)]
    bad = tmp_path / "bad.csv"
    bad.write_text("query,domain,singapore\nx,sports,0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown domain 'sports'"):
        load_queries(bad)
