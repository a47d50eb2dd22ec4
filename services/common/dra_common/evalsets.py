"""Judged query sets shipped in the repo, read by monitoring, ranking evaluation and router evaluation.

- `data/eval/judgments.jsonl`: dataset-level graded judgments (0–3) per query, with a train/heldout split.
- `data/eval/labelled_queries.jsonl`: queries labelled with their domain and Singapore intent, with a split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

EVAL_DIR = Path(__file__).parent / "data" / "eval"
JUDGMENTS_PATH = EVAL_DIR / "judgments.jsonl"
LABELLED_QUERIES_PATH = EVAL_DIR / "labelled_queries.jsonl"


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


def labelled_queries(split: str | None = None, path: Path = LABELLED_QUERIES_PATH) -> list[LabelledQuery]:
    """Labelled routing queries, optionally only one split."""
    out = [LabelledQuery(d["query"], d["domain"], bool(d["singapore"]), d.get("split", "train")) for d in _lines(path)]
    return [q for q in out if split is None or q.split == split]
