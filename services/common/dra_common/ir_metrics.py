"""IR metrics computed by trec_eval (through pytrec_eval): one definition for every figure the product reports.

Metric names read `name@k-lN`: ndcg@3, ndcg@10, map@100, mrr@100, precision@5, recall@10, and with `-lN` a
binary relevance threshold (a grade >= N counts as relevant; default 1) for map, mrr, precision and recall.
NDCG takes the judged grades as linear gains (trec_eval's ndcg_cut, Järvelin & Kekäläinen). Queries with
no positive judgment are left out of the mean; a judged query the run has nothing for scores zero.

trec_eval rather than ranx: ranx compiles numba containers in every new process (48.7 s for the first
`evaluate` on the development machine, measured once on 2026-11-28 before ranx was removed) and converts
each run entry in Python, while trec_eval scores a run in a millisecond; that matters for the monitoring
check's first run and for training, which scores hundreds of runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytrec_eval

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]

_NAME = re.compile(r"^(ndcg|map|mrr|precision|recall)(?:@(\d+))?(?:-l(\d+))?$")
_EMPTY_DOC = "__none__"


def _measure(metric: str) -> tuple[str, str, int, int | None]:
    """(trec_eval measure to request, its result key, relevance level, run depth) of one metric name."""
    match = _NAME.match(metric)
    if match is None:
        raise ValueError(f"unknown metric {metric!r} (use ndcg, map, mrr, precision or recall, @k, -lN)")
    name, k, level = match.group(1), match.group(2), int(match.group(3) or 1)
    if name == "ndcg" and match.group(3):
        raise ValueError(f"{metric!r}: NDCG uses the graded judgments; a relevance level does not apply")
    if name in ("precision", "recall") and k is None:
        raise ValueError(f"{metric!r} needs a cutoff, e.g. {name}@10")
    if name == "mrr":  # trec_eval's recip_rank has no cutoff: the run is cut to k instead
        return "recip_rank", "recip_rank", level, int(k) if k else None
    base = {"ndcg": "ndcg_cut", "map": "map_cut", "precision": "P", "recall": "recall"}[name]
    if k is None:
        return name, name, level, None
    return f"{base}.{k}", f"{base}_{k}", level, None


def per_query(qrels: Qrels, run: Run, metrics: Sequence[str]) -> dict[str, dict[str, float]]:
    """{metric: {qid: value}} over the queries of `qrels` that have a positive judgment."""
    judged = {q: {d: int(g) for d, g in docs.items()} for q, docs in qrels.items() if any(g > 0 for g in docs.values())}
    groups: dict[tuple[int, int | None], list[tuple[str, str, str]]] = {}
    for metric in metrics:
        request, key, level, depth = _measure(metric)
        groups.setdefault((level, depth), []).append((metric, request, key))
    out: dict[str, dict[str, float]] = {m: {} for m in metrics}
    if not judged:
        return out
    for (level, depth), wanted in groups.items():
        filled: dict[str, dict[str, float]] = {}
        for q in judged:
            docs = run.get(q) or {_EMPTY_DOC: 0.0}
            if depth is not None and len(docs) > depth:
                docs = dict(sorted(docs.items(), key=lambda x: -x[1])[:depth])
            filled[q] = {d: float(s) for d, s in docs.items()}
        evaluator = pytrec_eval.RelevanceEvaluator(judged, {r for _, r, _ in wanted}, relevance_level=level)
        results = evaluator.evaluate(filled)
        for metric, _, key in wanted:
            out[metric] = {q: float(results[q][key]) for q in judged}
    return out


def mean(qrels: Qrels, run: Run, metrics: Sequence[str]) -> dict[str, float]:
    """Each metric averaged over the judged queries (0.0 when there are none)."""
    return average(per_query(qrels, run, metrics))


def average(scores: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """{metric: mean over queries} of `per_query` output (0.0 for a metric without queries)."""
    return {m: (sum(v.values()) / len(v) if v else 0.0) for m, v in scores.items()}


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Judgments from a TREC qrels file (`qid iter docid grade`) or a BEIR qrels TSV (`query-id corpus-id score`,
    with or without its header line); fields split on whitespace.

    Raises:
        ValueError: a line that is neither, with its file and line number.
    """
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8-sig") as f:
        for n, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if n == 1 and len(fields) == 3 and not _is_int(fields[-1]):
                continue  # a header such as BEIR's "query-id corpus-id score"
            if len(fields) not in (3, 4) or not _is_int(fields[-1]):
                raise ValueError(f"{path}:{n}: expected 'qid iter docid grade' (TREC) or 'qid docid grade' (BEIR) "
                                 f"with an integer grade, got {line.strip()[:120]!r}")
            qrels.setdefault(fields[0], {})[fields[-2]] = int(fields[-1])
    return qrels


def _is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()


def read_run(path: Path) -> dict[str, dict[str, float]]:
    """A TREC run file (qid Q0 docid rank score tag)."""
    with path.open(encoding="utf-8") as f:
        return pytrec_eval.parse_run(f)
