"""Writing the catalog to Postgres: the sources registry, upserts by (source, source_id), withdrawals, ingest runs.

Guarantees the operator relies on:
- identical content (same content hash) is left untouched, so re-ingesting a file is a no-op;
- a record is written whole or not at all: records are validated before writing, batches are written in one
  transaction each, and a batch the database refuses is retried record by record in savepoints;
- one bad record never stops the others; every rejection keeps its reason and location;
- a full sync marks records that disappeared as `withdrawn`, never deletes them, and is skipped when the
  input could not be read completely;
- after a run that changed something, the catalog version is bumped over Redis so ranking reloads.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Text, all_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dra_common.catalog.embedding import CatalogEmbedder, to_bytes
from dra_common.catalog.records import (
    Candidate,
    CatalogRecord,
    Item,
    Rejection,
    content_hash,
    embedding_text,
    metadata_quality,
    validate_candidate,
)
from dra_common.db import session_scope
from dra_common.domain import (
    COMPETITION_PLATFORM,
    GOVERNMENT_PORTAL,
    INTERNATIONAL_ORGANISATION,
    RESEARCH_REPOSITORY,
    SOURCE_BY_NAME,
    SOURCES,
    STATISTICS_OFFICE,
    SourceInfo,
    dataset_id,
)
from dra_common.models import CatalogIngest, Dataset, Source
from dra_common.settings import Settings

log = logging.getLogger(__name__)

SOURCE_KINDS = (GOVERNMENT_PORTAL, STATISTICS_OFFICE, RESEARCH_REPOSITORY, COMPETITION_PLATFORM,
                INTERNATIONAL_ORGANISATION)
MAX_STORED_REJECTIONS = 10_000
_SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]{1,63}$")

_CONTENT_COLUMNS = (
    "source", "source_id", "title", "description", "publisher", "keywords", "themes", "geography",
    "temporal_start", "temporal_end", "update_frequency", "formats", "license", "landing_page", "api_url",
    "source_modified", "metadata_quality", "status", "content_hash", "last_ingested", "raw",
)


# --- sources -------------------------------------------------------------------------------------------


def _source_row(info: SourceInfo) -> dict[str, Any]:
    return {
        "name": info.name, "title": info.title, "kind": info.kind, "home_page": info.home_page,
        "country": info.country, "singapore_public_sector": info.singapore_public_sector,
        "url_pattern": info.url_pattern,
    }


def _upsert_sources(session: Session, infos: Iterable[SourceInfo]) -> int:
    rows = [_source_row(i) for i in infos]
    if not rows:
        return 0
    stmt = pg_insert(Source)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Source.name],
        set_={c: stmt.excluded[c] for c in ("title", "kind", "home_page", "country", "singapore_public_sector",
                                            "url_pattern")},
    )
    session.execute(stmt, rows)
    return len(rows)


def sync_sources(settings: Settings) -> int:
    """Write the SOURCES registry into the `sources` table (insert or update); returns the number written."""
    with session_scope(settings) as session:
        return _upsert_sources(session, SOURCES)


def custom_source(
    name: str, home_page: str, kind: str = GOVERNMENT_PORTAL, country: str = "global", title: str | None = None
) -> SourceInfo:
    """A source outside the registry (a CKAN portal, an agency's data.json): its landing pages must be on its host.

    Raises:
        ValueError: the name clashes with a registered source or is not a slug, or the home page is no URL.
    """
    if name in SOURCE_BY_NAME:
        raise ValueError(f"{name!r} is a registered source; custom sources need another name")
    if not _SOURCE_NAME.match(name):
        raise ValueError(f"source name {name!r} must be lower-case letters, digits and _ (2-64 characters)")
    match = re.match(r"^https?://([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(:\d+)?(/.*)?$", home_page.strip())
    if not match:
        raise ValueError(f"home page {home_page!r} is not an absolute http(s) URL")
    if kind not in SOURCE_KINDS:
        raise ValueError(f"kind {kind!r} is not one of: {', '.join(SOURCE_KINDS)}")
    host = match.group(1).lower().removeprefix("www.")
    pattern = rf"^https?://(www\.)?{re.escape(host)}{re.escape(match.group(2) or '')}(/|$)"
    return SourceInfo(name, title or host, kind, home_page.strip().rstrip("/"), country, False, pattern)


def register_source(settings: Settings, info: SourceInfo) -> None:
    """Add or update a custom source in the `sources` table."""
    with session_scope(settings) as session:
        _upsert_sources(session, [info])


def known_sources(settings: Settings) -> dict[str, SourceInfo]:
    """Registered sources plus custom sources stored in the `sources` table."""
    out = dict(SOURCE_BY_NAME)
    with session_scope(settings) as session:
        for row in session.scalars(select(Source)):
            if row.name not in out:
                out[row.name] = SourceInfo(row.name, row.title, row.kind, row.home_page, row.country,
                                           row.singapore_public_sector, row.url_pattern or "^$")
    return out


# --- ingest --------------------------------------------------------------------------------------------


@dataclass
class IngestReport:
    """What one ingest or sync run did."""

    ingest_id: int
    origin: str
    format: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    withdrawn: int = 0
    embedded: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    version_published: bool = False

    @property
    def changed(self) -> int:
        """Records whose stored state changed in this run."""
        return self.added + self.updated + self.withdrawn

    @property
    def processed(self) -> int:
        """Input records seen (stored, unchanged or rejected)."""
        return self.added + self.updated + self.unchanged + self.rejected

    def summary(self) -> str:
        """One line: added / updated / unchanged / rejected / withdrawn."""
        return (f"added {self.added}, updated {self.updated}, unchanged {self.unchanged}, "
                f"rejected {self.rejected}, withdrawn {self.withdrawn}")

    def as_dict(self) -> dict[str, Any]:
        """JSON form (CLI --json, Celery task results)."""
        return {
            "ingest_id": self.ingest_id, "origin": self.origin, "format": self.format, "added": self.added,
            "updated": self.updated, "unchanged": self.unchanged, "rejected": self.rejected,
            "withdrawn": self.withdrawn, "embedded": self.embedded, "seconds": round(self.seconds, 3),
            "rejections": [r.as_dict() for r in self.rejections], "notes": self.notes,
            "version_published": self.version_published,
        }


@dataclass
class _Pending:
    location: str
    record: CatalogRecord
    hash: str


class Ingestor:
    """One ingest run: feed it items (`add`), it validates, de-duplicates and upserts them in batches.

    Use as a context manager or call `start()` / `finish()`. `flush()` makes everything added so far durable,
    which connectors call before saving their resume point.

    Args:
        settings: the stack's settings (DATABASE_URL, REDIS_URL, prefix).
        origin: what is ingested (a path, a URL), kept in `catalog_ingests`.
        fmt: the input format's name.
        default_source: source of records that carry none (generic portals' exports).
        full_sync: records of the synced source(s) absent from the input become `withdrawn`.
        full_sync_sources: the sources a full sync covers; default: `default_source`, else every source seen.
        embed: compute embeddings for added and changed records.
        embedder: a loaded CatalogEmbedder to reuse (else one is created on first need).
        batch_size: records per database transaction.
        sources: the source registry to validate against (default: registry + custom sources in Postgres).
        on_progress: called with the number of input records just processed (for a progress bar).
        publish: bump the catalog version over Redis when something changed.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        origin: str,
        fmt: str,
        default_source: str | None = None,
        full_sync: bool = False,
        full_sync_sources: Iterable[str] | None = None,
        embed: bool = True,
        embedder: CatalogEmbedder | None = None,
        batch_size: int = 500,
        sources: Mapping[str, SourceInfo] | None = None,
        on_progress: Callable[[int], None] | None = None,
        publish: bool = True,
    ) -> None:
        self.settings = settings
        self.origin = origin
        self.fmt = fmt
        self.default_source = default_source
        self.full_sync = full_sync
        self.full_sync_sources = set(full_sync_sources or [])
        self.embed = embed
        self.embedder = embedder
        self.batch_size = max(1, batch_size)
        self.sources = sources
        self.on_progress = on_progress
        self.publish = publish
        self._pending: list[_Pending] = []
        self._seen: dict[str, str] = {}  # valid records read: id -> location (duplicates are rejected)
        self._protected: set[str] = set()  # ids read but rejected: a full sync must not withdraw them
        self._valid_by_source: dict[str, int] = {}
        self._fatal = False
        self._own_embedder = False
        self._started = 0.0
        self.report: IngestReport | None = None

    # lifecycle

    def start(self) -> Ingestor:
        """Write the sources registry and open the `catalog_ingests` row of this run."""
        self._started = time.perf_counter()
        if self.sources is None:
            sync_sources(self.settings)
            self.sources = known_sources(self.settings)
        else:
            with session_scope(self.settings) as session:
                _upsert_sources(session, self.sources.values())
        if self.default_source and self.default_source not in self.sources:
            raise ValueError(f"unknown source {self.default_source!r} (registered: {', '.join(sorted(self.sources))})")
        with session_scope(self.settings) as session:
            row = CatalogIngest(origin=self.origin[:2000], source=self.default_source, format=self.fmt[:32],
                                added=0, updated=0, unchanged=0, rejected=0, withdrawn=0, rejections=[])
            session.add(row)
            session.flush()
            ingest_id = int(row.id)
        self.report = IngestReport(ingest_id=ingest_id, origin=self.origin, format=self.fmt)
        return self

    def __enter__(self) -> Ingestor:
        return self.start()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.finish(interrupted=f"{exc_type.__name__}: {exc}")

    # feeding

    def add(self, item: Item) -> None:
        """Validate one input item and queue it (a rejection is recorded at once)."""
        self._require_report()
        if isinstance(item, Rejection):
            self._reject(item)
            return
        result = validate_candidate(item, self.sources, self.default_source)
        if isinstance(result, Rejection):
            self._reject(result)
            return
        previous = self._seen.get(result.id)
        if previous is not None:
            self._reject(Rejection(item.location, f"duplicate id {result.id!r} (first read at {previous})",
                                   source=result.source, source_id=result.source_id))
            return
        self._seen[result.id] = item.location
        self._valid_by_source[result.source] = self._valid_by_source.get(result.source, 0) + 1
        self._pending.append(_Pending(item.location, result, content_hash(result)))
        if len(self._pending) >= self.batch_size:
            self.flush()

    def add_many(self, items: Iterable[Item]) -> None:
        """`add` every item."""
        for item in items:
            self.add(item)

    def remember(self, ids: Iterable[str], source: str) -> None:
        """Count ids read by an earlier, interrupted run of the same sync as seen (for its final withdrawal)."""
        for item in ids:
            if item.startswith(source + ":") and item not in self._protected:
                self._protected.add(item)
                self._valid_by_source[source] = self._valid_by_source.get(source, 0) + 1

    def seen_ids(self, source: str | None = None) -> list[str]:
        """Dataset ids read so far (of one source), valid or rejected."""
        ids = list(dict.fromkeys([*self._seen, *self._protected]))
        return ids if source is None else [i for i in ids if i.startswith(source + ":")]

    def _reject(self, rejection: Rejection) -> None:
        report = self._require_report()
        report.rejected += 1
        report.rejections.append(rejection)
        if rejection.fatal:
            self._fatal = True
        source = rejection.source or self.default_source
        if source and rejection.source_id:
            # A rejected record that is already stored must not be withdrawn by a full sync.
            self._protected.add(dataset_id(source, rejection.source_id))
        log.debug("record rejected", extra={"location": rejection.location, "reason": rejection.reason})
        if self.on_progress:
            self.on_progress(1)

    def _require_report(self) -> IngestReport:
        if self.report is None:
            raise RuntimeError("Ingestor.start() was not called")
        return self.report

    # writing

    def flush(self) -> None:
        """Write the queued records (one transaction; per-record savepoints if the database refuses the batch)."""
        report = self._require_report()
        batch, self._pending = self._pending, []
        if not batch:
            return
        now = datetime.now(UTC)
        existing = self._existing([p.record.id for p in batch])
        to_write: list[tuple[_Pending, bool]] = []  # (pending, is_new)
        embed_only: list[_Pending] = []  # unchanged content, stored without an embedding (earlier --no-embed)
        for p in batch:
            old = existing.get(p.record.id)
            if old is None:
                to_write.append((p, True))
            elif old["content_hash"] != p.hash or old["status"] != "active":
                to_write.append((p, False))
            else:
                report.unchanged += 1
                if self.embed and not old["has_embedding"]:
                    embed_only.append(p)
        needs_vector = [(p, new) for p, new in to_write if new or self._text_changed(p.record, existing[p.record.id])]
        vectors: dict[str, bytes] = {}
        if self.embed and (needs_vector or embed_only):
            embedder = self._embedder()
            targets = [p for p, _ in needs_vector] + embed_only
            matrix = embedder.embed([embedding_text(p.record) for p in targets])
            vectors = {p.record.id: to_bytes(v) for p, v in zip(targets, matrix, strict=True)}
        if embed_only:
            self._store_embeddings([(p.record.id, vectors[p.record.id]) for p in embed_only])
            report.embedded += len(embed_only)
        reembed = {p.record.id for p, _ in needs_vector}
        rows_full: list[tuple[_Pending, bool, dict[str, Any]]] = []
        rows_keep: list[tuple[_Pending, bool, dict[str, Any]]] = []
        for p, new in to_write:
            row = self._row(p, now)
            if p.record.id in reembed:
                blob = vectors.get(p.record.id)
                row["embedding"] = blob
                row["embedding_model"] = self._embedder_name() if blob is not None else None
                rows_full.append((p, new, row))
            else:
                rows_keep.append((p, new, row))
        written = self._write(rows_full, rows_keep)
        for p, new in to_write:
            if p.record.id in written:
                if new:
                    report.added += 1
                else:
                    report.updated += 1
                if p.record.id in vectors:
                    report.embedded += 1
        if self.on_progress:
            self.on_progress(len(batch))

    def _store_embeddings(self, pairs: list[tuple[str, bytes]]) -> None:
        table = Dataset.__table__
        stmt = (table.update().where(table.c.id == bindparam("b_id"))
                .values(embedding=bindparam("b_embedding"), embedding_model=bindparam("b_model")))
        with session_scope(self.settings) as session:
            session.execute(stmt, [{"b_id": i, "b_embedding": blob, "b_model": self._embedder_name()}
                                   for i, blob in pairs])

    def _embedder(self) -> CatalogEmbedder:
        if self.embedder is None:
            self.embedder = default_embedder(self.settings)
            self._own_embedder = True
        return self.embedder

    def _embedder_name(self) -> str:
        return self.embedder.name if self.embedder is not None else ""

    @staticmethod
    def _text_changed(record: CatalogRecord, old: Mapping[str, Any]) -> bool:
        if not old["has_embedding"]:
            return True
        return embedding_text(record) != embedding_text(old)

    def _existing(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        with session_scope(self.settings) as session:
            result = session.execute(
                select(Dataset.id, Dataset.content_hash, Dataset.status, Dataset.title, Dataset.keywords,
                       Dataset.publisher, Dataset.description, Dataset.geography,
                       Dataset.embedding.is_not(None).label("has_embedding"))
                .where(Dataset.id.in_(ids))
            )
            return {row.id: dict(row._mapping) for row in result}

    @staticmethod
    def _row(p: _Pending, now: datetime) -> dict[str, Any]:
        r = p.record
        return {
            "id": r.id, "source": r.source, "source_id": r.source_id, "title": r.title,
            "description": r.description, "publisher": r.publisher, "keywords": list(r.keywords),
            "themes": list(r.themes), "geography": list(r.geography), "temporal_start": r.temporal_start,
            "temporal_end": r.temporal_end, "update_frequency": r.update_frequency, "formats": list(r.formats),
            "license": r.license, "landing_page": r.landing_page, "api_url": r.api_url,
            "source_modified": r.source_modified, "metadata_quality": metadata_quality(r, now), "status": "active",
            "content_hash": p.hash, "last_ingested": now, "raw": _jsonb_safe(r.raw),
        }

    def _write(
        self,
        rows_full: list[tuple[_Pending, bool, dict[str, Any]]],
        rows_keep: list[tuple[_Pending, bool, dict[str, Any]]],
    ) -> set[str]:
        stmt_full = _upsert_statement(with_embedding=True)
        stmt_keep = _upsert_statement(with_embedding=False)
        try:
            with session_scope(self.settings) as session:
                if rows_full:
                    session.execute(stmt_full, [row for _, _, row in rows_full])
                if rows_keep:
                    session.execute(stmt_keep, [row for _, _, row in rows_keep])
            return {row["id"] for _, _, row in rows_full + rows_keep}
        except SQLAlchemyError as exc:
            log.warning("batch refused, retrying record by record", extra={"error": str(exc)[:500]})
        written: set[str] = set()
        with session_scope(self.settings) as session:
            for stmt, rows in ((stmt_full, rows_full), (stmt_keep, rows_keep)):
                for p, _, row in rows:
                    try:
                        with session.begin_nested():
                            session.execute(stmt, [row])
                        written.add(row["id"])
                    except SQLAlchemyError as exc:
                        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:300]
                        self._reject(Rejection(p.location, f"database refused the record: {reason}",
                                               source=p.record.source, source_id=p.record.source_id))
        return written

    # finishing

    def finish(self, interrupted: str | None = None) -> IngestReport:
        """Flush, withdraw what a full sync no longer lists, close the run's row and publish the new version."""
        report = self._require_report()
        if interrupted is None:
            self.flush()
        else:
            unwritten, self._pending = len(self._pending), []
            report.notes.append(f"interrupted ({interrupted}); records written before it are kept"
                                + (f", {unwritten} validated record(s) not written" if unwritten else ""))
        if self._own_embedder and self.embedder is not None:
            self.embedder.close()
        if self.full_sync:
            self._withdraw(report, interrupted)
        report.seconds = time.perf_counter() - self._started
        stored = report.rejections[:MAX_STORED_REJECTIONS]
        if len(report.rejections) > MAX_STORED_REJECTIONS:
            report.notes.append(f"only the first {MAX_STORED_REJECTIONS} of {len(report.rejections)} rejections stored")
        with session_scope(self.settings) as session:
            session.execute(
                update(CatalogIngest).where(CatalogIngest.id == report.ingest_id).values(
                    finished_at=datetime.now(UTC), added=report.added, updated=report.updated,
                    unchanged=report.unchanged, rejected=report.rejected, withdrawn=report.withdrawn,
                    rejections=[r.as_dict() for r in stored] + [{"location": "", "reason": n, "note": True}
                                                                for n in report.notes],
                    source=self.default_source or (next(iter(self._valid_by_source))
                                                   if len(self._valid_by_source) == 1 else None),
                )
            )
        if self.publish and report.changed:
            report.version_published = publish_catalog_version(self.settings, report.ingest_id)
        log.info("catalog ingest finished", extra={"ingest_id": report.ingest_id, "origin": self.origin,
                                                   "summary": report.summary(), "seconds": round(report.seconds, 2)})
        return report

    def _withdraw(self, report: IngestReport, interrupted: str | None) -> None:
        if interrupted is not None:
            report.notes.append("full sync: withdrawal skipped because the run was interrupted")
            return
        if self._fatal:
            report.notes.append("full sync: withdrawal skipped because the input could not be read completely")
            return
        scope = self.full_sync_sources or ({self.default_source} if self.default_source else set(self._valid_by_source))
        now = datetime.now(UTC)
        for source in sorted(scope):
            if not self._valid_by_source.get(source):
                report.notes.append(f"full sync: no valid records of {source}; nothing withdrawn")
                continue
            seen = self.seen_ids(source)
            with session_scope(self.settings) as session:
                result = session.execute(
                    update(Dataset)
                    .where(Dataset.source == source, Dataset.status == "active",
                           Dataset.id != all_(bindparam("seen", seen, type_=ARRAY(Text))))
                    .values(status="withdrawn", last_ingested=now)
                    .execution_options(synchronize_session=False)
                )
                report.withdrawn += int(result.rowcount or 0)


def default_embedder(settings: Settings) -> CatalogEmbedder:
    """The embedder an ingest creates when given none: one single-threaded worker process per core, each on the
    fastest precision that agrees with float32 (the int8 ONNX model is cached in MODEL_CACHE_DIR)."""
    cores = max(1, os.cpu_count() or 1)
    return CatalogEmbedder(threads=cores, workers=cores, onnx_dir=Path(settings.model_cache_dir))


def _upsert_statement(with_embedding: bool) -> Any:
    stmt = pg_insert(Dataset)
    columns = list(_CONTENT_COLUMNS) + (["embedding", "embedding_model"] if with_embedding else [])
    return stmt.on_conflict_do_update(index_elements=[Dataset.id], set_={c: stmt.excluded[c] for c in columns})


def _jsonb_safe(raw: dict[str, Any]) -> dict[str, Any]:
    """Postgres JSONB refuses the NUL character; drop it rather than the record."""
    text = json.dumps(raw, default=str, ensure_ascii=False)
    if "\\u0000" not in text:
        return raw
    return json.loads(text.replace("\\u0000", ""))


def publish_catalog_version(settings: Settings, version: int) -> bool:
    """Bump the catalog version over Redis; a dead Redis is logged, not raised (the ingest itself succeeded)."""
    import redis

    from dra_common.catalog_version import bump_catalog_version
    from dra_common.redis_client import redis_client

    try:
        bump_catalog_version(redis_client(settings), settings, version)
        return True
    except (redis.RedisError, OSError) as exc:
        log.warning("catalog version not published: Redis unavailable; ranking reloads on its next check",
                    extra={"version": version, "error": str(exc)})
        return False


def ingest(settings: Settings, items: Iterable[Item], **options: Any) -> IngestReport:
    """Run one ingest over `items` (see `Ingestor` for the options) and return its report."""
    ingestor = Ingestor(settings, **options)
    with ingestor:
        ingestor.add_many(items)
    assert ingestor.report is not None
    return ingestor.report


def ingest_records(settings: Settings, records: Iterable[Mapping[str, Any]], **options: Any) -> IngestReport:
    """Ingest plain dicts in the catalog record format (tests, benchmarks, worker tasks)."""
    items = (Candidate(f"record {i}", dict(r)) for i, r in enumerate(records))
    return ingest(settings, items, **options)


# --- maintenance and read side ------------------------------------------------------------------------


def embed_missing(settings: Settings, embedder: CatalogEmbedder | None = None, batch_size: int = 256,
                  on_progress: Callable[[int], None] | None = None) -> int:
    """Embed active records stored without an embedding (after `--no-embed` ingests); returns how many."""
    own = embedder is None
    embedder = embedder or default_embedder(settings)
    try:
        return _embed_missing(settings, embedder, batch_size, on_progress)
    finally:
        if own:
            embedder.close()


def _embed_missing(settings: Settings, embedder: CatalogEmbedder, batch_size: int,
                   on_progress: Callable[[int], None] | None) -> int:
    done = 0
    while True:
        with session_scope(settings) as session:
            rows = session.execute(
                select(Dataset.id, Dataset.title, Dataset.keywords, Dataset.publisher, Dataset.description,
                       Dataset.geography)
                .where(Dataset.embedding.is_(None), Dataset.status == "active").order_by(Dataset.id).limit(batch_size)
            ).all()
            if not rows:
                return done
            matrix = embedder.embed([embedding_text(dict(r._mapping)) for r in rows])
            for row, vector in zip(rows, matrix, strict=True):
                session.execute(update(Dataset).where(Dataset.id == row.id)
                                .values(embedding=to_bytes(vector), embedding_model=embedder.name))
        done += len(rows)
        if on_progress:
            on_progress(len(rows))


def catalog_is_empty(settings: Settings) -> bool:
    """Whether no dataset is stored yet (`load-default --if-empty`)."""
    with session_scope(settings) as session:
        return session.execute(select(Dataset.id).limit(1)).first() is None


def catalog_stats(session: Session) -> dict[str, Any]:
    """Totals of the active catalog: per source, per geography, Singapore public sector, embeddings, last ingest."""
    active = Dataset.status == "active"
    total = session.scalar(select(func.count()).select_from(Dataset).where(active)) or 0
    withdrawn = session.scalar(select(func.count()).select_from(Dataset).where(Dataset.status == "withdrawn")) or 0
    embedded = session.scalar(select(func.count()).select_from(Dataset).where(active, Dataset.embedding.is_not(None)))
    by_source = dict(session.execute(
        select(Dataset.source, func.count()).where(active).group_by(Dataset.source).order_by(func.count().desc())
    ).all())
    geo = func.unnest(Dataset.geography).label("geo")
    geo_rows = session.execute(select(geo, func.count()).where(active).group_by("geo").order_by(func.count().desc()))
    by_geography = {str(code): int(n) for code, n in geo_rows}
    no_geo = session.scalar(
        select(func.count()).select_from(Dataset).where(active, func.cardinality(Dataset.geography) == 0)
    ) or 0
    if no_geo:
        by_geography["unknown"] = int(no_geo)
    sg = session.scalar(
        select(func.count()).select_from(Dataset).join(Source, Source.name == Dataset.source)
        .where(active, Source.singapore_public_sector.is_(True))
    ) or 0
    last = session.scalars(
        select(CatalogIngest).where(CatalogIngest.finished_at.is_not(None)).order_by(CatalogIngest.id.desc()).limit(1)
    ).first()
    return {
        "total": int(total),
        "withdrawn": int(withdrawn),
        "embedded": int(embedded or 0),
        "singapore_public_sector": int(sg),
        "by_source": {str(k): int(v) for k, v in by_source.items()},
        "by_geography": by_geography,
        "last_ingest": ingest_summary(last) if last is not None else None,
    }


def ingest_summary(row: CatalogIngest) -> dict[str, Any]:
    """The public form of a `catalog_ingests` row (without the rejection list)."""
    return {
        "id": row.id, "origin": row.origin, "source": row.source, "format": row.format,
        "started_at": row.started_at.isoformat() if row.started_at else None,
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "added": row.added, "updated": row.updated, "unchanged": row.unchanged, "rejected": row.rejected,
        "withdrawn": row.withdrawn,
    }
