"""Offline evaluation helpers: qrels from mappings and judgments, order-preserving runs, TREC files, tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dra_ranking import evaluation


@dataclass
class _Mapping:
    query: str
    source: str
    score: float


@dataclass
class _Judged:
    qid: str
    query: str
    judgments: dict[str, int]


def test_mapping_qrels_use_scores_as_gains():
    qs, qrels = evaluation.mapping_queries([_Mapping("GDP data", "world_bank", 0.97), _Mapping("gdp  data", "imf", 0.9),
                                            _Mapping("eeg", "openneuro", 0.95)])
    assert len(qs) == 2
    assert qrels[qs[0].qid] == {"world_bank": 97, "imf": 90}


def test_runs_and_metrics(index, query_vec):
    queries, qrels = evaluation.judgment_queries([_Judged("q1", "HDB resale prices", {"data_gov_sg:d_hdb": 3}),
                                                  _Judged("q2", "eeg emotion", {"openneuro:ds000001": 2})], index)
    prepared = evaluation.prepare(index, queries, np.stack([query_vec, query_vec]))
    runs = evaluation.dataset_runs(index, prepared, None, systems=("bm25", "dense", "fused"))
    assert list(runs["bm25"]["q1"])[0] == "data_gov_sg:d_hdb"
    scores = evaluation.score_runs(qrels, runs, ["ndcg@3", "mrr@100"])
    assert scores["bm25"]["mrr@100"] == 1.0
    assert 0.0 <= scores["dense"]["ndcg@3"] <= 1.0
    res = evaluation.SetResult("judgments", "dataset", 2, scores)
    md = evaluation.to_markdown([res])
    assert "| BM25 alone |" in md and "ndcg@3" in md


def test_prepare_gives_queries_without_a_domain_what_the_router_says(index, query_vec):
    seen: list[str] = []

    def route(text: str, embedding: np.ndarray) -> tuple[str, float, tuple[str, ...]]:
        seen.append(text)
        assert embedding.shape == (384,)
        return "economics_finance", 0.8, ("SG",)

    queries = [evaluation.EvalQuery("q1", "resale flat prices"),
               evaluation.EvalQuery("q2", "eeg emotion", domain="psychology")]
    routed, named = evaluation.prepare(index, queries, np.stack([query_vec, query_vec]), route=route)
    assert seen == ["resale flat prices"]  # a query that names its domain keeps it
    assert (routed.ctx.domain, routed.ctx.domain_confidence, routed.ctx.geography) == ("economics_finance", 0.8, {"SG"})
    assert (named.ctx.domain, named.ctx.domain_confidence) == ("psychology", 0.0)
    plain = evaluation.prepare(index, queries[:1], np.stack([query_vec]))[0]
    assert plain.ctx.domain == "" and plain.ctx.geography == set()


def test_trec_files_round_trip(tmp_path: Path):
    run = {"q1": {"d1": 2.0, "d2": 1.0}, "q2": {"d3": 1.0}}
    evaluation.write_trec_run(run, tmp_path / "sys.run", "sys")
    (tmp_path / "qrels").write_text("q1 0 d1 1\nq2 0 d4 1\n", encoding="utf-8")
    res = evaluation.score_trec_files(tmp_path / "sys.run", tmp_path / "qrels")
    assert abs(res.metrics["sys"]["mrr@100"] - 0.5) < 1e-9


def test_read_topics(tmp_path: Path):
    (tmp_path / "t.tsv").write_text("1\tsea level rise\n2\tcovid cases\n", encoding="utf-8")
    (tmp_path / "t.jsonl").write_text('{"qid": "a", "query": "gdp"}\n', encoding="utf-8")
    assert [q.text for q in evaluation.read_topics(tmp_path / "t.tsv")] == ["sea level rise", "covid cases"]
    assert evaluation.read_topics(tmp_path / "t.jsonl")[0].qid == "a"
