"""The training mappings: expert query → source relevance judgments kept in `training_mappings.md`.

The file is written by people, so the parser is strict about each mapping line (a typo in a source
name must not silently become a new source) but keeps every valid line when others are broken: the
caller gets the records and a list of errors with line numbers. Router priors and ranking training
share this one parser so they agree on what the file says.

Line format, inside a section whose title ends with "Queries" (e.g. `## Psychology Queries`)::

    - query → source (0.95) - reason

A deterministic fifth of the *queries* is held out (by a hash of the normalised query text, so every
mapping of one query lands on the same side and the split never moves when lines are added); the
held-out records are for evaluation only and must never be used for training.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dra_common.domain import DOMAINS, SOURCE_NAMES
from dra_common.settings import REPO_ROOT, Settings
from dra_common.text import normalize_query

DEFAULT_MAPPINGS_PATH = REPO_ROOT / "training_mappings.md"
PROCESSED_NAME = "enhanced_training_mappings.json"
HELDOUT_PERCENT = 20
TRAIN = "train"
HELDOUT = "heldout"

# Section titles (case-folded, "and" for "&", without the trailing "queries") → domain.
# A section that names a geography instead of a domain maps to (None, country code).
_SECTIONS: dict[str, tuple[str | None, str | None]] = {
    "psychology": ("psychology", None),
    "machine learning": ("machine_learning", None),
    "climate and environment": ("climate_environment", None),
    "climate": ("climate_environment", None),
    "economics and finance": ("economics_finance", None),
    "economics": ("economics_finance", None),
    "health and medical": ("health_medicine", None),
    "health and medicine": ("health_medicine", None),
    "health": ("health_medicine", None),
    "education": ("education", None),
    "transport and urban": ("transport_urban", None),
    "transport": ("transport_urban", None),
    "general": ("general", None),
    "singapore-specific": (None, "SG"),
    "singapore": (None, "SG"),
}

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
_MAPPING = re.compile(
    r"^-\s+(?P<query>.+?)\s+(?:→|->)\s+(?P<source>[A-Za-z0-9_.-]+)\s+"
    r"\((?P<score>[0-9]+(?:\.[0-9]+)?)\)\s*(?:-\s*(?P<reason>.*))?$"
)


@dataclass(frozen=True)
class Mapping:
    """One judged (query, source) pair."""

    query: str
    source: str
    score: float
    reason: str
    section: str
    # Domain of the section; None for geographic sections such as "Singapore-Specific Queries".
    domain: str | None
    # Country code of a geographic section ("SG"), else None.
    geography: str | None
    line: int
    split: str


@dataclass(frozen=True)
class MappingError:
    """A line that could not be used, and why."""

    line: int
    text: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}: {self.text!r}"


@dataclass
class ParseResult:
    """Valid records plus the errors of the lines that were rejected."""

    records: list[Mapping] = field(default_factory=list)
    errors: list[MappingError] = field(default_factory=list)

    def split(self, name: str) -> list[Mapping]:
        """Records of one split ("train" or "heldout")."""
        return [r for r in self.records if r.split == name]


def split_of(query: str, heldout_percent: int = HELDOUT_PERCENT) -> str:
    """Train or held-out for a query, from a hash of its normalised text (stable across edits of the file)."""
    digest = hashlib.sha256(normalize_query(query).encode("utf-8")).hexdigest()
    return HELDOUT if int(digest[:8], 16) % 100 < heldout_percent else TRAIN


def _section_key(title: str) -> str:
    key = title.casefold().replace("&", " and ")
    key = re.sub(r"\bqueries\b", " ", key)
    return re.sub(r"\s+", " ", key).strip()


def parse_text(text: str) -> ParseResult:
    """Parse the mappings markdown; every malformed mapping line becomes an error, the rest are kept."""
    result = ParseResult()
    section: str | None = None
    section_info: tuple[str | None, str | None] | None = None
    in_fence = False
    seen: dict[tuple[str, str], int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence or not line:
            continue
        heading = _HEADING.match(line)
        if heading:
            if len(heading.group(1)) == 2:
                title = heading.group(2)
                if title.casefold().rstrip().endswith("queries"):
                    section = title
                    section_info = _SECTIONS.get(_section_key(title))
                    if section_info is None:
                        known = ", ".join(sorted({k for k in _SECTIONS}))
                        result.errors.append(
                            MappingError(number, line, f"unknown mapping section (known: {known})")
                        )
                else:
                    section, section_info = None, None
            continue
        looks_like_mapping = line.startswith("- ") and ("→" in line or "->" in line)
        if section is None:
            if looks_like_mapping:
                result.errors.append(MappingError(number, line, "mapping outside a '... Queries' section"))
            continue
        if not line.startswith("-"):
            continue
        if section_info is None:
            result.errors.append(MappingError(number, line, f"mapping in unknown section {section!r}"))
            continue
        record, message = _parse_line(line, number, section, section_info)
        if record is None:
            result.errors.append(MappingError(number, line, message))
            continue
        key = (normalize_query(record.query), record.source)
        if key in seen:
            result.errors.append(
                MappingError(number, line, f"duplicate of line {seen[key]} (same query and source)")
            )
            continue
        seen[key] = number
        result.records.append(record)
    return result


def _parse_line(
    line: str, number: int, section: str, info: tuple[str | None, str | None]
) -> tuple[Mapping | None, str]:
    match = _MAPPING.match(line)
    if match is None:
        return None, "expected '- query → source (0.95) - reason'"
    query = match.group("query").strip()
    source = match.group("source")
    if source not in SOURCE_NAMES:
        return None, f"unknown source {source!r} (known: {', '.join(SOURCE_NAMES)})"
    score = float(match.group("score"))
    if not 0.0 <= score <= 1.0:
        return None, f"relevance {score} outside 0.0-1.0"
    domain, geography = info
    if domain is not None and domain not in DOMAINS:
        return None, f"section maps to unknown domain {domain!r}"
    return (
        Mapping(
            query=query,
            source=source,
            score=score,
            reason=(match.group("reason") or "").strip(),
            section=section,
            domain=domain,
            geography=geography,
            line=number,
            split=split_of(query),
        ),
        "",
    )


def parse_file(path: str | Path | None = None) -> ParseResult:
    """Parse `path` (default: `training_mappings.md` at the repository root)."""
    target = Path(path) if path is not None else DEFAULT_MAPPINGS_PATH
    return parse_text(target.read_text(encoding="utf-8"))


def processed_path(settings: Settings) -> Path:
    """Where the processed mappings live: `<data_dir>/processed/enhanced_training_mappings.json`."""
    return Path(settings.data_dir) / "processed" / PROCESSED_NAME


def write_processed(records: Iterable[Mapping], path: Path) -> Path:
    """Write the records as a JSON list, atomically, so a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = [asdict(r) for r in records]
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, ensure_ascii=False, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_processed(path: Path) -> list[Mapping]:
    """Read records written by `write_processed`."""
    with open(path, encoding="utf-8") as handle:
        return [Mapping(**item) for item in json.load(handle)]
