"""The search-event stream: the gateway appends one entry per search; monitoring consumes it.

Redis Streams with a consumer group: monitoring acknowledges an entry only after its row is committed,
and the row's unique `stream_id` makes a redelivered entry count once.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from dra_common.settings import Settings

STREAM = "search_events"
GROUP = "monitoring"
MAX_LEN = 1_000_000


def stream_key(settings: Settings) -> str:
    """Redis key of the search-event stream."""
    return settings.key(STREAM)


def publish_search_event(client: redis.Redis, settings: Settings, event: dict[str, Any]) -> str:
    """Append one event; returns its stream id."""
    entry_id = client.xadd(stream_key(settings), {"data": json.dumps(event, default=str)}, maxlen=MAX_LEN, approximate=True)
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def ensure_group(client: redis.Redis, settings: Settings) -> None:
    """Create the consumer group (and the stream) if missing; reading starts at the stream's beginning."""
    try:
        client.xgroup_create(stream_key(settings), GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def decode_entry(fields: dict[bytes, bytes]) -> dict[str, Any]:
    """The event dict stored in one stream entry."""
    return json.loads(fields[b"data"])
