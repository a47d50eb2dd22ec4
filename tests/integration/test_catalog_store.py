"""Catalog upserts against the real Postgres: no-op re-ingest, updates, withdrawals, rejections, atomic records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis
from sqlalchemy import select, text

from dra_common.catalog.embedding import CatalogEmbedder, from_bytes
from dra_common.catalog.formats import ParseOptions, read_items
from dra_common.catalog.records import Candidate, embedding_text
from dra_common.catalog.store import Ingestor, IngestReport, ingest, ingest_records
from dra_common.db import session_scope
from dra_common.models import CatalogIngest, Dataset
from dra_common.settings import Settings
from tests.fixtures.catalog.support import FIXTURES, isolated_catalog_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cat_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with isolated_catalog_settings(settings, tmp_path_factory.mktemp("catalog-state")) as s:
        yield s


@pytest.fixture(autouse=True)
def _empty_catalog(cat_settings: Settings) -> None:
    with session_scope(cat_settings) as session:
        session.execute(text("TRUNCATE datasets, catalog_ingests"))


def ingest_file(settings: Settings, path: Path, **options: object) -> IngestReport:
    fmt, items = read_items(path, options.pop("fmt", None), ParseOptions())  # type: ignore[arg-type]
    options.setdefault("embed", False)
    return ingest(settings, items, origin=str(path), fmt=fmt, **options)


def rows(settings: Settings) -> dict[str, Dataset]:
    with session_scope(settings) as session:
        return {d.id: d for d in session.scalars(select(Dataset))}


def records_jsonl() -> list[dict[str, object]]:
    return [json.loads(line) for line in (FIXTURES / "records.jsonl").read_text().splitlines() if line.strip()]


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def test_reingesting_the_same_file_changes_nothing(cat_settings: Settings) -> None:
    first = ingest_file(cat_settings, FIXTURES / "records.jsonl")
    assert (first.added, first.updated, first.unchanged, first.rejected) == (5, 0, 0, 0)
    before = {i: (d.content_hash, d.last_ingested, d.first_ingested) for i, d in rows(cat_settings).items()}
    assert set(before) == {"world_bank:SP.POP.TOTL", "world_bank:NY.GDP.MKTP.CD", "kaggle:uciml/iris",
                           "data_gov_sg:d_796d4eacf201e5c745ed873e13fdc79d", "zenodo:1188976"}
    again = ingest_file(cat_settings, FIXTURES / "records.jsonl")
    assert (again.added, again.updated, again.unchanged, again.rejected, again.withdrawn) == (0, 0, 5, 0, 0)
    after = {i: (d.content_hash, d.last_ingested, d.first_ingested) for i, d in rows(cat_settings).items()}
    assert after == before  # untouched, not even last_ingested


def test_changed_record_is_updated_and_keeps_first_ingested(cat_settings: Settings, tmp_path: Path) -> None:
    ingest_file(cat_settings, FIXTURES / "records.jsonl")
    old = rows(cat_settings)["kaggle:uciml/iris"]
    changed = records_jsonl()
    changed[3]["title"] = "Iris Species (revised)"
    changed.append({**changed[0], "source_id": "SP.POP.GROW", "title": "Population growth (annual %)",
                    "landing_page": "https://data.worldbank.org/indicator/SP.POP.GROW"})
    report = ingest_file(cat_settings, write_jsonl(tmp_path / "v2.jsonl", changed))
    assert (report.added, report.updated, report.unchanged) == (1, 1, 4)
    new = rows(cat_settings)["kaggle:uciml/iris"]
    assert new.title == "Iris Species (revised)"
    assert new.content_hash != old.content_hash
    assert new.first_ingested == old.first_ingested and new.last_ingested > old.last_ingested


def test_full_sync_withdraws_absent_records_without_deleting(cat_settings: Settings, tmp_path: Path) -> None:
    ingest_file(cat_settings, FIXTURES / "records.jsonl")
    only_population = [r for r in records_jsonl() if r["source_id"] == "SP.POP.TOTL"]
    report = ingest_file(cat_settings, write_jsonl(tmp_path / "wb.jsonl", only_population),
                         full_sync=True, default_source="world_bank")
    assert (report.unchanged, report.withdrawn) == (1, 1)
    stored = rows(cat_settings)
    assert len(stored) == 5  # nothing deleted
    assert stored["world_bank:NY.GDP.MKTP.CD"].status == "withdrawn"
    assert stored["world_bank:SP.POP.TOTL"].status == "active"
    assert stored["kaggle:uciml/iris"].status == "active"  # other sources untouched
    back = ingest_file(cat_settings, FIXTURES / "records.jsonl")
    assert back.updated == 1 and rows(cat_settings)["world_bank:NY.GDP.MKTP.CD"].status == "active"


def test_bad_file_is_reported_precisely_and_nothing_is_lost(cat_settings: Settings) -> None:
    ingest_file(cat_settings, FIXTURES / "records.jsonl")
    before = {i: d.content_hash for i, d in rows(cat_settings).items()}
    path = FIXTURES / "bad_records.jsonl"
    report = ingest_file(cat_settings, path, full_sync=True, default_source="world_bank")
    reasons = {r.location: r.reason for r in report.rejections}
    assert report.rejected == 8 and report.withdrawn == 0
    assert reasons[f"{path}:3"] == "title is missing"
    assert reasons[f"{path}:5"] == f"duplicate id 'world_bank:SP.POP.TOTL' (first read at {path}:1)"
    assert "invalid JSON at column" in reasons[f"{path}:2"]
    assert "25,000 characters" in reasons[f"{path}:4"]
    assert "does not follow world_bank's URL scheme" in reasons[f"{path}:6"]
    assert "unknown source 'not_a_source'" in reasons[f"{path}:7"]
    assert "not valid utf-8" in reasons[f"{path}:11"]
    assert {i: d.content_hash for i, d in rows(cat_settings).items()} == before
    with session_scope(cat_settings) as session:
        run = session.get(CatalogIngest, report.ingest_id)
        assert run is not None and run.rejected == 8 and run.finished_at is not None
        assert {r["location"] for r in run.rejections if not r.get("note")} == set(reasons)


def test_unreadable_file_never_triggers_withdrawal(cat_settings: Settings) -> None:
    ingest_file(cat_settings, FIXTURES / "records.jsonl")
    report = ingest_file(cat_settings, FIXTURES / "broken.json", fmt="dcat-us", full_sync=True,
                         default_source="world_bank")
    assert report.rejected == 1 and report.rejections[0].fatal and report.withdrawn == 0
    assert any("withdrawal skipped" in n for n in report.notes)
    assert all(d.status == "active" for d in rows(cat_settings).values())


def test_record_refused_by_the_database_is_rejected_alone(cat_settings: Settings) -> None:
    with session_scope(cat_settings) as session:
        session.execute(text("""
            CREATE OR REPLACE FUNCTION refuse_marked() RETURNS trigger AS $$
            BEGIN
              IF NEW.title = 'REFUSED BY DATABASE' THEN RAISE EXCEPTION 'test trigger refuses %', NEW.id; END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql"""))
        session.execute(text("CREATE TRIGGER refuse_marked BEFORE INSERT OR UPDATE ON datasets "
                             "FOR EACH ROW EXECUTE FUNCTION refuse_marked()"))
    try:
        records = records_jsonl()[:3]
        records[1] = {**records[1], "title": "REFUSED BY DATABASE"}
        report = ingest_records(cat_settings, records, origin="test", fmt="test", embed=False, batch_size=10)
    finally:
        with session_scope(cat_settings) as session:
            session.execute(text("DROP TRIGGER refuse_marked ON datasets"))
    assert (report.added, report.rejected) == (2, 1)
    assert report.rejections[0].location == "record 1"
    assert "database refused the record" in report.rejections[0].reason and "test trigger refuses" in \
        report.rejections[0].reason
    assert "world_bank:NY.GDP.MKTP.CD" not in rows(cat_settings)


def test_interrupted_ingest_keeps_whole_batches_only(cat_settings: Settings) -> None:
    def items() -> Iterator[Candidate]:
        for i, record in enumerate(records_jsonl()):
            yield Candidate(f"record {i}", record)
        raise RuntimeError("input stream broke")

    ingestor = Ingestor(cat_settings, origin="stream", fmt="test", embed=False, batch_size=2)
    with pytest.raises(RuntimeError, match="input stream broke"), ingestor:
        ingestor.add_many(items())
    assert ingestor.report is not None
    assert ingestor.report.added == 4  # two full batches; the fifth record was never half-written
    assert len(rows(cat_settings)) == 4
    with session_scope(cat_settings) as session:
        run = session.get(CatalogIngest, ingestor.report.ingest_id)
        assert run is not None and any("interrupted" in r["reason"] for r in run.rejections)


def test_embeddings_are_stored_and_recomputed_only_when_text_changes(cat_settings: Settings, tmp_path: Path) -> None:
    embedder = CatalogEmbedder(threads=2, batch_size=8)
    report = ingest_file(cat_settings, FIXTURES / "records.jsonl", embed=True, embedder=embedder)
    assert report.embedded == 5
    stored = rows(cat_settings)
    reference = embedder.encoder.encode([embedding_text(d) for d in stored.values()])
    for row, ref in zip(stored.values(), reference, strict=True):
        assert row.embedding_model == "all-MiniLM-L6-v2"
        vector = from_bytes(row.embedding)
        assert vector.shape == (384,)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-3)
        assert float(vector @ ref) > 0.999
    changed = records_jsonl()
    changed[0]["description"] = "Mid-year population estimates of every economy."
    changed[1]["source_modified"] = "2024-12-01T00:00:00Z"  # content changes, embedding text does not
    report = ingest_file(cat_settings, write_jsonl(tmp_path / "v2.jsonl", changed), embed=True, embedder=embedder)
    assert (report.updated, report.embedded) == (2, 1)
    no_embed = ingest_file(cat_settings, write_jsonl(tmp_path / "v3.jsonl", [{**changed[0], "title": "Population"}]))
    assert no_embed.updated == 1 and rows(cat_settings)["world_bank:SP.POP.TOTL"].embedding is None
    filled = ingest_file(cat_settings, tmp_path / "v3.jsonl", embed=True, embedder=embedder)
    assert (filled.unchanged, filled.embedded) == (1, 1)
    assert rows(cat_settings)["world_bank:SP.POP.TOTL"].embedding is not None


def test_catalog_version_is_published_and_a_dead_redis_does_not_fail_the_ingest(cat_settings: Settings) -> None:
    client = redis.Redis.from_url(cat_settings.redis_url)
    pubsub = client.pubsub()
    pubsub.subscribe(cat_settings.key("catalog_version"))
    pubsub.get_message(timeout=1.0)  # subscription confirmation
    report = ingest_file(cat_settings, FIXTURES / "records.jsonl")
    assert report.version_published
    assert client.get(cat_settings.key("catalog_version")) == str(report.ingest_id).encode()
    message = pubsub.get_message(timeout=2.0)
    assert message is not None and message["data"] == str(report.ingest_id).encode()
    unchanged = ingest_file(cat_settings, FIXTURES / "records.jsonl")
    assert not unchanged.version_published  # nothing changed: ranking has nothing to reload
    assert client.get(cat_settings.key("catalog_version")) == str(report.ingest_id).encode()
    pubsub.close()

    dead = cat_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    changed = records_jsonl()[:1]
    changed[0]["title"] = "Population, total (all residents)"
    offline = ingest_records(dead, changed, origin="offline", fmt="test", embed=False)
    assert offline.updated == 1 and not offline.version_published
