"""External test collections read as catalog records: their own ids, no landing page or registered source needed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dra_common.catalog.formats import InputError
from dra_common.settings import Settings
from dra_ranking import pipeline
from dra_ranking.catalog import EXTERNAL_SOURCE, load_corpus


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_beir_corpus_keeps_document_ids_and_skips_unusable_lines(tmp_path: Path):
    corpus = load_corpus(_jsonl(tmp_path / "corpus.jsonl", [
        {"_id": "D1", "title": "Global land temperature", "text": "Monthly  anomalies since 1880.", "metadata": {}},
        {"_id": "D2", "title": "", "text": "Scalp EEG during emotional film clips."},
        {"title": "no id here", "text": "x"},
        {"_id": "D3", "title": "", "text": "  "},
        {"_id": "D1", "title": "a repeat", "text": "y"},
    ]))
    assert [(r.id, r.source, r.title, r.description) for r in corpus.records] == [
        ("D1", EXTERNAL_SOURCE, "Global land temperature", "Monthly anomalies since 1880."),
        ("D2", EXTERNAL_SOURCE, "", "Scalp EEG during emotional film clips."),
    ]
    assert [line.split(": ", 1)[0].rsplit(":", 1)[1] for line in corpus.rejected] == ["3", "4", "5"]
    assert "no document id" in corpus.rejected[0] and "repeats" in corpus.rejected[2]
    assert corpus.fmt == "jsonl"
    assert corpus.records[0].metadata_quality > corpus.records[1].metadata_quality > 0  # a title adds completeness


def test_csv_corpus_with_a_field_map_and_catalog_fields(tmp_path: Path):
    path = tmp_path / "docs.csv"
    path.write_text("docno,name,abstract,keywords,source\n7,Bus arrivals,Real-time arrival estimates,bus;transport,"
                    "lta_datamall\n", encoding="utf-8")
    [record] = load_corpus(path, mapping=["title=name", "description=abstract"]).records
    assert (record.id, record.title, record.description) == ("7", "Bus arrivals", "Real-time arrival estimates")
    assert record.keywords == ["bus", "transport"] and record.source == "lta_datamall"


def test_unreadable_corpus_raises_input_error(tmp_path: Path):
    with pytest.raises(InputError):
        load_corpus(tmp_path / "missing.jsonl")
    with pytest.raises(InputError, match="--map"):
        load_corpus(_jsonl(tmp_path / "c.jsonl", [{"_id": "1", "title": "t"}]), mapping=["title"])


class _CountingEncoder:
    """Deterministic unit vectors, a different direction per encoder name; counts the texts it encodes."""

    dim = 384

    def __init__(self, name: str) -> None:
        self.name = name
        self.encoded = 0

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        self.encoded += len(texts)
        seed = sum(map(ord, self.name))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        out[:, seed % self.dim] = 1.0
        return out


def test_embedding_cache_is_reused_for_the_same_encoder_and_never_for_another(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    corpus = load_corpus(_jsonl(tmp_path / "corpus.jsonl", [
        {"_id": "D1", "title": "Global land temperature", "text": "Monthly anomalies."},
        {"_id": "D2", "title": "Scalp EEG", "text": "Emotional film clips."},
    ]))
    first = _CountingEncoder("encoder-a")
    pipeline.corpus_index(settings, first, corpus, "c")
    again = load_corpus(tmp_path / "corpus.jsonl")
    same = _CountingEncoder("encoder-a")
    pipeline.corpus_index(settings, same, again, "c")
    assert (first.encoded, same.encoded) == (2, 0)  # the second run read the cache
    other_corpus = load_corpus(tmp_path / "corpus.jsonl")
    other = _CountingEncoder("encoder-b")
    index, _ = pipeline.corpus_index(settings, other, other_corpus, "c")
    assert other.encoded == 2
    assert np.argmax(index.embeddings, axis=1).tolist() == [sum(map(ord, "encoder-b")) % 384] * 2


def test_corpus_geography_is_stored_as_ingest_stores_it(tmp_path: Path):
    corpus = load_corpus(_jsonl(tmp_path / "corpus.jsonl", [
        {"_id": "D1", "title": "Resale flat prices", "geography": ["Singapore", "SGP", "Atlantis"]},
        {"_id": "D2", "title": "World population", "geography": "world"},
    ]))
    assert [r.geography for r in corpus.records] == [["SG"], ["global"]]
