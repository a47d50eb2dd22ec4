"""Offline entry points shared by `dra model ...`, `dra eval` and the benchmark: catalog, training, evaluation."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dra_common.settings import Settings
from dra_ranking import evaluation
from dra_ranking.catalog import (
    Corpus,
    DatasetRecord,
    embedding_text,
    ensure_embeddings,
    load_active,
    load_curated,
)
from dra_ranking.evaluation import encode_queries
from dra_ranking.index import CatalogIndex
from dra_ranking.model import QualityAwareRankingModel

log = logging.getLogger(__name__)


@dataclass
class CatalogSource:
    """Where a catalog came from, for reports."""

    origin: str
    version: int
    size: int


def load_records(settings: Settings | None, encoder: Any, prefer: str = "auto") -> tuple[list[DatasetRecord],
                                                                                        CatalogSource]:
    """Active datasets from Postgres, else the curated files; missing embeddings computed.

    Postgres rows get their computed embeddings written back; the curated files use an on-disk cache
    under DATA_DIR keyed by the encoder and the embedded texts, so repeated offline runs do not re-encode.
    """
    records: list[DatasetRecord] = []
    version = 0
    if prefer in ("auto", "db") and settings is not None:
        try:
            from dra_ranking.catalog import catalog_version

            records = load_active(settings)
            version = catalog_version(settings)
        except Exception as exc:  # noqa: BLE001 - offline tools fall back to the curated files
            if prefer == "db":
                raise
            log.warning("catalog could not be read from Postgres; using the curated files",
                        extra={"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"})
            records = []
    if records:
        ensure_embeddings(records, encoder, settings)
        return records, CatalogSource("postgres", version, len(records))
    if prefer == "db":
        raise RuntimeError("the Postgres catalog has no active datasets (run `dra catalog load-default`)")
    records = load_curated()
    cached_embeddings(settings, records, encoder)
    return records, CatalogSource("curated files", 0, len(records))


def cached_embeddings(settings: Settings | None, records: Sequence[DatasetRecord], encoder: Any,
                      label: str = "curated", on_progress: Callable[[int], None] | None = None) -> None:
    """Fill every record's embedding from the on-disk cache under DATA_DIR, else encode the records that have
    none (reporting `on_progress(n)`) and store the whole matrix there.

    The cache is keyed by the encoder's name and every embedded text: another encoder never reads vectors
    that a different model wrote.
    """
    texts = [embedding_text(r) for r in records]
    dim = int(getattr(encoder, "dim", 384))
    identity = f"{getattr(encoder, 'name', type(encoder).__name__)}/{dim}"
    key = hashlib.sha256("\n".join([identity, *texts]).encode("utf-8")).hexdigest()[:16]
    path = Path(settings.data_dir) / "cache" / f"{label}-embeddings-{key}.npy" if settings is not None else None
    if path is not None and path.exists():
        try:
            matrix = np.load(path)
            if matrix.shape == (len(records), dim):
                for r, v in zip(records, matrix, strict=True):
                    r.embedding = v.astype(np.float32)
                return
        except (OSError, ValueError):
            pass
    ensure_embeddings(records, encoder, None, on_progress=on_progress)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.npy")
        np.save(tmp, np.stack([r.embedding for r in records]).astype(np.float32))
        tmp.replace(path)


def build_index(settings: Settings | None, encoder: Any, prefer: str = "auto") -> tuple[CatalogIndex, CatalogSource]:
    """A catalog index for offline work."""
    records, origin = load_records(settings, encoder, prefer)
    return CatalogIndex(records, version=origin.version), origin


def corpus_index(settings: Settings | None, encoder: Any, corpus: Corpus, name: str,
                 on_progress: Callable[[int], None] | None = None) -> tuple[CatalogIndex, CatalogSource]:
    """An index over an external test collection's documents (`catalog.load_corpus`), embedded like the
    curated catalog and cached under DATA_DIR.

    Raises:
        ValueError: the collection has no usable document.
    """
    if not corpus.records:
        raise ValueError(f"{name}: no usable document ({corpus.fmt}): {'; '.join(corpus.rejected[:3]) or 'empty'}")
    cached_embeddings(settings, corpus.records, encoder, label="corpus", on_progress=on_progress)
    return CatalogIndex(corpus.records, version=0), CatalogSource(f"test collection {name}", 0, len(corpus.records))


def mapping_records(split: str, path: Path | None = None) -> list[Any]:
    """Training-mapping records of one split, through the shared parser."""
    from dra_common import mappings

    result = mappings.parse_file(path)
    for err in result.errors:
        log.warning("training mapping rejected", extra={"error": str(err)})
    return result.split(split)


def evaluate_sets(
    index: CatalogIndex,
    encoder: Any,
    model: QualityAwareRankingModel | None,
    *,
    mappings_path: Path | None = None,
    judgments_path: Path | None = None,
    include_train: bool = False,
    progress: Callable[[str], None] | None = None,
    route: evaluation.Route | None = None,
) -> list[evaluation.SetResult]:
    """Metrics of every system on the held-out mapping and judgment sets (and the train splits on request)."""
    results: list[evaluation.SetResult] = []
    splits = ["heldout", "train"] if include_train else ["heldout"]
    for split in splits:
        records = mapping_records(split, mappings_path)
        if records:
            if progress:
                progress(f"mappings ({split})")
            qs, qrels = evaluation.mapping_queries(records)
            prepared = evaluation.prepare(index, qs, encode_queries(encoder, [q.text for q in qs]), route=route)
            runs = evaluation.source_runs(index, prepared, model)
            results.append(evaluation.SetResult(f"training mappings, {split}", "source", len(qs)).score(qrels, runs, qs))
        judged = evaluation.load_judgments(judgments_path, split)
        if judged:
            if progress:
                progress(f"judgments ({split})")
            qs, qrels = evaluation.judgment_queries(judged, index)
            prepared = evaluation.prepare(index, qs, encode_queries(encoder, [q.text for q in qs]), route=route)
            runs = evaluation.dataset_runs(index, prepared, model)
            results.append(evaluation.SetResult(f"dataset judgments, {split}", "dataset", len(qs)).score(qrels, runs, qs))
    return results


def evaluate_topics(
    index: CatalogIndex,
    encoder: Any,
    model: QualityAwareRankingModel | None,
    topics: Path,
    qrels_path: Path,
    write_runs: Path | None = None,
    route: evaluation.Route | None = None,
) -> evaluation.SetResult:
    """Every system on external topics + qrels (TREC or BEIR files) over the loaded catalog.

    Only topics the qrels judge are run. Judged documents that the catalog holds under `<source>:<doc id>`
    are matched to it, so run files carry the collection's ids. The result notes how many relevant judged
    documents the catalog holds.

    Raises:
        ValueError: unreadable topics or qrels, or no topic that the qrels judge.
    """
    from dra_common.ir_metrics import read_qrels

    qrels = read_qrels(qrels_path)
    topics_all = evaluation.read_topics(topics)
    qs = [q for q in topics_all if q.qid in qrels]
    if not qs:
        raise ValueError(f"none of the {len(topics_all)} topics in {topics} has a judgment in {qrels_path} "
                         "(topic ids and the qrels' first column must match)")
    qrels = {q.qid: qrels[q.qid] for q in qs}
    aliases = evaluation.qrels_id_aliases(qrels, index.ids)
    prepared = evaluation.prepare(index, qs, encode_queries(encoder, [q.text for q in qs]), route=route)
    runs = {
        system: {qid: {aliases.get(doc, doc): score for doc, score in docs.items()} for qid, docs in run.items()}
        for system, run in evaluation.dataset_runs(index, prepared, model).items()
    }
    if write_runs is not None:
        for system, run in runs.items():
            evaluation.write_trec_run(run, write_runs / f"{system}.run", system)
    judged = [q for q in qs if any(grade > 0 for grade in qrels[q.qid].values())]
    res = evaluation.SetResult(f"topics {topics.name}", "dataset", len(judged)).score(qrels, runs, qs)
    held, relevant = evaluation.judged_coverage(qrels, [aliases.get(i, i) for i in index.ids])
    res.notes.append(f"{held} of {relevant} relevant judged documents are in the catalog ({len(index)} datasets)"
                     + (f"; {len(aliases)} datasets are named by their source id" if aliases else "")
                     + (f"; {len(topics_all) - len(qs)} topics without judgments not run" if len(qs) < len(topics_all)
                        else "") + ".")
    if relevant and held < relevant:
        res.notes.append("Relevant documents missing from the catalog count as not retrieved by every system.")
    return res
