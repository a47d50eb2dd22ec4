"""The training-mappings parser, its held-out split, the processed JSON, and the shipped mappings file."""

from __future__ import annotations

import json
import re

import pytest

from dra_common import mappings
from dra_common.domain import DOMAINS, SINGAPORE_SOURCES, SOURCE_NAMES
from dra_common.settings import Settings

SAMPLE = """# Training Mappings

Intro text with an arrow → that is not a mapping.

## Format
```
- query → source (relevance_score) - reason
```
- **query**: what people type

## Psychology Queries
- psychology → kaggle (0.95) - Many psychology datasets
- psychology -> zenodo (0.90) - ASCII arrow works too
- mental health data → who (0.85)
- psychology → nosuchsource (0.50) - typo in the source
- psychology → world_bank (1.50) - out of range
- psychology world_bank 0.25 no arrow
- psychology → kaggle (0.40) - duplicate of line 12

## Singapore-Specific Queries
- singapore housing → data_gov_sg (0.96) - HDB resale prices

## Astrology Queries
- horoscope → kaggle (0.10) - no such domain
"""


def test_valid_lines_are_parsed_with_section_domain_and_line_numbers() -> None:
    result = mappings.parse_text(SAMPLE)
    got = [(r.query, r.source, r.score, r.domain, r.geography, r.line) for r in result.records]
    assert got == [
        ("psychology", "kaggle", 0.95, "psychology", None, 12),
        ("psychology", "zenodo", 0.90, "psychology", None, 13),
        ("mental health data", "who", 0.85, "psychology", None, 14),
        ("singapore housing", "data_gov_sg", 0.96, None, "SG", 21),
    ]
    assert result.records[0].reason == "Many psychology datasets"
    assert result.records[2].reason == ""
    assert result.records[3].section == "Singapore-Specific Queries"


def test_malformed_lines_are_reported_with_line_numbers_and_reasons() -> None:
    errors = {e.line: e.message for e in mappings.parse_text(SAMPLE).errors}
    assert set(errors) == {15, 16, 17, 18, 23, 24}
    assert "unknown source 'nosuchsource'" in errors[15]
    assert "outside 0.0-1.0" in errors[16]
    assert "expected '- query → source (0.95) - reason'" in errors[17]
    assert "duplicate of line 12" in errors[18]
    assert "unknown mapping section" in errors[23]
    assert "unknown section" in errors[24]
    assert str(mappings.parse_text(SAMPLE).errors[0]).startswith("line 15: ")


def test_mapping_outside_a_queries_section_is_an_error() -> None:
    result = mappings.parse_text("## Notes\n- gdp → world_bank (0.9) - misplaced\n")
    assert result.records == []
    assert result.errors[0].line == 2 and "outside" in result.errors[0].message


def test_split_is_deterministic_per_query_and_near_a_fifth() -> None:
    queries = [f"query number {i} about topic {i % 7}" for i in range(2000)]
    first = [mappings.split_of(q) for q in queries]
    assert first == [mappings.split_of(q) for q in queries]
    share = first.count(mappings.HELDOUT) / len(first)
    assert 0.17 < share < 0.23
    # Case and spacing do not move a query to the other side.
    assert mappings.split_of("GDP  Data") == mappings.split_of("gdp data")


def test_all_mappings_of_one_query_share_a_split() -> None:
    result = mappings.parse_file()
    by_query: dict[str, set[str]] = {}
    for r in result.records:
        by_query.setdefault(r.query, set()).add(r.split)
    assert all(len(splits) == 1 for splits in by_query.values())


def test_processed_json_round_trips_and_is_created_under_data_dir(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    result = mappings.parse_text(SAMPLE)
    path = mappings.write_processed(result.records, mappings.processed_path(settings))
    assert path == tmp_path / "data" / "processed" / "enhanced_training_mappings.json"
    with open(path) as handle:
        data = json.load(handle)
    assert len(data) == len(result.records)
    assert data[0]["query"] == "psychology" and data[0]["split"] in ("train", "heldout")
    assert mappings.load_processed(path) == result.records


@pytest.fixture(scope="module")
def shipped() -> mappings.ParseResult:
    return mappings.parse_file()


def test_shipped_file_parses_cleanly_and_is_large_enough(shipped: mappings.ParseResult) -> None:
    assert shipped.errors == []
    assert len(shipped.records) >= 320
    assert len({r.query for r in shipped.records}) >= 120
    assert {r.source for r in shipped.records} <= set(SOURCE_NAMES)


def test_shipped_file_covers_every_domain_and_singapore(shipped: mappings.ParseResult) -> None:
    per_domain = {d: sum(r.domain == d for r in shipped.records) for d in DOMAINS}
    assert min(per_domain.values()) >= 30, per_domain
    singapore = [r for r in shipped.records if r.geography == "SG"]
    assert len(singapore) >= 60
    assert {r.source for r in singapore} >= set(SINGAPORE_SOURCES)


def test_shipped_file_has_negative_judgments_and_both_splits(shipped: mappings.ParseResult) -> None:
    assert sum(r.score < 0.3 for r in shipped.records) >= 30
    assert shipped.split(mappings.HELDOUT) and shipped.split(mappings.TRAIN)


def test_runbook_quality_regexes_count_the_shipped_file() -> None:
    """The runbook's investigation script counts mappings by score band with these expressions."""
    content = mappings.DEFAULT_MAPPINGS_PATH.read_text(encoding="utf-8")
    high = len(re.findall(r"→.*\(0\.[8-9]\d*\)", content))
    low = len(re.findall(r"→.*\(0\.[0-4]\d*\)", content))
    records = mappings.parse_file().records
    assert high == sum(r.score >= 0.8 for r in records)
    assert low == sum(r.score < 0.5 for r in records)


def test_every_shipped_query_judges_every_registered_source(shipped: mappings.ParseResult) -> None:
    """Source-level NDCG counts an unjudged source as irrelevant, so every query judges all of them."""
    judged: dict[str, set[str]] = {}
    for r in shipped.records:
        judged.setdefault(r.query, set()).add(r.source)
    incomplete = {q: sorted(set(SOURCE_NAMES) - s) for q, s in judged.items() if s != set(SOURCE_NAMES)}
    assert not incomplete, list(incomplete.items())[:5]
