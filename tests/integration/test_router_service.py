"""`python -m dra_router` as a real process on free ports, with the test run's Postgres (feedback) behind it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from sqlalchemy import delete

from dra.v1 import router_pb2, router_pb2_grpc
from dra_common import mappings
from dra_common.db import session_scope
from dra_common.domain import DOMAINS, SINGAPORE_SOURCES, SOURCE_NAMES
from dra_common.models import UserFeedback
from dra_common.settings import Settings
from dra_router import feedback
from tests.conftest import settings_env
from tests.utils.processes import ServiceProcess, python_module

pytestmark = pytest.mark.integration

FEEDBACK_QUERY = "psychology research data"
FEEDBACK_SOURCE = "huggingface"
RATINGS = 40


@pytest.fixture(scope="module")
def feedback_rows(settings: Settings) -> Iterator[str]:
    """Ratings the router must fold into its priors at start; removed afterwards."""
    session_id = f"router-test-{uuid.uuid4().hex[:8]}"
    with session_scope(settings) as session:
        session.add_all(
            UserFeedback(query=FEEDBACK_QUERY, recommended_source=FEEDBACK_SOURCE, user_rating=5, session_id=session_id)
            for _ in range(RATINGS)
        )
    yield session_id
    with session_scope(settings) as session:
        session.execute(delete(UserFeedback).where(UserFeedback.session_id == session_id))


@pytest.fixture(scope="module")
def router_process(settings: Settings, feedback_rows: str, logs_dir: Path) -> Iterator[ServiceProcess]:
    proc = ServiceProcess("router", python_module("dra_router"), settings_env(settings), logs_dir / "router.log")
    proc.start()
    try:
        proc.wait_grpc(settings.router_addr, timeout=120)
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def stub(settings: Settings, router_process: ServiceProcess) -> router_pb2_grpc.RouterServiceStub:
    return router_pb2_grpc.RouterServiceStub(grpc.insecure_channel(settings.router_addr))


def test_classify_fills_every_field(stub: router_pb2_grpc.RouterServiceStub) -> None:
    r = stub.Classify(router_pb2.ClassifyRequest(query="HDB resale prices in Tampines", return_embedding=True),
                      timeout=10)
    assert r.domain == "economics_finance"
    assert 0.5 < r.confidence <= 1.0
    assert [d.domain for d in r.runner_up] and {d.domain for d in r.runner_up} | {r.domain} == set(DOMAINS)
    assert all(0.0 <= d.confidence <= r.confidence for d in r.runner_up)
    assert list(r.geography) == ["SG"]
    assert r.singapore_intent and r.singapore_first_applied
    assert "hdb" in r.reason and "tampines" in r.reason
    assert {"hdb", "tampines"} <= set(r.geography_evidence)
    sources = [s.source for s in r.recommended_sources]
    assert sorted(sources) == sorted(SOURCE_NAMES)
    assert set(sources[: len(SINGAPORE_SOURCES)]) == set(SINGAPORE_SOURCES)
    assert all(0.0 <= s.score <= 1.0 and s.reason for s in r.recommended_sources)
    assert len(r.query_embedding) == 384
    assert np.linalg.norm(np.array(r.query_embedding)) == pytest.approx(1.0, abs=1e-3)
    assert r.embedding_model == "all-MiniLM-L6-v2"
    assert list(r.notices) == []


def test_embedding_only_when_asked(stub: router_pb2_grpc.RouterServiceStub) -> None:
    r = stub.Classify(router_pb2.ClassifyRequest(query="machine learning datasets"), timeout=10)
    assert r.domain == "machine_learning"
    assert len(r.query_embedding) == 0
    assert r.embedding_model == "all-MiniLM-L6-v2"
    assert not r.singapore_first_applied
    assert r.recommended_sources[0].source == "kaggle"


@pytest.mark.parametrize("query", ["", "   ", "\n\t "])
def test_empty_query_is_invalid_argument(stub: router_pb2_grpc.RouterServiceStub, query: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.Classify(router_pb2.ClassifyRequest(query=query), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "query is empty" in info.value.details()


def test_long_query_is_cut_with_a_notice(stub: router_pb2_grpc.RouterServiceStub) -> None:
    r = stub.Classify(router_pb2.ClassifyRequest(query="daily rainfall records for Southeast Asia " * 60), timeout=10)
    assert r.domain == "climate_environment"
    assert any("1000 characters" in n for n in r.notices)


@pytest.mark.parametrize("query", ["📊📈", "🇸🇬 房价 数据", "心理学 研究 数据", "Ünïcödé ✓ données"])
def test_any_unicode_is_classified(stub: router_pb2_grpc.RouterServiceStub, query: str) -> None:
    r = stub.Classify(router_pb2.ClassifyRequest(query=query, return_embedding=True), timeout=10)
    assert r.domain in DOMAINS
    assert len(r.query_embedding) == 384
    assert len(r.recommended_sources) == len(SOURCE_NAMES)


def test_emoji_flag_and_chinese_name_trigger_singapore_first(stub: router_pb2_grpc.RouterServiceStub) -> None:
    for query in ["🇸🇬 房价 数据", "新加坡 人口"]:
        assert stub.Classify(router_pb2.ClassifyRequest(query=query), timeout=10).singapore_first_applied


@pytest.mark.parametrize("query", ["singer song lyrics dataset", "single-cell sequencing atlas", "Sing-along audio"])
def test_look_alikes_do_not_get_singapore_first(stub: router_pb2_grpc.RouterServiceStub, query: str) -> None:
    r = stub.Classify(router_pb2.ClassifyRequest(query=query), timeout=10)
    assert not r.singapore_intent and not r.singapore_first_applied
    assert r.reason.startswith("Singapore-first not applied")


def test_mixed_geography_pins_one_singapore_source(stub: router_pb2_grpc.RouterServiceStub) -> None:
    r = stub.Classify(router_pb2.ClassifyRequest(query="compare Singapore and Malaysia GDP"), timeout=10)
    assert r.singapore_first_applied and list(r.geography) == ["SG", "MY"]
    sources = [s.source for s in r.recommended_sources]
    assert sources[0] in SINGAPORE_SOURCES
    assert sources.index("world_bank") < sources.index("onemap")


def test_feedback_from_postgres_reaches_the_priors(stub: router_pb2_grpc.RouterServiceStub) -> None:
    r = stub.Classify(router_pb2.ClassifyRequest(query=FEEDBACK_QUERY), timeout=10)
    by_source = {s.source: s for s in r.recommended_sources}
    assert f"from {RATINGS} ratings" in by_source[FEEDBACK_SOURCE].reason


def test_feedback_loader_reads_ratings(settings: Settings, feedback_rows: str) -> None:
    stats = feedback.loader(settings)(lambda texts: [("psychology", False)] * len(texts))
    mine = [s for s in stats if s.source == FEEDBACK_SOURCE and s.domain == "psychology"]
    assert mine and mine[0].mean_rating == pytest.approx(5.0) and mine[0].count >= RATINGS


def test_metrics_and_processed_mappings(settings: Settings, stub: router_pb2_grpc.RouterServiceStub) -> None:
    stub.Classify(router_pb2.ClassifyRequest(query="dengue cases in Singapore"), timeout=10)
    text = httpx.get(f"http://127.0.0.1:{settings.router_metrics_port}/metrics", timeout=5).text
    assert 'dra_router_classify_duration_seconds_count{stage="route"}' in text
    assert "dra_router_training_examples" in text
    assert 'dra_router_classifications_total{domain="health_medicine",singapore_first="true"}' in text
    path = mappings.processed_path(settings)
    with open(path) as handle:
        assert len(json.load(handle)) == len(mappings.parse_file().records)
