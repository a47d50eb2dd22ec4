"""Live-portal connectors against a local HTTP server replaying each API's documented responses.

Covers paging, retries on 429 / 500 with backoff, giving up cleanly, resuming an interrupted sync, and the
withdrawal of records a complete listing no longer has. Nothing here touches the internet.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from dra_common.catalog.connectors import ConnectorError, HttpFetcher, SyncState, make_connector, run_sync
from dra_common.catalog.store import custom_source, ingest_records, register_source
from dra_common.db import session_scope
from dra_common.models import Dataset
from dra_common.settings import Settings
from tests.fixtures.catalog.support import ReplayServer, Scripted, api_routes, isolated_catalog_settings

pytestmark = pytest.mark.integration

STALE_SG = {
    "source": "data_gov_sg", "source_id": "d_0209daebca16e0bcc0a75681376b82ee", "title": "SLA Cadastral Airspace Parcel",
    "landing_page": "https://data.gov.sg/datasets/d_0209daebca16e0bcc0a75681376b82ee/view", "formats": ["KML"],
}


@pytest.fixture(scope="module")
def cat_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with isolated_catalog_settings(settings, tmp_path_factory.mktemp("catalog-sync")) as s:
        yield s


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    replay = ReplayServer(api_routes).start()
    yield replay
    replay.stop()


@pytest.fixture(autouse=True)
def _fresh(cat_settings: Settings, server: ReplayServer) -> None:
    with session_scope(cat_settings) as session:
        session.execute(text("TRUNCATE datasets, catalog_ingests"))
    shutil.rmtree(Path(cat_settings.state_dir) / "catalog-sync", ignore_errors=True)
    server.requests.clear()
    server.failures.clear()


def fetcher() -> HttpFetcher:
    return HttpFetcher(timeout=5, min_interval=0.0, max_attempts=3, backoff_base=0.01, backoff_max=0.05)


def stored(settings: Settings, source: str) -> dict[str, Dataset]:
    with session_scope(settings) as session:
        return {d.id: d for d in session.scalars(select(Dataset).where(Dataset.source == source))}


def test_data_gov_sg_pages_retries_and_withdraws(cat_settings: Settings, server: ReplayServer) -> None:
    ingest_records(cat_settings, [STALE_SG], origin="earlier", fmt="test", embed=False)
    server.fail("page=2", Scripted(429, times=1, retry_after="0"))
    server.fail("/v2/public/api/datasets?page=2", Scripted(500, times=1))
    conn = make_connector("data_gov_sg", base_url=server.base_url, fetcher=fetcher())
    result = run_sync(cat_settings, conn, embed=False)
    assert result.completed and result.error is None and result.pages == 2
    assert result.retries == 2
    assert server.requests == ["/v2/public/api/datasets?page=1"] + ["/v2/public/api/datasets?page=2"] * 3
    assert (result.report.added, result.report.withdrawn) == (5, 1)
    rows = stored(cat_settings, "data_gov_sg")
    assert rows["data_gov_sg:d_0209daebca16e0bcc0a75681376b82ee"].status == "withdrawn"
    births = rows["data_gov_sg:d_796d4eacf201e5c745ed873e13fdc79d"]
    assert births.landing_page == "https://data.gov.sg/datasets/d_796d4eacf201e5c745ed873e13fdc79d/view"
    assert births.publisher == "Immigration and Checkpoints Authority"
    assert (births.temporal_start, births.temporal_end) == ("1984-01-01", "2021-12-31")
    assert births.geography == ["SG"] and births.formats == ["CSV"]
    assert births.api_url and "datastore_search?resource_id=d_796d4eacf201e5c745ed873e13fdc79d" in births.api_url
    parks = rows["data_gov_sg:d_d8699518b4f4bc1c1404cfb5b55534d4"]
    assert parks.api_url and parks.api_url.endswith("/poll-download")
    again = run_sync(cat_settings, make_connector("data_gov_sg", base_url=server.base_url, fetcher=fetcher()),
                     embed=False)
    assert (again.report.added, again.report.updated, again.report.unchanged) == (0, 0, 5)


def test_world_bank_indicators(cat_settings: Settings, server: ReplayServer) -> None:
    conn = make_connector("world_bank", base_url=server.base_url, fetcher=fetcher(), page_size=3)
    result = run_sync(cat_settings, conn, embed=False)
    assert result.completed and result.pages == 2 and result.report.added == 5
    assert server.requests[0] == "/v2/indicator?format=json&page=1&per_page=3"
    rows = stored(cat_settings, "world_bank")
    gdp = rows["world_bank:NY.GDP.MKTP.CD"]
    assert gdp.landing_page == "https://data.worldbank.org/indicator/NY.GDP.MKTP.CD"
    assert gdp.themes == ["economics_finance"] and "economy & growth" in gdp.keywords
    assert gdp.publisher == "World Bank (World Development Indicators)"
    assert "Source: World Bank national accounts data" in gdp.description
    assert rows["world_bank:SE.PRM.ENRR"].themes == ["education"]
    assert rows["world_bank:EN.ATM.PM25.MC.M3"].themes == ["climate_environment"]


def test_zenodo_search_is_never_a_full_listing(cat_settings: Settings, server: ReplayServer) -> None:
    ingest_records(cat_settings, [{"source": "zenodo", "source_id": "1188976", "title": "Speech emotion recordings",
                                   "landing_page": "https://zenodo.org/records/1188976"}],
                   origin="earlier", fmt="test", embed=False)
    conn = make_connector("zenodo", base_url=server.base_url, fetcher=fetcher(), page_size=2, query="emotion")
    result = run_sync(cat_settings, conn, embed=False)
    assert result.completed and result.pages == 2
    assert server.requests[0] == "/api/records?page=1&q=emotion&size=2&sort=mostrecent&type=dataset"
    assert (result.report.added, result.report.withdrawn) == (3, 0)
    rows = stored(cat_settings, "zenodo")
    assert rows["zenodo:1188976"].status == "active"
    music = rows["zenodo:4001"]
    assert music.description == "EEG recorded while participants listened to music & rated emotions."
    assert music.publisher == "Doe, Jane; Roe, Richard" and music.formats == ["EDF", "CSV"]
    assert music.license == "cc-by-4.0" and music.landing_page == "https://zenodo.org/records/4001"


def test_any_ckan_portal_by_base_url(cat_settings: Settings, server: ReplayServer) -> None:
    register_source(cat_settings, custom_source("local_ckan", server.base_url))
    conn = make_connector("ckan", base_url=server.base_url, source="local_ckan", fetcher=fetcher(), page_size=2)
    result = run_sync(cat_settings, conn, embed=False)
    assert result.completed and result.pages == 3 and result.report.added == 5, result.report.as_dict()
    starts = [r.split("start=")[1].split("&")[0] for r in server.requests]
    assert starts == ["0", "2", "4"]
    rows = stored(cat_settings, "local_ckan")
    assert {d.landing_page for d in rows.values()} >= {f"{server.base_url}/dataset/transport-network-lebanon"}


def test_interrupted_sync_resumes_where_it_stopped(cat_settings: Settings, server: ReplayServer) -> None:
    ingest_records(cat_settings, [STALE_SG], origin="earlier", fmt="test", embed=False)
    first = run_sync(cat_settings, make_connector("data_gov_sg", base_url=server.base_url, fetcher=fetcher()),
                     embed=False, max_pages=1)
    assert not first.completed and first.next_cursor == 2 and first.report.added == 3
    assert first.report.withdrawn == 0  # an incomplete listing withdraws nothing
    state = SyncState(cat_settings, make_connector("data_gov_sg", base_url=server.base_url).state_key()).load()
    assert state is not None and state["cursor"] == 2 and len(state["seen"]) == 3
    server.requests.clear()
    second = run_sync(cat_settings, make_connector("data_gov_sg", base_url=server.base_url, fetcher=fetcher()),
                      embed=False)
    assert second.resumed_from == 2 and second.completed
    assert server.requests == ["/v2/public/api/datasets?page=2"]
    assert (second.report.added, second.report.withdrawn) == (2, 1)  # ids of the first run count as listed
    rows = stored(cat_settings, "data_gov_sg")
    assert sum(d.status == "active" for d in rows.values()) == 5
    assert rows["data_gov_sg:d_0209daebca16e0bcc0a75681376b82ee"].status == "withdrawn"
    assert SyncState(cat_settings, make_connector("data_gov_sg", base_url=server.base_url).state_key()).load() is None


def test_persistent_failure_stops_cleanly_and_resumes(cat_settings: Settings, server: ReplayServer) -> None:
    server.fail("/v2/indicator?format=json&page=2", Scripted(500, times=3))
    conn = make_connector("world_bank", base_url=server.base_url, fetcher=fetcher(), page_size=3)
    broken = run_sync(cat_settings, conn, embed=False)
    assert not broken.completed and broken.error and "HTTP 500 3 times" in broken.error
    assert broken.report.added == 3 and broken.next_cursor == 2
    assert any("interrupted" in note for note in broken.report.notes)
    resumed = run_sync(cat_settings, make_connector("world_bank", base_url=server.base_url, fetcher=fetcher(),
                                                    page_size=3), embed=False)
    assert resumed.completed and resumed.resumed_from == 2 and resumed.report.added == 2
    assert len(stored(cat_settings, "world_bank")) == 5


def test_client_errors_are_not_retried(server: ReplayServer) -> None:
    with fetcher() as http:
        with pytest.raises(ConnectorError, match="HTTP 404"):
            http.get_json(f"{server.base_url}/no/such/endpoint")
        assert http.requests == 1 and http.retries == 0
