"""The ranking service as a real process against the test Postgres and Redis.

A handful of datasets go into the test database without embeddings (the service computes and stores
them). The service starts on a registry whose active version is a corrupt checkpoint, so it must come
up degraded; then Reload swaps in the shipped model, rollback and A/B candidates are exercised, and
requests keep succeeding while models are swapped.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import delete, func, select

from dra.v1 import ranking_pb2, ranking_pb2_grpc
from dra_common.catalog_version import bump_catalog_version
from dra_common.db import session_scope
from dra_common.domain import SOURCES
from dra_common.models import CatalogIngest, Dataset, ModelVersion, Source
from dra_common.redis_client import redis_client
from dra_common.settings import REPO_ROOT, Settings
from dra_ranking import registry
from tests.conftest import settings_env
from tests.utils.processes import ServiceProcess, python_module

pytestmark = pytest.mark.integration

DATASETS = [
    ("data_gov_sg", "d_0b3a", "HDB resale flat prices", "Resale prices of HDB flats in Singapore by town, flat type "
     "and storey range, monthly since 2017.", ["housing", "resale", "hdb"], ["SG"], ["economics_finance"]),
    ("singstat", "M212881", "Private residential property price index", "Quarterly price index of private homes in "
     "Singapore.", ["housing", "property prices"], ["SG"], ["economics_finance"]),
    ("lta_datamall", "bus-arrival", "Bus arrival", "Real-time estimated arrival times of buses at every bus stop in "
     "Singapore.", ["bus", "public transport"], ["SG"], ["transport_urban"]),
    ("world_bank", "EN.ATM.CO2E.PC", "CO2 emissions (metric tons per capita)", "Carbon dioxide emissions from "
     "burning fossil fuels and making cement, per person, by country.", ["climate change", "co2", "emissions"],
     ["global"], ["climate_environment"]),
    ("who", "malaria-incidence", "Malaria incidence per 1000 population at risk", "New malaria cases per year "
     "per 1000 people at risk, by country.", ["malaria", "incidence"], ["global"], ["health_medicine"]),
    ("openneuro", "ds003751", "EEG during emotional video clips", "Scalp EEG recorded while participants watched "
     "emotional film clips and rated valence and arousal.", ["eeg", "emotion", "affect"], ["global"], ["psychology"]),
    ("kaggle", "uciml/mushroom-classification", "Mushroom classification", "Physical characteristics of gilled "
     "mushrooms labelled edible or poisonous; a classic classification benchmark.", ["classification", "mushrooms"],
     ["US"], ["machine_learning"]),
    ("aws_opendata", "nyc-tlc-trip-records-pds", "New York City taxi trip records", "Yellow and green taxi trips in "
     "New York City with pick-up and drop-off times, locations, fares and tips.", ["taxi", "trips", "nyc"], ["US"],
     ["transport_urban"]),
    ("zenodo", "1234567", "Loneliness in older adults survey", "Survey responses on loneliness, social contact and "
     "wellbeing of adults over 65.", ["loneliness", "ageing", "survey"], ["GB"], ["psychology"]),
    ("imf", "IFS", "International Financial Statistics", "Exchange rates, interest rates, prices and monetary "
     "aggregates for IMF member countries.", ["exchange rates", "inflation", "monetary"], ["global"],
     ["economics_finance"]),
]


def _landing(source: str, source_id: str) -> str:
    return {
        "data_gov_sg": "https://data.gov.sg/datasets/d_0b3a0000000000000000000000000000/view",
        "singstat": "https://tablebuilder.singstat.gov.sg/table/TS/M212881",
        "lta_datamall": "https://datamall.lta.gov.sg/content/datamall/en/dynamic-data.html",
        "world_bank": "https://data.worldbank.org/indicator/EN.ATM.CO2E.PC",
        "who": "https://www.who.int/data/gho/data/indicators/indicator-details/GHO/malaria",
        "openneuro": "https://openneuro.org/datasets/ds003751",
        "kaggle": "https://www.kaggle.com/datasets/uciml/mushroom-classification",
        "aws_opendata": "https://registry.opendata.aws/nyc-tlc-trip-records-pds/",
        "zenodo": "https://zenodo.org/records/1234567",
        "imf": "https://data.imf.org/IFS",
    }[source]


def _load_catalog(settings: Settings) -> None:
    with session_scope(settings) as s:
        for info in SOURCES:
            if s.get(Source, info.name) is None:
                s.add(Source(name=info.name, title=info.title, kind=info.kind, home_page=info.home_page,
                             country=info.country, singapore_public_sector=info.singapore_public_sector,
                             url_pattern=info.url_pattern))
        s.flush()
        for source, sid, title, desc, kws, geo, themes in DATASETS:
            s.merge(Dataset(id=f"{source}:{sid}", source=source, source_id=sid, title=title, description=desc,
                            publisher=source, keywords=kws, themes=themes, geography=geo, formats=["CSV"],
                            landing_page=_landing(source, sid), metadata_quality=0.8, status="active",
                            content_hash=f"hash-{sid}", raw={}))
        s.add(CatalogIngest(origin="test", format="jsonl", added=len(DATASETS)))


def _models_dir(tmp: Path) -> dict[str, str]:
    """Two good versions (the shipped checkpoint under two names) and a corrupt one; returns version → path."""
    shipped = json.loads((REPO_ROOT / "models" / "manifest.json").read_text())["ranking"]
    source = REPO_ROOT / "models" / shipped["path"]
    paths: dict[str, str] = {}
    for version in ("test-good-a", "test-good-b"):
        folder = tmp / version
        folder.mkdir(parents=True)
        shutil.copy(source, folder / "model.pt")
        paths[version] = str(folder / "model.pt")
    broken = tmp / "test-broken"
    broken.mkdir()
    (broken / "model.pt").write_bytes(b"\x00 definitely not a checkpoint")
    paths["test-broken"] = str(broken / "model.pt")
    return paths


@pytest.fixture(scope="module")
def ranking(settings: Settings, tmp_path_factory: pytest.TempPathFactory, logs_dir: Path) -> Iterator[
        tuple[ranking_pb2_grpc.RankingServiceStub, Settings]]:
    """A running ranking service whose active model version is corrupt at start."""
    models_dir = tmp_path_factory.mktemp("models")
    local = settings.model_copy(update={"models_dir": models_dir})
    _load_catalog(local)
    with session_scope(local) as s:
        s.execute(delete(ModelVersion))
    for version, path in _models_dir(models_dir).items():
        registry.register(local, {"version": version, "sha256": registry.sha256_file(Path(path))}, Path(path))
    registry.activate(local, "test-broken")
    env = settings_env(local, TORCH_THREADS="1", LOG_LEVEL="INFO")
    proc = ServiceProcess("ranking", python_module("dra_ranking"), env, logs_dir / "ranking.log").start()
    try:
        proc.wait_grpc(local.ranking_addr, timeout=120)
        channel = grpc.insecure_channel(local.ranking_addr)
        yield ranking_pb2_grpc.RankingServiceStub(channel), local
        channel.close()
    finally:
        proc.stop()


def _rank(stub: ranking_pb2_grpc.RankingServiceStub, query: str, **kw: object) -> ranking_pb2.RankResponse:
    return stub.Rank(ranking_pb2.RankRequest(query=query, **kw), timeout=10)


def test_starts_degraded_on_corrupt_checkpoint_and_serves_fused(ranking):
    stub, settings = ranking
    info = stub.Info(ranking_pb2.InfoRequest(), timeout=5)
    assert info.degraded and "cannot be read" in info.degraded_reason
    assert info.catalog_size == len(DATASETS) and info.catalog_version >= 1
    response = _rank(stub, "hdb resale flat prices", max_results=3)
    assert response.degraded and response.model_version == "fused-candidates"
    assert response.recommendations[0].dataset_id == "data_gov_sg:d_0b3a"
    # Embeddings computed by the service were written back.
    with session_scope(settings) as s:
        stored = s.execute(select(func.count()).where(Dataset.embedding.is_not(None))).scalar()
    assert stored == len(DATASETS)


def test_reload_loads_a_good_version(ranking):
    stub, _ = ranking
    reply = stub.Reload(ranking_pb2.ReloadRequest(version="test-good-a"), timeout=60)
    assert reply.current_version == "test-good-a"
    info = stub.Info(ranking_pb2.InfoRequest(), timeout=5)
    assert not info.degraded and info.current_version == "test-good-a"


def test_rank_results(ranking):
    stub, _ = ranking
    stub.Reload(ranking_pb2.ReloadRequest(version="test-good-a"), timeout=60)
    cases = {
        "hdb resale flat prices": "data_gov_sg:d_0b3a",
        "EEG data for an emotion study": "openneuro:ds003751",
        "malaria cases by country": "who:malaria-incidence",
        "new york taxi trips": "aws_opendata:nyc-tlc-trip-records-pds",
    }
    for query, expected in cases.items():
        response = _rank(stub, query, max_results=5)
        top = response.recommendations[0]
        assert top.dataset_id == expected, (query, [r.dataset_id for r in response.recommendations])
        assert not response.degraded and response.model_version == "test-good-a"
        assert 0.0 <= top.relevance_score <= 1.0 and 0.0 <= top.quality_score <= 1.0 and 0 <= top.confidence <= 1
        assert top.snippet and top.url.startswith("https://") and top.title
        assert response.source_ranking and response.source_ranking[0].source == expected.split(":")[0]
    top = _rank(stub, "hdb resale flat prices").recommendations[0]
    assert "resale" in top.matched_terms and "title" in top.matched_fields
    scores = [r.relevance_score for r in _rank(stub, "hdb resale flat prices", max_results=10).recommendations]
    assert scores == sorted(scores, reverse=True)


def test_filters_and_singapore_first(ranking):
    stub, _ = ranking
    only = _rank(stub, "prices", filters={"sources": ["singstat"]}, max_results=10)
    assert {r.source for r in only.recommendations} == {"singstat"}
    geo = _rank(stub, "transport", filters={"geography": ["SG"]}, max_results=10)
    assert geo.recommendations and all("SG" in r.geography for r in geo.recommendations)
    sg = _rank(stub, "public transport arrival times", singapore_first=True, max_results=5)
    assert sg.recommendations[0].source in {"lta_datamall", "data_gov_sg", "singstat", "onemap"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": ""}, "empty"),
        ({"query": "   \t\n"}, "empty"),
        ({"query": "gdp", "max_results": 101}, "max_results"),
        ({"query": "gdp", "filters": {"sources": ["no_such_source"]}}, "no_such_source"),
        ({"query": "gdp", "filters": {"geography": ["singapore"]}}, "geography"),
        ({"query": "gdp", "query_embedding": [0.1, 0.2]}, "query_embedding"),
    ],
)
def test_bad_input_is_invalid_argument(ranking, kwargs, message):
    stub, _ = ranking
    with pytest.raises(grpc.RpcError) as err:
        stub.Rank(ranking_pb2.RankRequest(**kwargs), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in err.value.details()


def test_unicode_and_long_queries(ranking):
    stub, _ = ranking
    for query in ("😀📊", "新加坡 房价", "بيانات المناخ", "Ünïcödé ñ données climatiques"):
        response = _rank(stub, query, max_results=3)
        assert len(response.recommendations) == 3
    long = _rank(stub, "climate " * 300, max_results=3)
    assert any("cut" in n for n in long.notices)
    assert long.recommendations[0].dataset_id == "world_bank:EN.ATM.CO2E.PC"


def test_catalog_change_is_picked_up(ranking):
    stub, settings = ranking
    before = stub.Info(ranking_pb2.InfoRequest(), timeout=5)
    with session_scope(settings) as s:
        s.add(Dataset(id="zenodo:7654321", source="zenodo", source_id="7654321", title="Coral reef bleaching surveys",
                      description="Bleaching extent of coral reefs from repeated dive surveys.", publisher="zenodo",
                      keywords=["coral", "reef", "bleaching"], themes=["climate_environment"], geography=["AU"],
                      formats=["CSV"], landing_page="https://zenodo.org/records/7654321", metadata_quality=0.7,
                      status="active", content_hash="hash-coral", raw={}))
        ingest = CatalogIngest(origin="test", format="jsonl", added=1)
        s.add(ingest)
        s.flush()
        version = int(ingest.id)
    bump_catalog_version(redis_client(settings), settings, version)
    deadline = time.monotonic() + 60
    info = before
    while time.monotonic() < deadline:
        info = stub.Info(ranking_pb2.InfoRequest(), timeout=5)
        if info.catalog_version == version:
            break
        time.sleep(0.3)
    assert info.catalog_version == version and info.catalog_size == before.catalog_size + 1
    assert _rank(stub, "coral reef bleaching").recommendations[0].dataset_id == "zenodo:7654321"


def test_rollback_candidate_and_no_failed_request_during_swaps(ranking):
    stub, _ = ranking
    stub.Reload(ranking_pb2.ReloadRequest(version="test-good-a"), timeout=60)
    errors: list[Exception] = []
    done = threading.Event()
    count = 0

    def hammer() -> None:
        nonlocal count
        while not done.is_set():
            try:
                _rank(stub, "co2 emissions per capita", max_results=3)
                count += 1
            except grpc.RpcError as exc:  # pragma: no cover - the assertion below reports it
                errors.append(exc)

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        assert stub.Reload(ranking_pb2.ReloadRequest(version="test-good-b"), timeout=60).current_version == "test-good-b"
        rolled = stub.Reload(ranking_pb2.ReloadRequest(rollback=True), timeout=60)
        assert rolled.current_version == "test-good-a"
        cand = stub.Reload(ranking_pb2.ReloadRequest(version="test-good-b", as_candidate=True), timeout=60)
        assert cand.current_version == "test-good-a" and cand.candidate_version == "test-good-b"
    finally:
        done.set()
        worker.join(timeout=30)
    assert not errors and count > 0
    assert _rank(stub, "gdp", model_version="test-good-b").model_version == "test-good-b"
    assert _rank(stub, "gdp").model_version == "test-good-a"
    unknown = _rank(stub, "gdp", model_version="nope")
    assert unknown.model_version == "test-good-a" and any("not loaded" in n for n in unknown.notices)
    info = stub.Info(ranking_pb2.InfoRequest(), timeout=5)
    assert info.current_version == "test-good-a" and info.candidate_version == "test-good-b"
    with pytest.raises(grpc.RpcError) as err:
        stub.Reload(ranking_pb2.ReloadRequest(version="missing-version"), timeout=30)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        stub.Reload(ranking_pb2.ReloadRequest(version="test-broken"), timeout=30)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert stub.Info(ranking_pb2.InfoRequest(), timeout=5).current_version == "test-good-a"
