"""Consumes the search-event stream into `search_events`, acknowledging only committed rows.

A restart loses nothing (unacknowledged entries are re-read from this consumer's pending list, and
entries left pending by a vanished consumer are claimed) and counts nothing twice (`stream_id` is unique).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy.dialects.postgresql import insert

from dra_common.db import engine
from dra_common.events import GROUP, decode_entry, ensure_group, stream_key
from dra_common.models import SearchEvent
from dra_common.settings import Settings
from dra_monitoring.metrics import EVENTS_CONSUMED

log = logging.getLogger(__name__)

CONSUMER = "monitoring-1"
BATCH = 200
CLAIM_IDLE_MS = 60_000
# Pause after each round, so that searches arriving together are stored in one transaction instead of one
# each. Storing an event right away costs about 2.5 ms of CPU, and it would compete with the next search
# for the machine's cores. Events reach Postgres at most this much later.
LINGER_S = 0.25


def _row(entry_id: str, event: dict[str, Any]) -> dict[str, Any]:
    return {
        "stream_id": entry_id,
        "created_at": datetime.fromtimestamp(float(event.get("created_at", 0)), tz=UTC),
        "query": event.get("query", ""),
        "normalized_query": event.get("normalized_query", ""),
        "domain": event.get("domain", ""),
        "domain_confidence": float(event.get("domain_confidence") or 0.0),
        "singapore_first_applied": bool(event.get("singapore_first_applied")),
        "top_sources": list(event.get("top_sources") or []),
        "dataset_ids": list(event.get("dataset_ids") or []),
        "relevance_scores": [float(x) for x in event.get("relevance_scores") or []],
        "estimated_ndcg_at_3": event.get("estimated_ndcg_at_3"),
        "latency_ms": float(event.get("latency_ms") or 0.0),
        "cache_hit": bool(event.get("cache_hit")),
        "model_version": event.get("model_version", "") or "",
        "ab_arm": event.get("ab_arm", "") or "",
        "degraded": bool(event.get("degraded")),
    }


class EventConsumer:
    """A background thread moving stream entries into Postgres."""

    def __init__(self, settings: Settings, client: redis.Redis) -> None:
        self.settings = settings
        self.client = client
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-consumer", daemon=True)

    def start(self) -> None:
        """Begin consuming in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Finish the current batch and stop."""
        self._stop.set()
        self._thread.join(timeout=10)

    def store(self, entries: list[tuple[bytes | str, dict[bytes, bytes]]]) -> int:
        """Write entries (idempotently), then acknowledge them. Returns rows newly written."""
        if not entries:
            return 0
        rows, ids = [], []
        for entry_id, fields in entries:
            sid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            ids.append(sid)
            if not fields:  # trimmed from the stream while pending: nothing to store
                continue
            try:
                rows.append(_row(sid, decode_entry(fields)))
            except (ValueError, KeyError, TypeError):
                log.warning("malformed search event skipped", extra={"stream_id": sid})
        written = 0
        if rows:
            with engine(self.settings).begin() as conn:
                result = conn.execute(
                    insert(SearchEvent).values(rows).on_conflict_do_nothing(index_elements=["stream_id"])
                )
                written = result.rowcount or 0
        self.client.xack(stream_key(self.settings), GROUP, *ids)
        EVENTS_CONSUMED.inc(written)
        return written

    def drain_once(self, block_ms: int = 1000) -> int:
        """One round: own pending entries, claimed stale ones, then new ones."""
        key = stream_key(self.settings)
        written = 0
        pending = self.client.xreadgroup(GROUP, CONSUMER, {key: "0"}, count=BATCH)
        for _stream, entries in pending or []:
            written += self.store(entries)
        claimed = self.client.xautoclaim(key, GROUP, CONSUMER, min_idle_time=CLAIM_IDLE_MS, start_id="0-0", count=BATCH)
        if claimed and claimed[1]:
            written += self.store(claimed[1])
        fresh = self.client.xreadgroup(GROUP, CONSUMER, {key: ">"}, count=BATCH, block=block_ms)
        for _stream, entries in fresh or []:
            written += self.store(entries)
        return written

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ensure_group(self.client, self.settings)
                while not self._stop.is_set():
                    self.drain_once()
                    self._stop.wait(LINGER_S)
            except Exception:  # noqa: BLE001 - Redis/Postgres hiccups: retry, never die
                log.warning("event consumer error; retrying", exc_info=True)
                self._stop.wait(2.0)
