"""Postgres engine and sessions.

Engines are cached per URL so a process opens one pool, and nothing connects at import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from dra_common.settings import Settings


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, future=True)


def engine(settings: Settings) -> Engine:
    """The process-wide engine for DATABASE_URL."""
    return _engine_for(settings.sqlalchemy_url)


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A session that commits on success and rolls back on error, so a failure writes nothing."""
    factory = sessionmaker(bind=engine(settings), expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def ping(settings: Settings) -> None:
    """Raise if Postgres does not answer."""
    with engine(settings).connect() as conn:
        conn.execute(text("SELECT 1"))
