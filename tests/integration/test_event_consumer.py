"""The search-event stream: N events in, N rows out, across consumer restarts and redeliveries."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import delete, func, select

from dra_common.db import session_scope
from dra_common.events import GROUP, ensure_group, publish_search_event, stream_key
from dra_common.models import SearchEvent
from dra_common.redis_client import redis_client
from dra_common.settings import Settings
from dra_monitoring.consumer import CONSUMER, EventConsumer

pytestmark = pytest.mark.integration


def _event(i: int) -> dict:
    return {
        "request_id": f"r{i}",
        "created_at": time.time(),
        "query": f"query {i}",
        "normalized_query": f"query {i}",
        "domain": "general",
        "domain_confidence": 0.5,
        "singapore_first_applied": False,
        "top_sources": ["kaggle"],
        "dataset_ids": ["kaggle:a/b"],
        "relevance_scores": [0.8],
        "estimated_ndcg_at_3": 0.4,
        "latency_ms": 12.0,
        "cache_hit": i % 2 == 0,
        "model_version": "v1",
        "ab_arm": "",
        "degraded": False,
    }


def _rows(settings: Settings) -> int:
    with session_scope(settings) as session:
        return session.scalar(select(func.count()).select_from(SearchEvent)) or 0


@pytest.fixture()
def clean_stream(settings: Settings):
    client = redis_client(settings)
    client.delete(stream_key(settings))
    with session_scope(settings) as session:
        session.execute(delete(SearchEvent))
    yield client
    client.delete(stream_key(settings))
    with session_scope(settings) as session:
        session.execute(delete(SearchEvent))


def test_n_events_in_n_rows_out_and_redelivery_counts_once(settings: Settings, clean_stream) -> None:
    client = clean_stream
    ensure_group(client, settings)
    for i in range(10):
        publish_search_event(client, settings, _event(i))
    # A consumer reads the entries but "dies" before storing them: they stay pending.
    client.xreadgroup(GROUP, CONSUMER, {stream_key(settings): ">"}, count=4)
    consumer = EventConsumer(settings, client)
    assert consumer.drain_once(block_ms=100) == 10
    assert _rows(settings) == 10
    assert client.xpending(stream_key(settings), GROUP)["pending"] == 0
    # Redelivering an already-stored entry (crash after commit, before ack) writes nothing new.
    entries = client.xrange(stream_key(settings), count=3)
    assert consumer.store(entries) == 0
    assert _rows(settings) == 10


def test_events_published_while_consumer_is_down_are_stored_after_restart(settings: Settings, clean_stream) -> None:
    client = clean_stream
    first = EventConsumer(settings, client)
    first.start()
    for i in range(5):
        publish_search_event(client, settings, _event(i))
    deadline = time.monotonic() + 10
    while _rows(settings) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    first.stop()
    for i in range(5, 12):
        publish_search_event(client, settings, _event(i))
    assert _rows(settings) == 5
    second = EventConsumer(settings, client)
    second.start()
    deadline = time.monotonic() + 10
    while _rows(settings) < 12 and time.monotonic() < deadline:
        time.sleep(0.1)
    second.stop()
    assert _rows(settings) == 12


def test_malformed_entry_is_acknowledged_without_a_row(settings: Settings, clean_stream) -> None:
    client = clean_stream
    ensure_group(client, settings)
    client.xadd(stream_key(settings), {"data": "{not json"})
    publish_search_event(client, settings, _event(1))
    assert EventConsumer(settings, client).drain_once(block_ms=100) == 1
    assert client.xpending(stream_key(settings), GROUP)["pending"] == 0
