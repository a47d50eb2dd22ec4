"""Offline evaluation of the router: domain accuracy, Singapore-first precision/recall, latency.

Every figure is counted from labelled queries (by default the held-out split of the shipped set, which is
never trained on; or any CSV with `query,domain,singapore` columns, such as an unseen set kept outside
the repo). Latency is measured per query in-process, with the query encoding timed separately, because
the router's own work (classifier, geography rules, priors) is what the 5 ms target is about.
"""

from __future__ import annotations

import csv
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dra_common.domain import DOMAINS
from dra_router.classifier import LabelledQuery
from dra_router.routing import Router

RUNBOOK_QUERIES = (
    "psychology research data",
    "singapore housing prices",
    "climate change indicators",
    "machine learning datasets",
)


@dataclass
class Miss:
    """One query the router got wrong."""

    query: str
    expected_domain: str
    domain: str
    confidence: float
    expected_singapore: bool
    singapore_first: bool


@dataclass
class Report:
    """Counts and rates of one evaluation run."""

    queries: int
    correct: int
    per_domain: dict[str, tuple[int, int]]
    sg_true_positive: int
    sg_false_positive: int
    sg_false_negative: int
    route_ms: list[float] = field(default_factory=list)
    encode_ms: list[float] = field(default_factory=list)
    misses: list[Miss] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Share of queries whose domain was right."""
        return self.correct / self.queries if self.queries else 0.0

    @property
    def sg_precision(self) -> float:
        """Of the queries Singapore-first was applied to, the share that have Singapore intent."""
        applied = self.sg_true_positive + self.sg_false_positive
        return self.sg_true_positive / applied if applied else 1.0

    @property
    def sg_recall(self) -> float:
        """Of the queries with Singapore intent, the share Singapore-first was applied to."""
        relevant = self.sg_true_positive + self.sg_false_negative
        return self.sg_true_positive / relevant if relevant else 1.0

    def latency(self) -> dict[str, float]:
        """p50/p99 in ms of routing (without encoding), encoding, and both."""
        total = [r + e for r, e in zip(self.route_ms, self.encode_ms, strict=True)]
        out: dict[str, float] = {}
        for name, values in (("route", self.route_ms), ("encode", self.encode_ms), ("total", total)):
            if values:
                out[f"{name}_p50_ms"] = float(np.percentile(values, 50))
                out[f"{name}_p99_ms"] = float(np.percentile(values, 99))
        return out

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return {
            "queries": self.queries,
            "domain_accuracy": self.accuracy,
            "per_domain_accuracy": {d: (c / n if n else None) for d, (c, n) in self.per_domain.items()},
            "singapore_first_precision": self.sg_precision,
            "singapore_first_recall": self.sg_recall,
            "singapore_counts": {
                "true_positive": self.sg_true_positive,
                "false_positive": self.sg_false_positive,
                "false_negative": self.sg_false_negative,
            },
            "latency": self.latency(),
            "misses": [vars(m) for m in self.misses],
        }


def load_queries(path: str | Path) -> list[LabelledQuery]:
    """A query set from CSV (`query,domain,singapore`; `split` ignored), e.g. an unseen judge set."""
    rows: list[LabelledQuery] = []
    with open(path, encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            domain = (row.get("domain") or "").strip()
            if domain not in DOMAINS:
                raise ValueError(f"{path} line {number}: unknown domain {domain!r} (one of {', '.join(DOMAINS)})")
            flag = (row.get("singapore") or "0").strip().lower() in ("1", "true", "yes")
            rows.append(LabelledQuery(row["query"], domain, flag, "heldout"))
    return rows


def evaluate(router: Router, queries: Sequence[LabelledQuery], *, timing_rounds: int = 3) -> Report:
    """Score `queries`; latency is the median of `timing_rounds` timed runs per query.

    Encoding is timed with the encoder's uncached batch call, so repeated evaluation does not hide it.
    """
    per_domain = {d: [0, 0] for d in DOMAINS}
    report = Report(len(queries), 0, {}, 0, 0, 0)
    encoder: Any = router.encoder
    for q in queries:
        text = q.query.strip()
        encode_times = []
        for _ in range(max(1, timing_rounds)):
            start = time.perf_counter()
            embedding = encoder.encode([text])[0]
            encode_times.append((time.perf_counter() - start) * 1000)
        route_times = []
        decision = None
        for _ in range(max(1, timing_rounds)):
            start = time.perf_counter()
            decision = router.route(text, embedding)
            route_times.append((time.perf_counter() - start) * 1000)
        assert decision is not None
        report.encode_ms.append(statistics.median(encode_times))
        report.route_ms.append(statistics.median(route_times))
        per_domain[q.domain][1] += 1
        if decision.domain == q.domain:
            report.correct += 1
            per_domain[q.domain][0] += 1
        applied = decision.singapore_first_applied
        report.sg_true_positive += applied and q.singapore
        report.sg_false_positive += applied and not q.singapore
        report.sg_false_negative += (not applied) and q.singapore
        if decision.domain != q.domain or applied != q.singapore:
            report.misses.append(Miss(q.query, q.domain, decision.domain, decision.confidence, q.singapore, applied))
    report.per_domain = {d: (c, n) for d, (c, n) in per_domain.items()}
    return report


def format_report(report: Report, title: str) -> str:
    """Human-readable summary (what `dra router evaluate` and the benchmark print)."""
    lat = report.latency()
    lines = [
        f"{title}: {report.queries} queries",
        f"  domain accuracy            {report.accuracy:.3f} ({report.correct}/{report.queries})",
        f"  Singapore-first precision  {report.sg_precision:.3f} "
        f"(tp={report.sg_true_positive}, fp={report.sg_false_positive})",
        f"  Singapore-first recall     {report.sg_recall:.3f} "
        f"(tp={report.sg_true_positive}, fn={report.sg_false_negative})",
    ]
    for d, (c, n) in report.per_domain.items():
        if n:
            lines.append(f"    {d:<22} {c / n:.3f} ({c}/{n})")
    if lat:
        lines.append(
            f"  Classify latency without encoding: p50 {lat['route_p50_ms']:.2f} ms, p99 {lat['route_p99_ms']:.2f} ms"
        )
        lines.append(
            f"  query encoding:                    p50 {lat['encode_p50_ms']:.2f} ms, p99 {lat['encode_p99_ms']:.2f} ms"
        )
        lines.append(
            f"  Classify latency with encoding:    p50 {lat['total_p50_ms']:.2f} ms, p99 {lat['total_p99_ms']:.2f} ms"
        )
    return "\n".join(lines)


def heldout(queries: Sequence[LabelledQuery]) -> list[LabelledQuery]:
    """The held-out split."""
    return [q for q in queries if q.split == "heldout"]
