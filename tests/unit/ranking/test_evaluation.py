"""Offline evaluation helpers: qrels from mappings and judgments, order-preserving runs, TREC files, tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

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


def test_read_topics_in_beir_and_classic_trec_form(tmp_path: Path):
    (tmp_path / "queries.jsonl").write_text('{"_id": "7", "text": "soil moisture", "metadata": {}}\n', encoding="utf-8")
    (tmp_path / "topics.301").write_text(
        "<top>\n<num> Number: 301\n<title> International Organized Crime\n\n<desc> Description:\nIdentify "
        "organizations.\n</top>\n<top><num>302</num><title>Poliomyelitis and Post-Polio</title></top>\n",
        encoding="utf-8")
    assert [(q.qid, q.text) for q in evaluation.read_topics(tmp_path / "queries.jsonl")] == [("7", "soil moisture")]
    assert [(q.qid, q.text) for q in evaluation.read_topics(tmp_path / "topics.301")] == [
        ("301", "International Organized Crime"), ("302", "Poliomyelitis and Post-Polio")]


@pytest.mark.parametrize("content,where", [('{"qid": "1"}\n', "t:1"), ("1\tgdp\n{broken\n", "t:2"),
                                           ("just a line\n", "t:1"), ("<top><num>1</num></top>", "t:1")])
def test_unreadable_topics_name_their_line(tmp_path: Path, content: str, where: str):
    (tmp_path / "t").write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=where):
        evaluation.read_topics(tmp_path / "t")


def test_judged_documents_ingested_under_a_source_are_matched_by_their_own_id():
    ids = ["coll:d1", "coll:d2", "coll:d3", "coll:x", "a:x", "other:d7", "d9"]
    qrels = {"q1": {"d1": 2, "x": 1, "d9": 1, "gone": 3}, "q2": {"d2": 0}}
    # x is ambiguous; d3 is not judged but belongs to the collection; other:d7 keeps its catalog id
    assert evaluation.qrels_id_aliases(qrels, ids) == {"coll:d1": "d1", "coll:d2": "d2", "coll:d3": "d3"}
    assert evaluation.qrels_id_aliases({"q1": {"d9": 1, "coll:d1": 1}}, ids) == {}
    assert evaluation.judged_coverage(qrels, ["d1", "d2", "d9"]) == (2, 4)  # d2 is judged 0: not relevant


def test_per_query_metrics_average_to_the_reported_means():
    qs = [evaluation.EvalQuery("q1", "hdb  resale"), evaluation.EvalQuery("q2", "eeg")]
    qrels = {"q1": {"a": 3, "b": 0}, "q2": {"c": 2}}
    runs = {"bm25": {"q1": {"b": 2.0, "a": 1.0}, "q2": {"c": 1.0}}, "dense": {"q1": {"a": 1.0}}}
    res = evaluation.SetResult("judged", "dataset", 2).score(qrels, runs, qs)
    assert res.per_query["dense"]["mrr@100"] == {"q1": 1.0, "q2": 0.0}  # nothing returned for q2 counts as zero
    assert res.metrics["dense"]["mrr@100"] == 0.5 and res.metrics["bm25"]["mrr@100"] == 0.75
    header, *rows = evaluation.per_query_rows([res])
    assert header[:4] == ["set", "qid", "query", "system"] and "ndcg@10" in header
    assert [r[:4] for r in rows] == [["judged", "q1", "hdb resale", "bm25"], ["judged", "q1", "hdb resale", "dense"],
                                    ["judged", "q2", "eeg", "bm25"], ["judged", "q2", "eeg", "dense"]]
    mrr = header.index("mrr@100")
    assert [float(r[mrr]) for r in rows] == [0.5, 1.0, 1.0, 0.0]
