"""Alembic environment: runs the migrations against the URL the caller put in the config."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from dra_common.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Apply migrations over one connection, in a transaction."""
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
