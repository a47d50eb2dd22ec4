"""Catalog records as ranking sees them, loaded from Postgres (or the curated files), with embeddings.

Ranking needs every active dataset's text, source, geography, metadata quality and MiniLM embedding.
The ingestion normally stores the embedding; rows without one (or with another model's) are encoded
here and written back, so the next start does not pay for them again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import numpy as np
from sqlalchemy import func, select, update

from dra_common.encoder import DIM, MODEL_NAME
from dra_common.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class DatasetRecord:
    """The fields of one active dataset that retrieval, features and responses use."""

    id: str
    source: str
    title: str
    description: str = ""
    publisher: str = ""
    keywords: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)
    geography: list[str] = field(default_factory=list)
    landing_page: str = ""
    metadata_quality: float = 0.0
    content_hash: str = ""
    embedding: np.ndarray | None = None

    @classmethod
    def from_mapping(cls, row: dict[str, Any]) -> DatasetRecord:
        """A record from a dict shaped like a `datasets` row or a curated JSONL line."""
        source = str(row["source"])
        rid = row.get("id") or f"{source}:{row['source_id']}"
        emb = row.get("embedding")
        vector = None
        if emb is not None and (row.get("embedding_model") in (None, MODEL_NAME)):
            vector = _as_vector(emb)
        return cls(
            id=str(rid),
            source=source,
            title=str(row.get("title") or ""),
            description=str(row.get("description") or ""),
            publisher=str(row.get("publisher") or ""),
            keywords=list(row.get("keywords") or []),
            themes=list(row.get("themes") or []),
            geography=list(row.get("geography") or []),
            landing_page=str(row.get("landing_page") or ""),
            metadata_quality=float(row.get("metadata_quality") or 0.0),
            content_hash=str(row.get("content_hash") or ""),
            embedding=vector,
        )


def _as_vector(raw: Any) -> np.ndarray | None:
    """float32 bytes (or a list) → unit vector of DIM, None when the stored value is unusable."""
    try:
        vec = np.frombuffer(bytes(raw), dtype=np.float32) if isinstance(raw, bytes | bytearray | memoryview) else (
            np.asarray(raw, dtype=np.float32)
        )
    except (TypeError, ValueError):
        return None
    if vec.shape != (DIM,) or not np.all(np.isfinite(vec)):
        return None
    norm = float(np.linalg.norm(vec))
    return (vec / norm).astype(np.float32) if norm > 0 else None


def embedding_text(record: DatasetRecord) -> str:
    """The text that is embedded for a record: the catalog's own definition when available.

    `dra_common.catalog.records.embedding_text` is what the ingestion embeds; using it keeps stored and
    locally computed embeddings comparable.
    """
    try:
        from dra_common.catalog.records import embedding_text as shared
    except ImportError:  # pragma: no cover - the catalog package ships with the repo
        shared = None
    if shared is not None:
        try:
            return str(shared(_as_catalog_mapping(record)))
        except (TypeError, KeyError, AttributeError):
            log.debug("shared embedding_text rejected a mapping; using the local form", exc_info=True)
    parts = [record.title, record.description]
    if record.keywords:
        parts.append("Keywords: " + ", ".join(record.keywords))
    if record.publisher:
        parts.append("Publisher: " + record.publisher)
    return ". ".join(p.strip().rstrip(".") for p in parts if p and p.strip())


def _as_catalog_mapping(record: DatasetRecord) -> dict[str, Any]:
    return {
        "source": record.source,
        "source_id": record.id.split(":", 1)[-1],
        "title": record.title,
        "description": record.description,
        "publisher": record.publisher,
        "keywords": record.keywords,
        "themes": record.themes,
        "geography": record.geography,
        "landing_page": record.landing_page,
    }


_COLUMNS = (
    "id", "source", "title", "description", "publisher", "keywords", "themes", "geography", "landing_page",
    "metadata_quality", "content_hash", "embedding", "embedding_model",
)


def catalog_version(settings: Settings) -> int:
    """The catalog version: id of the latest ingest run (0 before any)."""
    from dra_common.db import engine
    from dra_common.models import CatalogIngest

    with engine(settings).connect() as conn:
        value = conn.execute(select(func.max(CatalogIngest.id))).scalar()
    return int(value or 0)


def load_active(settings: Settings) -> list[DatasetRecord]:
    """Every active dataset of the Postgres catalog, in id order."""
    from dra_common.db import engine
    from dra_common.models import Dataset

    cols = [getattr(Dataset, c) for c in _COLUMNS]
    out: list[DatasetRecord] = []
    with engine(settings).connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=2000).execute(
            select(*cols).where(Dataset.status == "active").order_by(Dataset.id)
        )
        for row in result:
            out.append(DatasetRecord.from_mapping(dict(zip(_COLUMNS, row, strict=True))))
    return out


def ensure_embeddings(
    records: Sequence[DatasetRecord], encoder: Any, settings: Settings | None = None, batch_size: int = 64,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Encode the records that have no usable embedding; write them back to Postgres when `settings` is given.
    `on_progress(n)` is called after each chunk of n records.

    Returns how many were encoded. The write-back only touches rows whose content did not change since
    they were read (same content_hash), so a concurrent ingest never gets an embedding of older text.
    """
    missing = [r for r in records if r.embedding is None]
    if not missing:
        return 0
    log.info("encoding datasets without a stored embedding", extra={"count": len(missing)})
    for start in range(0, len(missing), 512):
        chunk = missing[start : start + 512]
        vectors = encoder.encode([embedding_text(r) for r in chunk], batch_size=batch_size)
        for rec, vec in zip(chunk, vectors, strict=True):
            rec.embedding = np.asarray(vec, dtype=np.float32)
        if settings is not None:
            _write_back(settings, chunk)
        if on_progress is not None:
            on_progress(len(chunk))
    return len(missing)


def _write_back(settings: Settings, records: Iterable[DatasetRecord]) -> None:
    from dra_common.db import engine
    from dra_common.models import Dataset

    params = [
        {"rid": r.id, "chash": r.content_hash, "emb": r.embedding.astype(np.float32).tobytes()}
        for r in records
        if r.embedding is not None
    ]
    if not params:
        return
    from sqlalchemy import bindparam

    stmt = (
        update(Dataset)
        .where(Dataset.id == bindparam("rid"), Dataset.content_hash == bindparam("chash"))
        .values(embedding=bindparam("emb"), embedding_model=MODEL_NAME)
    )
    try:
        with engine(settings).begin() as conn:
            conn.execute(stmt, params)
    except Exception:  # noqa: BLE001 - a failed write-back only costs time at the next start
        log.warning("could not store computed embeddings", exc_info=True)


def load_curated() -> list[DatasetRecord]:
    """The curated default catalog files, validated and scored like an ingest would (offline tools only)."""
    import json
    from pathlib import Path

    import dra_common
    from dra_common.catalog import records as catalog_records

    folder = Path(dra_common.__file__).parent / "data" / "catalog"
    out: list[DatasetRecord] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                candidate = catalog_records.Candidate(f"{path.name}:{number}", json.loads(line))
            except ValueError:
                continue
            rec = catalog_records.validate_candidate(candidate)
            if not isinstance(rec, catalog_records.CatalogRecord) or rec.id in seen:
                continue
            seen.add(rec.id)
            row = rec.fields()
            row["id"] = rec.id
            row["metadata_quality"] = catalog_records.metadata_quality(rec)
            row["content_hash"] = catalog_records.content_hash(rec)
            out.append(DatasetRecord.from_mapping(row))
    return out


# Where test collections keep a document's id and its body, in the order they are tried (BEIR, ir_datasets,
# TREC, DCAT and our own field names).
CORPUS_ID_FIELDS = ("_id", "doc_id", "docid", "docno", "id", "dataset_id", "datasetId", "identifier", "source_id")
CORPUS_TEXT_FIELDS = ("description", "text", "abstract", "contents", "body", "notes")
EXTERNAL_SOURCE = "external"


@dataclass
class Corpus:
    """The documents of a test collection as catalog records, and the input records that could not be used."""

    records: list[DatasetRecord]
    rejected: list[str]  # "location: reason"
    fmt: str


def load_corpus(path: str | PathLike[str], fmt: str | None = None, mapping: Sequence[str] = ()) -> Corpus:
    """The documents of an external test collection, for offline evaluation without touching the catalog.

    Reads every format `dra catalog ingest` reads (BEIR / ir_datasets corpus.jsonl, CSV, DCAT, CKAN …), but
    keeps each document's own id, so run files and qrels speak the same ids, and needs no landing page or
    registered source: a document needs an id and a title or text. Documents without a source go to one
    `external` source, which the model does not know. Metadata quality is computed as at ingest.

    Raises:
        InputError: the file cannot be read as the format (given or detected), or `--map` is malformed.
    """
    from pathlib import Path

    from dra_common.catalog import records as catalog_records
    from dra_common.catalog.formats import InputError, ParseOptions, read_items

    try:
        field_mapping = catalog_records.FieldMapping.parse(list(mapping))
    except ValueError as exc:
        raise InputError(str(exc)) from None
    detected, items = read_items(Path(path), fmt, ParseOptions(mapping=field_mapping))
    records: list[DatasetRecord] = []
    rejected: list[str] = []
    seen: set[str] = set()
    for item in items:
        if isinstance(item, catalog_records.Rejection):
            rejected.append(f"{item.location}: {item.reason}")
            continue
        data, raw = item.data, item.data.get("raw") if isinstance(item.data.get("raw"), dict) else {}
        doc_id = _first_text(data, raw, CORPUS_ID_FIELDS)
        title = _first_text(data, raw, ("title", "name"))
        body = _first_text(data, raw, CORPUS_TEXT_FIELDS)
        if not doc_id or not (title or body):
            rejected.append(f"{item.location}: " + ("no document id (one of: " + ", ".join(CORPUS_ID_FIELDS) + ")"
                                                    if not doc_id else "neither a title nor a text"))
            continue
        if doc_id in seen:
            rejected.append(f"{item.location}: document id {doc_id!r} repeats an earlier one")
            continue
        seen.add(doc_id)
        record = DatasetRecord(
            id=doc_id, source=str(data.get("source") or EXTERNAL_SOURCE), title=title, description=body,
            publisher=_publisher(data.get("publisher")), keywords=_text_list(data.get("keywords")),
            themes=_text_list(data.get("themes")), geography=_geography(data.get("geography")),
            landing_page=str(data.get("landing_page") or ""),
        )
        record.metadata_quality = catalog_records.metadata_quality(record)
        records.append(record)
    return Corpus(records, rejected, detected)


def _first_text(data: dict[str, Any], raw: dict[str, Any], names: Sequence[str]) -> str:
    for name in names:
        for obj in (data, raw):
            value = obj.get(name)
            if isinstance(value, str | int) and not isinstance(value, bool) and " ".join(str(value).split()):
                return " ".join(str(value).split())
    return ""


def _publisher(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("name") or value.get("title") or ""
    return " ".join(str(value or "").split())


def _geography(value: Any) -> list[str]:
    """Alpha-2 codes (or "global") as ingest stores them, from codes or country names; unknown places dropped."""
    from dra_common.catalog.geo import to_geography

    return list(dict.fromkeys(code for code in map(to_geography, _text_list(value)) if code))


def _text_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.replace(";", ",").split(",")
    if not isinstance(value, list | tuple):
        return []
    return [" ".join(str(v).split()) for v in value if isinstance(v, str | int) and str(v).strip()]
