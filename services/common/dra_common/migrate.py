"""Schema migrations (Alembic), callable from `dra db upgrade`, `make migrate` and tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from dra_common.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def ensure_database(settings: Settings) -> bool:
    """Create the database named in DATABASE_URL if the server lacks it. Returns True when created."""
    url = make_url(settings.sqlalchemy_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}).scalar()
            if exists:
                return False
            conn.execute(text(f'CREATE DATABASE "{url.database}"'))
            return True
    finally:
        admin.dispose()


def drop_database(settings: Settings) -> None:
    """Drop the database named in DATABASE_URL (scratch databases of tests and benchmarks), closing its sessions."""
    from dra_common.db import _engine_for

    url = make_url(settings.sqlalchemy_url)
    _engine_for(settings.sqlalchemy_url).dispose()
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"),
                {"n": url.database},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}"'))
    finally:
        admin.dispose()


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the schema to `revision`, creating the database first if needed."""
    ensure_database(settings)
    command.upgrade(alembic_config(settings.sqlalchemy_url), revision)


def current_revision(settings: Settings) -> str | None:
    """The revision the database is at, or None before the first migration."""
    engine = create_engine(settings.sqlalchemy_url)
    try:
        with engine.connect() as conn:
            has_table = conn.execute(text("SELECT to_regclass('alembic_version')")).scalar()
            if not has_table:
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
