"""The curated catalog shipped in dra_common/data/catalog/*.jsonl: every record checked, and the issue's minimums.

Works on whatever files exist; problems are listed with file and line so the file's author can fix them.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from dra_common.catalog.default import default_catalog_files
from dra_common.catalog.records import FIELDS, Candidate, CatalogRecord, validate_candidate
from dra_common.domain import DOMAINS, SINGAPORE_SOURCES, SOURCE_BY_NAME

REQUIRED_NON_EMPTY = ("source", "source_id", "title", "description", "publisher", "keywords", "themes", "geography",
                      "formats", "landing_page")
FILE_SOURCES = {
    "singapore.jsonl": set(SINGAPORE_SOURCES),
    "international.jsonl": {"world_bank", "imf", "oecd", "un_data", "who"},
    "research.jsonl": {"kaggle", "zenodo", "aws_opendata", "uci_ml", "openneuro", "physionet", "huggingface"},
}
# The minimums for the curated catalog.
MIN_TOTAL = 1500
MIN_SOURCES = 10
MIN_SINGAPORE_PUBLIC_SECTOR = 500
MIN_WORLD_BANK = 300


def _problems_of(path: Path, number: int, line: str, seen: dict[str, str]) -> tuple[list[str], CatalogRecord | None]:
    where = f"{path.name}:{number}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return [f"{where}: invalid JSON at column {exc.colno}: {exc.msg}"], None
    if not isinstance(data, dict):
        return [f"{where}: not a JSON object"], None
    problems = [f"{where}: unknown field {key!r}" for key in data if key not in FIELDS]
    problems += [f"{where}: required field {key!r} is empty or missing" for key in REQUIRED_NON_EMPTY
                 if not data.get(key)]
    source = data.get("source")
    if source not in SOURCE_BY_NAME:
        problems.append(f"{where}: source {source!r} is not a registered source")
    allowed = FILE_SOURCES.get(path.name)
    if allowed is not None and source not in allowed:
        problems.append(f"{where}: source {source!r} does not belong in {path.name} ({', '.join(sorted(allowed))})")
    keywords = data.get("keywords") or []
    if isinstance(keywords, list) and not 3 <= len(keywords) <= 10:
        problems.append(f"{where}: {len(keywords)} keywords (3-10 expected)")
    if isinstance(keywords, list) and any(isinstance(k, str) and k != k.lower() for k in keywords):
        problems.append(f"{where}: keywords must be lower case")
    themes = data.get("themes") or []
    if isinstance(themes, list) and (not 1 <= len(themes) <= 3 or any(t not in DOMAINS for t in themes)):
        problems.append(f"{where}: themes {themes!r} must be 1-3 of {', '.join(DOMAINS)}")
    formats = data.get("formats") or []
    if isinstance(formats, list) and any(isinstance(f, str) and f != f.upper() for f in formats):
        problems.append(f"{where}: formats must be upper case")
    result = validate_candidate(Candidate(where, data))
    if not isinstance(result, CatalogRecord):
        problems.append(f"{where}: {result.reason}")
        return problems, None
    if result.id in seen:
        problems.append(f"{where}: duplicate id {result.id!r} (first at {seen[result.id]})")
    else:
        seen[result.id] = where
    return problems, result


def _load() -> tuple[list[str], list[CatalogRecord]]:
    problems: list[str] = []
    records: list[CatalogRecord] = []
    seen: dict[str, str] = {}
    for path in default_catalog_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            found, record = _problems_of(path, number, line, seen)
            problems += found
            if record is not None and not found:
                records.append(record)
    return problems, records


def test_every_curated_record_is_valid() -> None:
    problems, _ = _load()
    shown = "\n".join(problems[:80]) + (f"\n... and {len(problems) - 80} more" if len(problems) > 80 else "")
    assert not problems, f"{len(problems)} problem(s) in the curated catalog:\n{shown}"


def test_curated_catalog_meets_minimum_counts() -> None:
    """MINIMUM COUNTS of the issue (total, sources, Singapore public sector, World Bank); reports each unmet one."""
    _, records = _load()
    per_source = Counter(r.source for r in records)
    singapore = sum(n for s, n in per_source.items() if SOURCE_BY_NAME[s].singapore_public_sector)
    checks = [
        ("valid records in total", len(records), MIN_TOTAL),
        ("sources with records", len(per_source), MIN_SOURCES),
        ("Singapore public-sector records", singapore, MIN_SINGAPORE_PUBLIC_SECTOR),
        ("world_bank records", per_source.get("world_bank", 0), MIN_WORLD_BANK),
    ]
    unmet = [f"MINIMUM NOT MET: {label}: {value} < {minimum}" for label, value, minimum in checks if value < minimum]
    assert not unmet, "\n".join(unmet) + f"\n(per source: {dict(per_source.most_common())})"


@pytest.mark.parametrize("name", sorted(FILE_SOURCES))
def test_curated_file_is_shipped(name: str) -> None:
    names = {p.name for p in default_catalog_files()}
    assert name in names, f"{name} is missing from dra_common/data/catalog (found: {sorted(names)})"
