"""Data migrations against the real Postgres: what they change, and what they leave alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from dra_common import migrate
from dra_common.catalog.embedding import CatalogEmbedder, from_bytes
from dra_common.catalog.formats import ParseOptions, read_items
from dra_common.catalog.records import embedding_text
from dra_common.catalog.store import embed_missing, ingest
from dra_common.db import session_scope
from dra_common.models import Dataset
from dra_common.settings import Settings
from tests.fixtures.catalog.support import FIXTURES, isolated_catalog_settings

pytestmark = pytest.mark.integration


def _embeddings(settings: Settings) -> dict[str, tuple[bytes | None, str]]:
    with session_scope(settings) as session:
        return {d.id: (d.embedding, embedding_text(d)) for d in session.scalars(select(Dataset))}


def test_0002_clears_embeddings_of_country_datasets_and_they_are_recomputed_with_the_place_named(
    settings: Settings, tmp_path: Path
) -> None:
    with isolated_catalog_settings(settings, tmp_path, revision="0001") as s:
        embedder = CatalogEmbedder(threads=2, batch_size=8)
        fmt, items = read_items(FIXTURES / "records.jsonl", None, ParseOptions())
        assert ingest(s, items, origin="records.jsonl", fmt=fmt, embed=True, embedder=embedder).embedded == 5
        before = _embeddings(s)
        migrate.upgrade(s)
        after = _embeddings(s)
        cleared = {i for i, (blob, _) in after.items() if blob is None}
        # One country each: the Canadian recordings and the Singapore births; "global" datasets keep theirs.
        assert cleared == {"zenodo:1188976", "data_gov_sg:d_796d4eacf201e5c745ed873e13fdc79d"}
        assert all(after[i][0] == before[i][0] for i in after if i not in cleared)
        assert embed_missing(s, embedder) == 2
        again = _embeddings(s)
        assert again["zenodo:1188976"][1].endswith(". Canada")
        for i in cleared:
            blob, text = again[i]
            assert blob is not None
            assert float(from_bytes(blob) @ embedder.encoder.encode([text])[0]) > 0.999
