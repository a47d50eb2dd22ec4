"""`dra dev`: the whole stack as local processes."""

from __future__ import annotations


def run() -> None:
    """Run every process in the foreground."""
