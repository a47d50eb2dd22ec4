"""The catalog browsing routes on a minimal FastAPI app over the real Postgres."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dra_common.catalog.formats import read_items
from dra_common.catalog.store import custom_source, ingest, register_source
from dra_common.domain import SOURCE_NAMES
from dra_common.settings import Settings
from dra_gateway.api.routes.catalog import router
from tests.fixtures.catalog.support import FIXTURES, isolated_catalog_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cat_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with isolated_catalog_settings(settings, tmp_path_factory.mktemp("catalog-routes")) as s:
        fmt, items = read_items(FIXTURES / "records.jsonl")
        ingest(s, items, origin="records.jsonl", fmt=fmt, embed=False)
        register_source(s, custom_source("hdx", "https://data.humdata.org", kind="international organisation"))
        yield s


@pytest.fixture(scope="module")
def client(cat_settings: Settings) -> Iterator[TestClient]:
    app = FastAPI()
    app.state.settings = cat_settings
    app.include_router(router)
    with TestClient(app) as c:
        yield c


def test_stats(client: TestClient) -> None:
    body = client.get("/api/v2/catalog/stats").json()
    assert body["total"] == 5 and body["withdrawn"] == 0
    assert body["by_source"] == {"world_bank": 2, "data_gov_sg": 1, "kaggle": 1, "zenodo": 1}
    assert body["by_geography"] == {"global": 3, "SG": 1, "CA": 1}
    assert body["singapore_public_sector"] == 1
    assert body["last_ingest"]["origin"] == "records.jsonl" and body["last_ingest"]["added"] == 5


def test_dataset_full_record_including_ids_with_slashes(client: TestClient) -> None:
    body = client.get("/api/v2/datasets/kaggle:uciml/iris").json()
    assert body["id"] == "kaggle:uciml/iris"
    assert body["title"] == "Iris Species"
    assert body["landing_page"] == "https://www.kaggle.com/datasets/uciml/iris"
    assert body["raw"]["source_id"] == "uciml/iris"
    assert body["status"] == "active" and body["has_embedding"] is False
    assert 0 < body["metadata_quality"] <= 1
    wb = client.get("/api/v2/datasets/world_bank:SP.POP.TOTL").json()
    assert wb["temporal_start"] == "1960" and wb["formats"] == ["API", "CSV"]


def test_unknown_dataset_is_404_with_message(client: TestClient) -> None:
    response = client.get("/api/v2/datasets/world_bank:NOPE.NOT.REAL")
    assert response.status_code == 404
    assert response.json()["detail"] == "dataset 'world_bank:NOPE.NOT.REAL' not found"
    hint = client.get("/api/v2/datasets/iris")
    assert hint.status_code == 404 and "<source>:<source_id>" in hint.json()["detail"]


def test_sources(client: TestClient) -> None:
    body = client.get("/api/v2/sources").json()
    names = [s["name"] for s in body["sources"]]
    assert names[: len(SOURCE_NAMES)] == list(SOURCE_NAMES) and names[-1] == "hdx"
    by_name = {s["name"]: s for s in body["sources"]}
    assert by_name["data_gov_sg"]["singapore_public_sector"] is True and by_name["data_gov_sg"]["datasets"] == 1
    assert by_name["world_bank"]["datasets"] == 2 and by_name["world_bank"]["kind"] == "international organisation"
    assert by_name["hdx"]["registered"] is False and by_name["hdx"]["datasets"] == 0
