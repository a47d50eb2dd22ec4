"""`dra model ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)


def evaluate() -> None:
    """Offline evaluation (filled in by the ranking work)."""
    raise typer.Exit(1)
