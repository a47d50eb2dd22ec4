"""The search path across real processes: gateway → cache → router → ranking → cache → event → monitoring."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import func, select

from dra_common.db import session_scope
from dra_common.domain import SINGAPORE_SOURCES
from dra_common.models import SearchEvent
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e


def _search(http: httpx.Client, query: str, **extra: object) -> dict:
    response = http.post("/api/v2/search", json={"query": query, "max_results": 3, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def _event_count(stack: Stack) -> int:
    with session_scope(stack.settings) as session:
        return session.scalar(select(func.count()).select_from(SearchEvent)) or 0


def _wait_for_events(stack: Stack, expected: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    count = _event_count(stack)
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.3)
        count = _event_count(stack)
    return count


def test_search_returns_runbook_fields_from_the_catalog(http: httpx.Client) -> None:
    body = _search(http, "singapore housing prices")
    recs = body["recommendations"]
    assert 1 <= len(recs) <= 3
    for rec in recs:
        assert rec["dataset_id"].startswith(rec["source"] + ":")
        assert rec["title"] and rec["url"].startswith("https://")
        assert 0.0 <= rec["quality_metrics"]["relevance_score"] <= 1.0
    assert body["routing_summary"]["singapore_first_applied"] is True
    assert recs[0]["source"] in SINGAPORE_SOURCES
    assert 0.0 <= body["quality_summary"]["overall_ndcg_at_3"] <= 1.0
    assert body["quality_summary"]["ndcg_is_estimate"] is True
    assert body["model_version"]
    assert body["performance"]["latency_ms"] > 0


def test_dataset_from_search_exists_in_catalog(http: httpx.Client) -> None:
    body = _search(http, "machine learning image classification benchmark")
    dataset_id = body["recommendations"][0]["dataset_id"]
    record = http.get(f"/api/v2/datasets/{dataset_id}")
    assert record.status_code == 200, record.text
    assert record.json()["title"] == body["recommendations"][0]["title"]


def test_second_identical_search_is_a_cache_hit(http: httpx.Client) -> None:
    first = _search(http, "  Climate CHANGE indicators ")
    assert first["performance"]["cache_hit"] is False
    deadline = time.monotonic() + 5
    second = _search(http, "climate change indicators")
    while not second["performance"]["cache_hit"] and time.monotonic() < deadline:
        time.sleep(0.1)  # the put runs after the first answer was sent
        second = _search(http, "climate change indicators")
    assert second["performance"]["cache_hit"] is True
    assert [r["dataset_id"] for r in second["recommendations"]] == [r["dataset_id"] for r in first["recommendations"]]


def test_singapore_look_alike_is_not_singapore_first(http: httpx.Client) -> None:
    body = _search(http, "single-cell sequencing data")
    assert body["routing_summary"]["singapore_first_applied"] is False


def test_filters_restrict_sources(http: httpx.Client) -> None:
    body = _search(http, "population statistics", filters={"sources": ["world_bank"]})
    assert body["recommendations"]
    assert {r["source"] for r in body["recommendations"]} == {"world_bank"}


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"query": "   "}, "query"),
        ({"query": "x", "max_results": 0}, "max_results"),
        ({"query": "x", "filters": {"sources": ["nope"]}}, "unknown source"),
        ({"query": "x", "filters": {"geography": ["Singapore"]}}, "ISO 3166"),
        ({}, "query"),
    ],
)
def test_bad_search_input_is_a_clear_4xx(http: httpx.Client, payload: dict, fragment: str) -> None:
    response = http.post("/api/v2/search", json=payload)
    assert 400 <= response.status_code < 500
    assert fragment in response.text


def test_unicode_and_very_long_queries_answer(http: httpx.Client) -> None:
    assert _search(http, "新加坡 房价 🏠 بيانات")["recommendations"] is not None
    body = _search(http, "traffic accidents " * 200)
    assert any("cut" in notice for notice in body["notices"])


def test_event_stream_survives_monitoring_restart(stack: Stack, http: httpx.Client) -> None:
    before = _wait_for_events(stack, _event_count(stack) + 0)
    time.sleep(1.0)
    before = _event_count(stack)
    stack.stop("monitoring")
    n = 7
    for i in range(n):
        _search(http, f"restart check query {i}", use_cache=False)
    time.sleep(0.5)
    assert _event_count(stack) == before, "events were stored while monitoring was down?"
    stack.start("monitoring")
    assert _wait_for_events(stack, before + n) == before + n
    stack.stop("monitoring")  # a second restart must not count anything twice
    stack.start("monitoring")
    time.sleep(3.0)
    assert _event_count(stack) == before + n


def test_health_degrades_when_a_service_stops_and_recovers(stack: Stack, http: httpx.Client) -> None:
    stack.stop("cache")
    try:
        health = http.get("/api/v2/health")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] in ("degraded", "unhealthy")
        assert body["components"]["cache"]["status"] == "down"
        search = _search(http, "dengue cases")
        assert "cache" in search["degraded_components"]
        assert search["recommendations"]
    finally:
        stack.start("cache")
    # The gateway's channel reconnects on its own backoff (at most 2 s, `dra_common.grpc_utils.channel`).
    deadline = time.monotonic() + 10.0
    status = ""
    while time.monotonic() < deadline and status != "up":
        status = http.get("/api/v2/health").json()["components"]["cache"]["status"]
        time.sleep(0.2)
    assert status == "up"


def test_ranking_down_falls_back_to_catalog_full_text(stack: Stack, http: httpx.Client) -> None:
    stack.stop("ranking")
    try:
        body = _search(http, "air quality", use_cache=False)
        assert "ranking" in body["degraded_components"]
        assert body["model_version"] == "postgres-fulltext"
        assert body["recommendations"]
        assert http.get("/api/v2/health").json()["components"]["ranking"]["status"] == "down"
    finally:
        stack.start("ranking")
