"""World Bank indicators API (`/v2/indicator?format=json&page=N&per_page=M`).

Response: [{"page": 1, "pages": 30, "per_page": "1000", "total": 29323}, [{"id": "NY.GDP.MKTP.CD",
"name": ..., "source": {"id": "2", "value": "World Development Indicators"}, "sourceNote": ...,
"sourceOrganization": ..., "topics": [{"id": "3", "value": "Economy & Growth "}]}, ...]]; errors come as
[{"message": [{"id": "120", "key": "Invalid value", "value": "..."}]}].
"""

from __future__ import annotations

from typing import Any

from dra_common.catalog.connectors.base import Connector, Page
from dra_common.catalog.connectors.http import ConnectorError
from dra_common.catalog.formats.base import themes_of
from dra_common.catalog.records import Candidate, Item, Rejection

LANDING = "https://data.worldbank.org/indicator/{id}"
API = "https://api.worldbank.org/v2/country/all/indicator/{id}?format=json"


def indicator_record(item: dict[str, Any]) -> dict[str, Any]:
    """Catalog fields of one indicator."""
    code = str(item.get("id") or "").strip()
    source = item.get("source") if isinstance(item.get("source"), dict) else {}
    topics = [str(t.get("value") or "").strip() for t in item.get("topics") or [] if isinstance(t, dict)]
    topics = [t for t in topics if t]
    note = str(item.get("sourceNote") or "").strip()
    organization = str(item.get("sourceOrganization") or "").strip()
    description = note + (f"\nSource: {organization}" if organization else "")
    keywords = [t.lower() for t in topics] + ([str(source.get("value")).lower()] if source.get("value") else [])
    return {
        "source": "world_bank",
        "source_id": code,
        "title": item.get("name"),
        "description": description,
        "publisher": "World Bank" + (f" ({source['value']})" if source.get("value") else ""),
        "keywords": keywords,
        "themes": themes_of(topics),
        "geography": ["global"],
        "formats": ["API", "CSV"],
        "landing_page": LANDING.format(id=code),
        "api_url": API.format(id=code) if code else None,
        "raw": item,
    }


class WorldBankConnector(Connector):
    """Pages through the World Bank's indicator list."""

    name = "world_bank"
    source = "world_bank"
    default_base_url = "https://api.worldbank.org"
    default_min_interval = 0.5

    def first_cursor(self) -> int:
        """Pages are numbered from 1."""
        return 1

    def fetch(self, cursor: Any) -> Page:
        """One page of indicators."""
        page = int(cursor)
        url = f"{self.base_url}/v2/indicator"
        doc = self.fetcher.get_json(url, params={"format": "json", "page": page, "per_page": self.page_size or 1000})
        if isinstance(doc, list) and len(doc) == 1 and isinstance(doc[0], dict) and "message" in doc[0]:
            messages = "; ".join(str(m.get("value", m)) for m in doc[0]["message"] if isinstance(m, dict))
            raise ConnectorError(f"{url}?page={page}: World Bank API error: {messages or doc[0]['message']}")
        if not (isinstance(doc, list) and len(doc) == 2 and isinstance(doc[0], dict)):
            raise ConnectorError(f"{url}?page={page}: expected [paging, items], got {str(doc)[:200]}")
        meta, rows = doc[0], doc[1] or []
        pages = int(meta.get("pages") or 0)
        items: list[Item] = []
        for index, row in enumerate(rows):
            location = f"World Bank indicators page {page} item {index}"
            if isinstance(row, dict):
                items.append(Candidate(location, indicator_record(row)))
            else:
                items.append(Rejection(location, "indicator entry is not an object"))
        next_page = page + 1 if page < pages and rows else None
        return Page(items, next_page, total=int(meta.get("total") or 0) or None)
