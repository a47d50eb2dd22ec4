"""The shared IR metrics (trec_eval): values worked out by hand, cutoffs, relevance levels, bad names."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dra_common import ir_metrics

QRELS = {"q1": {"a": 3, "b": 1, "c": 0, "d": 2}, "q2": {"x": 1}, "unjudged": {"z": 0}}
RUN = {"q1": {"c": 4.0, "a": 3.0, "d": 2.0, "b": 1.0}, "q2": {"y": 2.0, "w": 1.5, "x": 1.0}}


def test_ndcg_uses_grades_as_linear_gains():
    dcg = 0 + 3 / math.log2(3) + 2 / math.log2(4)  # c (0), a (3), d (2)
    ideal = 3 + 2 / math.log2(3) + 1 / math.log2(4)  # a, d, b
    got = ir_metrics.per_query(QRELS, RUN, ["ndcg@3"])["ndcg@3"]
    assert got["q1"] == pytest.approx(dcg / ideal)
    assert got["q2"] == pytest.approx(1 / math.log2(4))  # x (1) third; ideally first


def test_mean_leaves_out_queries_without_positive_judgments_and_counts_missing_runs_as_zero():
    scores = ir_metrics.per_query(QRELS, {"q1": RUN["q1"]}, ["mrr@100"])["mrr@100"]
    assert set(scores) == {"q1", "q2"}
    assert scores == {"q1": 0.5, "q2": 0.0}
    assert ir_metrics.mean(QRELS, {"q1": RUN["q1"]}, ["mrr@100"])["mrr@100"] == pytest.approx(0.25)


def test_mrr_cutoff_and_relevance_level():
    per = ir_metrics.per_query(QRELS, RUN, ["mrr", "mrr@2", "mrr-l2", "precision@2-l3", "recall@3"])
    assert per["mrr"]["q2"] == pytest.approx(1 / 3)
    assert per["mrr@2"]["q2"] == 0.0  # x is third: cut off
    assert per["mrr-l2"]["q1"] == 0.5  # a (3) at rank 2; b (1) would not count
    assert per["precision@2-l3"]["q1"] == 0.5  # only a reaches grade 3
    assert per["recall@3"]["q1"] == pytest.approx(2 / 3)  # a and d of a, b, d


@pytest.mark.parametrize("bad", ["ndcg@3-l2", "precision", "f1@3", "ndcg@x"])
def test_unknown_or_malformed_metric_names_are_refused(bad):
    with pytest.raises(ValueError, match=bad.split("@")[0]):
        ir_metrics.mean(QRELS, RUN, [bad])


def test_trec_files(tmp_path: Path):
    (tmp_path / "qrels").write_text("q1 0 a 3\nq1 0 b 1\n", encoding="utf-8")
    (tmp_path / "run").write_text("q1 Q0 b 1 2.0 t\nq1 Q0 a 2 1.0 t\n", encoding="utf-8")
    qrels, run = ir_metrics.read_qrels(tmp_path / "qrels"), ir_metrics.read_run(tmp_path / "run")
    assert qrels == {"q1": {"a": 3, "b": 1}}
    assert ir_metrics.mean(qrels, run, ["mrr@10"])["mrr@10"] == 1.0


def test_beir_qrels_with_or_without_header(tmp_path: Path):
    (tmp_path / "with.tsv").write_text("query-id\tcorpus-id\tscore\nq1\ta\t2\nq1\tb\t0\nq2\tc\t1\n", encoding="utf-8")
    (tmp_path / "without.tsv").write_text("q1\ta\t2\n", encoding="utf-8")
    assert ir_metrics.read_qrels(tmp_path / "with.tsv") == {"q1": {"a": 2, "b": 0}, "q2": {"c": 1}}
    assert ir_metrics.read_qrels(tmp_path / "without.tsv") == {"q1": {"a": 2}}


@pytest.mark.parametrize("line", ["q1 0 a relevant", "q1 a", "q1 0 a 1 extra"])
def test_malformed_qrels_lines_are_refused_with_their_line_number(tmp_path: Path, line: str):
    (tmp_path / "qrels").write_text(f"q1 0 z 1\n{line}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"qrels:2: expected"):
        ir_metrics.read_qrels(tmp_path / "qrels")


def test_a_four_column_first_line_is_never_taken_for_a_header(tmp_path: Path):
    (tmp_path / "qrels").write_text("q1 0 a yes\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"qrels:1: expected"):
        ir_metrics.read_qrels(tmp_path / "qrels")
