"""Cache policy rules: key canonicalisation, TTL tiers, quality bands (no Redis)."""

from __future__ import annotations

import numpy as np
import pytest

from dra_cache.config import CacheSettings
from dra_cache.policy import (
    DEFAULT_TTL_TIERS,
    InvalidInputError,
    check_unit_interval,
    key_from_json,
    normalise_key,
    parse_tiers,
    quality_band,
    ttl_for,
)


def test_equivalent_queries_share_a_key() -> None:
    base = normalise_key("singapore housing prices", 10, ["kaggle", "data_gov_sg"], ["SG"], "v2", "b")
    variants = [
        normalise_key("  Singapore\tHOUSING   prices ", 10, ["data_gov_sg", "kaggle", "kaggle"], ["SG"], "v2", "b"),
        # NFKC: full-width letters fold to plain ASCII.
        normalise_key("ｓｉｎｇａｐｏｒｅ housing prices", 10, ["kaggle", "data_gov_sg"], ["SG"], "v2", "b"),
    ]
    for variant in variants:
        assert variant == base
        assert variant.digest() == base.digest()


@pytest.mark.parametrize(
    "change",
    [
        {"max_results": 5},
        {"sources": ["kaggle"]},
        {"geography": ["global"]},
        {"model_version": "v3"},
        {"ab_arm": "a"},
        {"query": "singapore housing price"},
    ],
)
def test_anything_that_changes_the_answer_changes_the_key(change: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "query": "singapore housing prices",
        "max_results": 10,
        "sources": ["kaggle", "data_gov_sg"],
        "geography": ["SG"],
        "model_version": "v2",
        "ab_arm": "b",
    }
    base = normalise_key(**fields)  # type: ignore[arg-type]
    changed = normalise_key(**{**fields, **change})  # type: ignore[arg-type]
    assert changed.digest() != base.digest()


@pytest.mark.parametrize("query", ["", "   ", "\t\n"])
def test_empty_query_is_rejected(query: str) -> None:
    with pytest.raises(InvalidInputError, match="query is empty"):
        normalise_key(query, 10)


def test_negative_max_results_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="max_results"):
        normalise_key("eeg", -1)


def test_key_survives_json_round_trip() -> None:
    key = normalise_key("Ｅｍｏｔｉｏｎ EEG", 7, ["openneuro"], [], "v1", "")
    assert key_from_json(key.to_json()) == key


def test_default_tiers_give_longer_life_to_better_answers() -> None:
    tiers = parse_tiers(DEFAULT_TTL_TIERS)
    assert ttl_for(0.95, tiers, 0.5) == 86400
    assert ttl_for(0.9, tiers, 0.5) == 86400
    assert ttl_for(0.75, tiers, 0.5) == 21600
    assert ttl_for(0.5, tiers, 0.5) == 3600
    assert ttl_for(0.49, tiers, 0.5) is None
    assert ttl_for(0.3, tiers, 0.2) == 900
    ttls = [ttl_for(q, tiers, 0.0) for q in np.linspace(0, 1, 101)]
    assert all(a is not None and b is not None and a <= b for a, b in zip(ttls, ttls[1:], strict=False))


def test_float32_scores_land_in_the_expected_band() -> None:
    as_float32 = float(np.float32(0.9))
    assert as_float32 < 0.9
    rounded = check_unit_interval("quality_score", as_float32)
    assert quality_band(rounded) == "excellent"
    assert ttl_for(rounded, parse_tiers(DEFAULT_TTL_TIERS), 0.5) == 86400


@pytest.mark.parametrize("value", [-0.01, 1.01, float("nan")])
def test_scores_outside_unit_interval_are_rejected(value: float) -> None:
    with pytest.raises(InvalidInputError, match=r"in \[0, 1\]"):
        check_unit_interval("quality_score", value)


@pytest.mark.parametrize(
    ("score", "band"), [(1.0, "excellent"), (0.9, "excellent"), (0.89, "good"), (0.7, "good"), (0.6, "fair"), (0.1, "poor")]
)
def test_bands_follow_the_runbook(score: float, band: str) -> None:
    assert quality_band(score) == band


@pytest.mark.parametrize("spec", ["", "0.9", "1.5:60", "0.5:0", "a:b"])
def test_bad_tier_specs_are_rejected(spec: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_tiers(spec)


def test_settings_refuse_bad_tiers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHE_TTL_TIERS", "0.9:-5")
    with pytest.raises(ValueError, match="TTL tier"):
        CacheSettings()
