"""The connector contract, resume state, and the sync loop shared by every live portal."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dra_common.catalog.connectors.http import ConnectorError, HttpFetcher
from dra_common.catalog.records import Item
from dra_common.catalog.store import Ingestor, IngestReport
from dra_common.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Page:
    """One page of a portal's listing: its items and the cursor of the next page (None at the end)."""

    items: list[Item]
    next_cursor: Any
    total: int | None = None


class Connector(ABC):
    """A live portal listing, read page by page.

    Subclasses set `name`, `source`, `default_base_url`, implement `first_cursor` and `fetch`, and say with
    `full_listing` whether a complete run lists every dataset of the source (so absent ones can be withdrawn).
    """

    name: str = ""
    source: str = ""
    default_base_url: str = ""
    default_min_interval: float = 1.0

    def __init__(self, base_url: str | None = None, fetcher: HttpFetcher | None = None, page_size: int | None = None,
                 query: str | None = None, source: str | None = None) -> None:
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        if not self.base_url:
            raise ValueError(f"{self.name}: a base URL is required (--base-url)")
        self.fetcher = fetcher or HttpFetcher(min_interval=self.default_min_interval)
        self.page_size = page_size
        self.query = query
        if source:
            self.source = source

    @property
    def full_listing(self) -> bool:
        """Whether a complete run lists the whole source (no search filter)."""
        return not self.query

    @abstractmethod
    def first_cursor(self) -> Any:
        """Cursor of the first page."""

    @abstractmethod
    def fetch(self, cursor: Any) -> Page:
        """One page; ConnectorError when the portal fails for good."""

    def state_key(self) -> str:
        """Identifies this listing for resuming: connector, source, base URL, query, page size."""
        ident = json.dumps([self.name, self.source, self.base_url, self.query, self.page_size])
        return f"{self.name}-{hashlib.sha256(ident.encode()).hexdigest()[:12]}"

    def origin(self) -> str:
        """What the ingest row records as the origin."""
        return f"{self.base_url} ({self.name}{', q=' + self.query if self.query else ''})"


class SyncState:
    """Resume point of a sync, a JSON file under `STATE_DIR/catalog-sync/` written atomically after each page."""

    def __init__(self, settings: Settings, key: str) -> None:
        self.path = Path(settings.state_dir) / "catalog-sync" / f"{key}.json"

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None (a corrupt file is ignored and logged)."""
        if not self.path.exists():
            return None
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            log.warning("sync state unreadable; starting from the first page", extra={"path": str(self.path),
                                                                                     "error": str(exc)})
            return None

    def save(self, state: dict[str, Any]) -> None:
        """Write the state (tmp file + rename, so a crash never leaves half a file)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.path)

    def clear(self) -> None:
        """Forget the resume point (after a complete run)."""
        self.path.unlink(missing_ok=True)


@dataclass
class SyncResult:
    """What a sync run did."""

    report: IngestReport
    pages: int = 0
    completed: bool = False
    resumed_from: Any = None
    next_cursor: Any = None
    error: str | None = None
    requests: int = 0
    retries: int = 0
    notes: list[str] = field(default_factory=list)


def run_sync(
    settings: Settings,
    connector: Connector,
    *,
    max_pages: int | None = None,
    embed: bool = True,
    full_sync: bool | None = None,
    resume: bool = True,
    on_progress: Callable[[int], None] | None = None,
    on_page: Callable[[int, Page], None] | None = None,
    **ingest_options: Any,
) -> SyncResult:
    """Read the connector's listing page by page into the catalog, saving a resume point after each page.

    A run stopped by `max_pages`, an error or Ctrl-C resumes at the next unread page. When a full listing
    completes, records of the source it no longer lists are withdrawn (ids seen in earlier, resumed runs count).
    """
    state = SyncState(settings, connector.state_key())
    saved = state.load() if resume else None
    if not resume:
        state.clear()
    cursor = saved["cursor"] if saved else connector.first_cursor()
    full = connector.full_listing if full_sync is None else full_sync
    ingestor = Ingestor(settings, origin=connector.origin(), fmt=f"sync:{connector.name}",
                        default_source=connector.source, full_sync=False, embed=embed,
                        on_progress=on_progress, **ingest_options)
    ingestor.start()
    result = SyncResult(report=ingestor.report, resumed_from=cursor if saved else None)  # type: ignore[arg-type]
    if saved:
        ingestor.remember(saved.get("seen", []), connector.source)
        result.notes.append(f"resumed at {cursor!r} (saved {saved.get('saved_at')})")
    started = saved.get("started_at") if saved else datetime.now(UTC).isoformat()
    interrupted: str | None = None
    try:
        while cursor is not None and (max_pages is None or result.pages < max_pages):
            page = connector.fetch(cursor)
            ingestor.add_many(page.items)
            ingestor.flush()
            result.pages += 1
            cursor = page.next_cursor
            if on_page:
                on_page(result.pages, page)
            if cursor is not None:
                state.save({"cursor": cursor, "seen": ingestor.seen_ids(connector.source), "started_at": started,
                            "saved_at": datetime.now(UTC).isoformat(), "origin": connector.origin()})
        result.completed = cursor is None
    except ConnectorError as exc:
        result.error = str(exc)
        interrupted = f"ConnectorError: {exc}"
    except BaseException as exc:
        ingestor.finish(interrupted=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        result.requests = connector.fetcher.requests
        result.retries = connector.fetcher.retries
    result.next_cursor = cursor
    if result.completed:
        state.clear()
        ingestor.full_sync = full
        if full:
            ingestor.full_sync_sources = {connector.source}
    elif interrupted is None:
        result.notes.append(f"stopped after {result.pages} page(s); the next run resumes at {cursor!r}")
    if ingestor.report is not None:
        ingestor.report.notes.extend(result.notes)
    result.report = ingestor.finish(interrupted=interrupted)
    return result
