"""`dra db ...`: schema migrations."""

from __future__ import annotations

import typer

from dra_common import migrate
from dra_common.settings import Settings

app = typer.Typer(no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Create the database if missing and apply migrations up to REVISION."""
    settings = Settings()
    migrate.upgrade(settings, revision)
    typer.echo(f"database at revision {migrate.current_revision(settings)}")


@app.command()
def current() -> None:
    """Print the schema revision of the database."""
    typer.echo(migrate.current_revision(Settings()) or "(empty database)")
