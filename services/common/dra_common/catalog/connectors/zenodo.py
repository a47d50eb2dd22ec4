"""Zenodo REST API (`/api/records?q=...&type=dataset&page=N&size=M`).

Response: {"hits": {"hits": [{"id": 123, "metadata": {...}, "files": [...], "updated": ...}], "total": N},
"links": {"self": ..., "next": ...}}. Zenodo serves at most 10,000 results of one query, so a sync is a
query ("eeg emotion"), never a full listing of Zenodo.
"""

from __future__ import annotations

from typing import Any

from dra_common.catalog.connectors.base import Connector, Page
from dra_common.catalog.connectors.http import ConnectorError
from dra_common.catalog.formats.base import strip_html
from dra_common.catalog.records import Candidate, Item, Rejection

LANDING = "https://zenodo.org/records/{id}"
API = "https://zenodo.org/api/records/{id}"
MAX_RESULTS = 10_000


def _creators(metadata: dict[str, Any]) -> str:
    names = [str(c.get("name") or "").strip() for c in metadata.get("creators") or [] if isinstance(c, dict)]
    names = [n for n in names if n]
    return "; ".join(names[:3]) + (" et al." if len(names) > 3 else "")


def record_fields(hit: dict[str, Any]) -> dict[str, Any]:
    """Catalog fields of one Zenodo record."""
    record_id = str(hit.get("id") or hit.get("recid") or "").strip()
    metadata = hit.get("metadata") if isinstance(hit.get("metadata"), dict) else {}
    keywords = [str(k) for k in metadata.get("keywords") or [] if isinstance(k, str)]
    keywords += [str(s.get("term")) for s in metadata.get("subjects") or [] if isinstance(s, dict) and s.get("term")]
    files = [f for f in hit.get("files") or [] if isinstance(f, dict)]
    formats = [str(f.get("key", "")).rsplit(".", 1)[-1] for f in files if "." in str(f.get("key", ""))]
    license_value = metadata.get("license")
    license_id = license_value.get("id") if isinstance(license_value, dict) else license_value
    return {
        "source": "zenodo",
        "source_id": record_id,
        "title": metadata.get("title"),
        "description": strip_html(metadata.get("description")),
        "publisher": _creators(metadata),
        "keywords": keywords[:50],
        "formats": [f for f in formats if len(f) <= 10][:20],
        "license": license_id,
        "landing_page": LANDING.format(id=record_id),
        "api_url": API.format(id=record_id) if record_id else None,
        "source_modified": hit.get("updated") or hit.get("modified"),
        "raw": hit,
    }


class ZenodoConnector(Connector):
    """Pages through the datasets matching a Zenodo search."""

    name = "zenodo"
    source = "zenodo"
    default_base_url = "https://zenodo.org"
    default_min_interval = 1.0

    @property
    def full_listing(self) -> bool:
        """A Zenodo search never lists all of Zenodo's datasets."""
        return False

    def first_cursor(self) -> int:
        """Pages are numbered from 1."""
        return 1

    def fetch(self, cursor: Any) -> Page:
        """One page of search results."""
        page = int(cursor)
        size = self.page_size or 25
        url = f"{self.base_url}/api/records"
        params: dict[str, Any] = {"type": "dataset", "page": page, "size": size, "sort": "mostrecent"}
        if self.query:
            params["q"] = self.query
        doc = self.fetcher.get_json(url, params=params)
        hits_block = doc.get("hits") if isinstance(doc, dict) else None
        if not isinstance(hits_block, dict) or not isinstance(hits_block.get("hits"), list):
            raise ConnectorError(f"{url}?page={page}: expected {{hits: {{hits: [...]}}}}, got {str(doc)[:200]}")
        hits = hits_block["hits"]
        total = hits_block.get("total")
        total = total.get("value") if isinstance(total, dict) else total
        items: list[Item] = []
        for index, hit in enumerate(hits):
            location = f"Zenodo page {page} item {index}"
            if isinstance(hit, dict):
                items.append(Candidate(location, record_fields(hit)))
            else:
                items.append(Rejection(location, "record entry is not an object"))
        links = doc.get("links") if isinstance(doc.get("links"), dict) else {}
        more = bool(links.get("next")) and bool(hits) and page * size < MAX_RESULTS
        return Page(items, page + 1 if more else None, total=int(total) if isinstance(total, int) else None)
