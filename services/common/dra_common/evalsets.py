"""Judged query sets shipped in the repo, read by monitoring, ranking evaluation and router evaluation.

- `data/eval/judgments.jsonl`: dataset-level graded judgments (0–3) per query, with a train/heldout split.
- `data/eval/labelled_queries.csv`: queries labelled with their domain and Singapore intent, with a split
  (columns query, domain, singapore 0/1, split).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from dra_common.domain import DOMAINS

EVAL_DIR = Path(__file__).parent / "data" / "eval"
JUDGMENTS_PATH = EVAL_DIR / "judgments.jsonl"
LABELLED_QUERIES_PATH = EVAL_DIR / "labelled_queries.csv"


@dataclass(frozen=True)
class JudgedQuery:
    """A query with graded relevance of catalog datasets (0 = not relevant … 3 = perfect)."""

    qid: str
    query: str
    split: str
    judgments: dict[str, int]


@dataclass(frozen=True)
class LabelledQuery:
    """A query with its correct domain and whether it has Singapore intent."""

    query: str
    domain: str
    singapore: bool
    split: str


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def judged_queries(split: str | None = None, path: Path = JUDGMENTS_PATH) -> list[JudgedQuery]:
    """Judged queries, optionally only one split ("train" or "heldout")."""
    out = [
        JudgedQuery(str(d["qid"]), d["query"], d.get("split", "train"), {k: int(v) for k, v in d["judgments"].items()})
        for d in _lines(path)
    ]
    return [q for q in out if split is None or q.split == split]


def load_labelled(path: str | Path | None = None) -> list[LabelledQuery]:
    """Every labelled query (default: the CSV shipped in this package), validated row by row."""
    text = Path(path or LABELLED_QUERIES_PATH).read_text(encoding="utf-8")
    rows: list[LabelledQuery] = []
    for number, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        domain = row["domain"].strip()
        split = row["split"].strip()
        if domain not in DOMAINS:
            raise ValueError(f"labelled queries line {number}: unknown domain {domain!r}")
        if split not in ("train", "heldout"):
            raise ValueError(f"labelled queries line {number}: split must be train or heldout, not {split!r}")
        if row["singapore"].strip() not in ("0", "1"):
            raise ValueError(f"labelled queries line {number}: singapore must be 0 or 1")
        rows.append(LabelledQuery(row["query"], domain, row["singapore"].strip() == "1", split))
    return rows


def labelled_queries(split: str | None = None, path: str | Path | None = None) -> list[LabelledQuery]:
    """Labelled routing queries, optionally only one split."""
    return [q for q in load_labelled(path) if split is None or q.split == split]
