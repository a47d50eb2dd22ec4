"""data.gov.sg: the v2 dataset list API (`/v2/public/api/datasets?page=N`).

Response: {"code": 0, "data": {"datasets": [...], "pages": N, "rowCount": M}, "errorMsg": ""}; each item has
datasetId, name, description, format, managedByAgencyName, lastUpdatedAt, coverageStart/End and status.
"""

from __future__ import annotations

from typing import Any

from dra_common.catalog.connectors.base import Connector, Page
from dra_common.catalog.connectors.http import ConnectorError
from dra_common.catalog.records import Candidate, Item, Rejection

LANDING = "https://data.gov.sg/datasets/{id}/view"
# Tabular datasets answer the datastore API; geospatial and file datasets are fetched through poll-download.
DATASTORE_API = "https://data.gov.sg/api/action/datastore_search?resource_id={id}"
DOWNLOAD_API = "https://api-open.data.gov.sg/v1/public/api/datasets/{id}/poll-download"


def dataset_record(item: dict[str, Any]) -> dict[str, Any]:
    """Catalog fields of one dataset of the list API."""
    dataset_id = str(item.get("datasetId") or "").strip()
    fmt = str(item.get("format") or "").strip()
    return {
        "source": "data_gov_sg",
        "source_id": dataset_id,
        "title": item.get("name"),
        "description": item.get("description") or "",
        "publisher": item.get("managedByAgencyName") or "",
        "formats": [fmt] if fmt else [],
        "geography": ["SG"],
        "temporal_start": (item.get("coverageStart") or "")[:10] or None,
        "temporal_end": (item.get("coverageEnd") or "")[:10] or None,
        "source_modified": item.get("lastUpdatedAt"),
        "landing_page": LANDING.format(id=dataset_id),
        "api_url": (DATASTORE_API if fmt.upper() == "CSV" else DOWNLOAD_API).format(id=dataset_id)
        if dataset_id else None,
        "raw": item,
    }


class DataGovSgConnector(Connector):
    """Pages through every dataset data.gov.sg lists."""

    name = "data_gov_sg"
    source = "data_gov_sg"
    default_base_url = "https://api-production.data.gov.sg"
    default_min_interval = 1.0

    def first_cursor(self) -> int:
        """Pages are numbered from 1."""
        return 1

    def fetch(self, cursor: Any) -> Page:
        """One page of the dataset list."""
        page = int(cursor)
        url = f"{self.base_url}/v2/public/api/datasets"
        doc = self.fetcher.get_json(url, params={"page": page})
        if not isinstance(doc, dict) or doc.get("code") != 0 or not isinstance(doc.get("data"), dict):
            message = doc.get("errorMsg") if isinstance(doc, dict) else None
            raise ConnectorError(f"{url}?page={page}: unexpected answer (code {doc.get('code') if isinstance(doc, dict) else '?'}"
                                 f"{', ' + str(message) if message else ''})")
        data = doc["data"]
        datasets = data.get("datasets") or []
        pages = int(data.get("pages") or 0)
        items: list[Item] = []
        for index, entry in enumerate(datasets):
            location = f"data.gov.sg page {page} item {index}"
            if not isinstance(entry, dict):
                items.append(Rejection(location, "dataset entry is not an object"))
            elif entry.get("status", "active") != "active":
                items.append(Rejection(location, f"status is {entry.get('status')!r}, not active",
                                       source="data_gov_sg", source_id=entry.get("datasetId")))
            else:
                items.append(Candidate(location, dataset_record(entry)))
        next_page = page + 1 if page < pages and datasets else None
        return Page(items, next_page, total=int(data.get("rowCount") or 0) or None)
