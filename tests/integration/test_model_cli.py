"""`dra model train` and `dra eval` as an operator runs them: real processes, the real encoder and curated catalog.

Training is cut to two epochs (plus the feature-scorer refit) so the module runs in about two minutes; the
checkpoint it writes is then validated, registered and scored on TREC files, as the runbook's steps do.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dra_common.evalsets import judged_queries
from dra_common.settings import Settings
from dra_ranking.catalog import load_curated
from tests.conftest import settings_env

pytestmark = pytest.mark.integration

RUNBOOK_CONFIG = {"embedding_dim": 256, "hidden_dim": 128, "num_domains": 8, "vocab_size": 10000}
SYSTEMS = ("bm25", "dense", "fused", "model")


def dra(settings: Settings, *args: str, timeout: float = 600, code: int = 0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "dra_cli.main", *args], env=settings_env(settings, COLUMNS="250"),
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == code, f"dra {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


@dataclass
class Trained:
    folder: Path
    manifest: dict
    stdout: str


@pytest.fixture(scope="module")
def trained(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    out = tmp_path_factory.mktemp("models")
    result = dra(settings, "model", "train", "--quick", "--epochs", "2", "--catalog", "curated", "--output-dir",
                 str(out))
    [folder] = [p for p in out.iterdir() if p.is_dir()]
    yield Trained(folder, json.loads((folder / "manifest.json").read_text()), result.stdout)


def test_training_writes_a_described_checkpoint_with_learning_curves(trained: Trained) -> None:
    m = trained.manifest
    assert (trained.folder / m["file"]).stat().st_size > 100_000
    assert (trained.folder / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = json.loads((trained.folder / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1, 2] and m["metrics"]["epochs_run"] == 2  # 0: before training
    assert {k: m["config"][k] for k in RUNBOOK_CONFIG} == RUNBOOK_CONFIG and m["config"]["num_sources"] >= 10
    assert re.fullmatch(r"[0-9a-f]{64}", m["training_data_hash"]) and m["version"] == trained.folder.name
    assert m["parameters"] > 0 and m["created_at"]


def test_trained_model_is_never_below_its_candidates_on_held_out_sets(trained: Trained) -> None:
    """The issue's guarantee, on the checkpoint a two-epoch run produces: training must add, never lose."""
    heldout = trained.manifest["metrics"]["heldout"]
    assert {"training mappings, heldout", "dataset judgments, heldout"} <= set(heldout)
    for name, systems in heldout.items():
        for metric in ("ndcg@3", "ndcg@10"):
            assert systems["model"][metric] >= systems["fused"][metric], (name, metric, systems)
    judged = heldout["dataset judgments, heldout"]
    assert judged["model"]["ndcg@10"] > judged["bm25"]["ndcg@10"]
    assert "dataset-level NDCG@10 on dataset judgments, heldout" in trained.stdout


def test_validate_mode_and_registry_listing(settings: Settings, trained: Trained) -> None:
    validated = dra(settings, "model", "train", "--mode", "validate", "--model-path",
                    str(trained.folder / trained.manifest["file"]), "--catalog", "curated")
    assert "dataset judgments, heldout" in validated.stdout and "full model" in validated.stdout
    assert trained.manifest["version"] in dra(settings, "model", "list").stdout


def test_eval_runs_every_system_on_trec_topics_and_scores_its_own_run_files(
    settings: Settings, trained: Trained, tmp_path: Path
) -> None:
    judged = judged_queries("heldout")[:6]
    topics, qrels = tmp_path / "topics.tsv", tmp_path / "qrels.txt"
    topics.write_text("".join(f"{j.qid}\t{j.query}\n" for j in judged), encoding="utf-8")
    qrels.write_text("".join(f"{j.qid} 0 {doc} {grade}\n" for j in judged for doc, grade in j.judgments.items()),
                     encoding="utf-8")
    runs, report = tmp_path / "runs", tmp_path / "report.md"
    dra(settings, "eval", "--model-path", str(trained.folder / trained.manifest["file"]), "--catalog", "curated",
        "--no-router", "--trec-topics", str(topics), "--trec-qrels", str(qrels), "--write-runs", str(runs),
        "--markdown", str(report))
    for system in SYSTEMS:
        lines = (runs / f"{system}.run").read_text().splitlines()
        assert {line.split()[0] for line in lines} == {j.qid for j in judged}
        assert all(re.fullmatch(r"\S+ Q0 \S+ \d+ -?\d+\.\d+ " + system, line) for line in lines)
    table = report.read_text()
    assert "### topics topics.tsv (dataset level, 6 queries)" in table
    model_row = next(line for line in table.splitlines() if line.startswith("| full model |"))
    model_ndcg3 = model_row.split("|")[2].strip()
    scored = dra(settings, "eval", "--trec-run", str(runs / "model.run"), "--trec-qrels", str(qrels))
    assert "model" in scored.stdout and model_ndcg3 in scored.stdout


def test_eval_scores_an_external_collection_in_beir_form_with_its_own_ids(
    settings: Settings, trained: Trained, tmp_path: Path
) -> None:
    """A test collection outside the catalog (no landing pages, unknown source, its own ids) is ranked by every
    system; run files carry the collection's ids and the report says how much of the judged pool it holds."""
    judged = judged_queries("heldout")[:5]
    outside = next(doc for j in judged for doc, grade in j.judgments.items() if grade > 0)
    wanted = {doc for j in judged for doc in j.judgments} - {outside}  # one relevant document stays outside
    records = [r for r in load_curated() if r.id in wanted]
    records += [r for r in load_curated() if r.id not in wanted][:40]
    own_id = {r.id: f"doc-{n}" for n, r in enumerate(records)}
    corpus, queries, qrels = tmp_path / "corpus.jsonl", tmp_path / "queries.jsonl", tmp_path / "test.tsv"
    corpus.write_text("".join(json.dumps({"_id": own_id[r.id], "title": r.title, "text": r.description}) + "\n"
                              for r in records) + '{"title": "a document without an id"}\n', encoding="utf-8")
    queries.write_text("".join(json.dumps({"_id": j.qid, "text": j.query}) + "\n" for j in judged)
                       + '{"_id": "unjudged", "text": "rainfall"}\n', encoding="utf-8")
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{j.qid}\t{own_id.get(doc, 'missing-' + doc)}\t{grade}\n" for j in judged for doc, grade in j.judgments.items()),
        encoding="utf-8")
    runs, report = tmp_path / "runs", tmp_path / "report.md"
    result = dra(settings, "eval", "--model-path", str(trained.folder / trained.manifest["file"]), "--no-router",
                 "--corpus", str(corpus), "--trec-topics", str(queries), "--trec-qrels", str(qrels),
                 "--write-runs", str(runs), "--markdown", str(report), "--per-query", str(tmp_path / "per_query.tsv"))
    assert f"corpus.jsonl:{len(records) + 1}: no document id" in " ".join(result.stderr.split())
    relevant_docs = {doc for j in judged for doc, grade in j.judgments.items() if grade > 0}
    relevant, held = len(relevant_docs), len(relevant_docs & set(own_id))
    assert 0 < held < relevant
    table = report.read_text()
    assert f"{held} of {relevant} relevant judged documents are in the catalog ({len(records)} datasets); 1 topics " \
        "without judgments not run." in table
    assert "dra eval --corpus " in table and "dataset judgments" not in table  # our own sets are not scored here
    for system in SYSTEMS:
        lines = (runs / f"{system}.run").read_text().splitlines()
        assert {line.split()[0] for line in lines} == {j.qid for j in judged}
        assert {line.split()[2] for line in lines} <= set(own_id.values())
    model_row = next(line for line in table.splitlines() if line.startswith("| full model |"))
    model_ndcg10 = float(model_row.split("|")[3])
    assert model_ndcg10 > 0.3  # NDCG@10 over a small pool holding most relevant documents
    header, *rows = [line.split("\t") for line in (tmp_path / "per_query.tsv").read_text().splitlines()]
    per_query = [float(r[header.index("ndcg@10")]) for r in rows if r[header.index("system")] == "model"]
    assert len(per_query) == len(judged) and abs(sum(per_query) / len(per_query) - model_ndcg10) < 0.0006


def test_eval_refuses_topics_the_qrels_do_not_judge(settings: Settings, tmp_path: Path) -> None:
    corpus, topics, qrels = tmp_path / "corpus.jsonl", tmp_path / "topics.tsv", tmp_path / "qrels.txt"
    corpus.write_text('{"_id": "d1", "title": "Rainfall", "text": "Daily rainfall."}\n', encoding="utf-8")
    topics.write_text("q1\trainfall\n", encoding="utf-8")
    qrels.write_text("other 0 d1 1\n", encoding="utf-8")
    result = dra(settings, "eval", "--no-router", "--corpus", str(corpus), "--trec-topics", str(topics),
                 "--trec-qrels", str(qrels), code=2)
    assert "none of the 1 topics" in result.stderr and "has a judgment" in result.stderr
