"""Any CKAN portal by base URL (HDX, data.gov, ...): `/api/3/action/package_search?rows=R&start=S`.

Paged by offset in creation order (`sort=metadata_created asc`), so datasets created during a sync are
appended at the end instead of shifting pages.
"""

from __future__ import annotations

from typing import Any

from dra_common.catalog.connectors.base import Connector, Page
from dra_common.catalog.connectors.http import ConnectorError
from dra_common.catalog.formats.ckan import package_item
from dra_common.catalog.records import Item


class CkanConnector(Connector):
    """Pages through a CKAN portal's package_search."""

    name = "ckan"
    source = ""
    default_base_url = ""
    default_min_interval = 0.5

    def __init__(self, base_url: str | None = None, source: str | None = None, **kwargs: Any) -> None:
        if not source:
            raise ValueError("ckan: --source NAME is required (the catalog source these datasets belong to)")
        super().__init__(base_url=base_url, source=source, **kwargs)

    def first_cursor(self) -> int:
        """Offsets start at 0."""
        return 0

    def fetch(self, cursor: Any) -> Page:
        """One page of packages."""
        start = int(cursor)
        rows = self.page_size or 100
        url = f"{self.base_url}/api/3/action/package_search"
        params: dict[str, Any] = {"rows": rows, "start": start, "sort": "metadata_created asc"}
        if self.query:
            params["q"] = self.query
        doc = self.fetcher.get_json(url, params=params)
        if not isinstance(doc, dict) or not doc.get("success"):
            error = doc.get("error") if isinstance(doc, dict) else doc
            raise ConnectorError(f"{url}?start={start}: CKAN error: {str(error)[:300]}")
        result = doc.get("result") or {}
        results = result.get("results") or []
        count = int(result.get("count") or 0)
        items: list[Item] = [
            package_item(pkg, f"{self.base_url} package_search start={start} item {i}", self.base_url)
            for i, pkg in enumerate(results)
        ]
        end = start + len(results)
        return Page(items, end if results and end < count else None, total=count)
