"""User ratings from the `user_feedback` table, aggregated per (domain, Singapore intent, source).

Feedback rows carry the query text, not its domain, so the router classifies each distinct query with the
same classifier and geography rules it serves with. Only the most-rated queries are read, so a large table
cannot stall startup.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from dra_common.db import engine
from dra_common.domain import SOURCE_NAMES
from dra_common.models import UserFeedback
from dra_common.settings import Settings
from dra_router.priors import FeedbackStat

log = logging.getLogger(__name__)

MAX_FEEDBACK_GROUPS = 5000

# Labels query texts with (domain, Singapore intent), as the router would classify them.
Classify = Callable[[Sequence[str]], list[tuple[str, bool]]]


def read_ratings(settings: Settings, limit: int = MAX_FEEDBACK_GROUPS) -> list[tuple[str, str, float, int]]:
    """(query, source, mean rating, count) of rated recommendations, most-rated first."""
    count = func.count(UserFeedback.id)
    stmt = (
        select(UserFeedback.query, UserFeedback.recommended_source, func.avg(UserFeedback.user_rating), count)
        .where(UserFeedback.user_rating.is_not(None), UserFeedback.recommended_source.in_(SOURCE_NAMES))
        .group_by(UserFeedback.query, UserFeedback.recommended_source)
        .order_by(count.desc())
        .limit(limit)
    )
    with engine(settings).connect() as conn:
        return [(q, s, float(avg), int(n)) for q, s, avg, n in conn.execute(stmt) if q and q.strip()]


def aggregate(rows: Sequence[tuple[str, str, float, int]], classify: Classify) -> list[FeedbackStat]:
    """Mean rating per (domain, Singapore intent, source), weighting each query by its number of ratings."""
    queries = list(dict.fromkeys(q for q, _, _, _ in rows))
    labels = dict(zip(queries, classify(queries), strict=True))
    sums: dict[tuple[str, bool, str], float] = defaultdict(float)
    counts: dict[tuple[str, bool, str], int] = defaultdict(int)
    for query, source, mean, n in rows:
        domain, singapore = labels[query]
        key = (domain, singapore, source)
        sums[key] += mean * n
        counts[key] += n
    return [FeedbackStat(d, sg, s, sums[(d, sg, s)] / counts[(d, sg, s)], counts[(d, sg, s)]) for d, sg, s in sums]


def loader(settings: Settings) -> Callable[[Classify], list[FeedbackStat]]:
    """A feedback loader for `build_router`: empty (and a warning) when Postgres cannot be read."""

    def load(classify: Classify) -> list[FeedbackStat]:
        try:
            rows = read_ratings(settings)
        except SQLAlchemyError as exc:
            log.warning("feedback not read; priors from training mappings only", extra={"error": str(exc)[:300]})
            return []
        return aggregate(rows, classify)

    return load
