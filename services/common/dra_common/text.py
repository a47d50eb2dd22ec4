"""Query text helpers shared by gateway, router, ranking and cache."""

from __future__ import annotations

import re
import unicodedata

MAX_QUERY_CHARS = 1000
_SPACE = re.compile(r"\s+")


def normalize_query(query: str) -> str:
    """Unicode NFKC, case-folded, whitespace collapsed: the form cache keys and event counts use."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", query).casefold()).strip()


def clip_query(query: str) -> tuple[str, list[str]]:
    """Cut a query to MAX_QUERY_CHARS, returning the notice to show when it was cut."""
    if len(query) <= MAX_QUERY_CHARS:
        return query, []
    return query[:MAX_QUERY_CHARS], [f"query cut from {len(query)} to {MAX_QUERY_CHARS} characters"]
