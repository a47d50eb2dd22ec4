"""The curated default catalog shipped in `dra_common/data/catalog/*.jsonl`, loaded on first start."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from dra_common.catalog.formats.base import ParseOptions
from dra_common.catalog.formats.tabular import parse_jsonl
from dra_common.catalog.records import Item
from dra_common.catalog.store import Ingestor, IngestReport, catalog_is_empty
from dra_common.settings import Settings

log = logging.getLogger(__name__)


def default_catalog_files() -> list[Path]:
    """The curated JSON Lines files, sorted by name (empty when none are shipped yet)."""
    folder = Path(str(resources.files("dra_common") / "data" / "catalog"))
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def default_catalog_size(files: list[Path] | None = None) -> int:
    """Number of non-empty lines of the curated files (a progress bar's total)."""
    paths = files if files is not None else default_catalog_files()
    return sum(1 for p in paths for line in p.read_bytes().split(b"\n") if line.strip())


def default_catalog_items(files: list[Path] | None = None) -> Iterator[Item]:
    """Items of every curated file; locations are `<file name>:<line>`."""
    for path in files if files is not None else default_catalog_files():
        yield from parse_jsonl(path.read_bytes(), path.name, ParseOptions())


def load_default_catalog(
    settings: Settings,
    embed: bool = True,
    if_empty: bool = False,
    on_progress: Callable[[int], None] | None = None,
    **options: Any,
) -> IngestReport | None:
    """Upsert the curated catalog as one ingest run (one catalog version). None when skipped by `if_empty`.

    Records are upserted, never withdrawn here: live syncs may have added records of the same sources.
    """
    if if_empty and not catalog_is_empty(settings):
        log.info("catalog not empty; default catalog not loaded")
        return None
    files = default_catalog_files()
    if not files:
        log.warning("no curated catalog files found", extra={"folder": "dra_common/data/catalog"})
    origin = "default catalog: " + ", ".join(p.name for p in files)
    ingestor = Ingestor(settings, origin=origin, fmt="jsonl", embed=embed, on_progress=on_progress, **options)
    with ingestor:
        ingestor.add_many(default_catalog_items(files))
    return ingestor.report
