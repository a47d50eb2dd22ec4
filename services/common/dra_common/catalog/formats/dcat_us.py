"""DCAT-US (Project Open Data metadata schema v1.1): the `data.json` every US federal agency publishes.

A catalog object with `conformsTo: https://project-open-data.cio.gov/v1.1/schema` and a `dataset` array of
plain-JSON records (title, description, keyword, modified, publisher, identifier, accessLevel, landingPage,
distribution, temporal, spatial, accrualPeriodicity, theme, license).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dra_common.catalog.formats.base import (
    ParseOptions,
    as_list,
    first_text,
    geography_of,
    safe_datetime,
    split_interval,
    split_keywords,
    themes_of,
)
from dra_common.catalog.records import Candidate, Item, Rejection

FORMAT = "dcat-us"
# The schema moved from project-open-data.cio.gov to resources.data.gov; both appear in published files.
SCHEMA_MARKERS = ("project-open-data.cio.gov", "resources.data.gov/schemas/dcat-us")


def looks_like(doc: Any) -> bool:
    """A DCAT-US catalog: an object with a `dataset` array and the POD schema or dcat:Catalog type."""
    if not isinstance(doc, dict) or not isinstance(doc.get("dataset"), list):
        return False
    marker = f"{doc.get('conformsTo', '')} {doc.get('@context', '')} {doc.get('describedBy', '')}"
    return any(m in marker for m in SCHEMA_MARKERS) or (doc.get("@type") == "dcat:Catalog" and "@graph" not in doc)


def parse(doc: Any, origin: str, options: ParseOptions) -> Iterator[Item]:
    """Yield a candidate per entry of the catalog's `dataset` array."""
    datasets = doc.get("dataset") if isinstance(doc, dict) else None
    if not isinstance(datasets, list):
        yield Rejection(origin, "not a DCAT-US catalog: no 'dataset' array at the top level", fatal=True)
        return
    for index, entry in enumerate(datasets):
        location = f"{origin}: dataset[{index}]"
        if not isinstance(entry, dict):
            yield Rejection(location, f"dataset entry is a {type(entry).__name__}, not an object")
            continue
        if str(entry.get("accessLevel", "public")).lower() == "non-public":
            yield Rejection(location, "accessLevel is non-public: the dataset is not open", source_id=_id(entry))
            continue
        yield Candidate(location, _record(entry))


def _id(entry: dict[str, Any]) -> str | None:
    return first_text(entry.get("identifier"))


def _record(entry: dict[str, Any]) -> dict[str, Any]:
    identifier = _id(entry)
    landing = first_text(entry.get("landingPage"))
    if landing is None and identifier and identifier.startswith(("http://", "https://")):
        landing = identifier
    formats: list[str] = []
    api_url = None
    download_url = None
    access_page = None
    for dist in as_list(entry.get("distribution")):
        if not isinstance(dist, dict):
            continue
        label = first_text(dist.get("format"), dist.get("mediaType"))
        if label:
            formats.append(label)
        access = first_text(dist.get("accessURL"))
        if access and api_url is None and (str(dist.get("format", "")).upper() == "API" or "api" in access.lower()):
            api_url = access
        access_page = access_page or access
        download_url = download_url or first_text(dist.get("downloadURL"), access)
    # landingPage is optional in DCAT-US; an access URL is the next best page to send a researcher to.
    landing = landing or access_page
    publisher = entry.get("publisher")
    start, end = split_interval(entry.get("temporal"))
    spatial = first_text(entry.get("spatial"))
    geography, places = geography_of([spatial] if spatial else [])
    themes = [t for t in as_list(entry.get("theme")) if isinstance(t, str)]
    return {
        "source_id": identifier,
        "title": entry.get("title"),
        "description": entry.get("description") or "",
        "publisher": (publisher.get("name") if isinstance(publisher, dict) else first_text(publisher)) or "",
        "keywords": split_keywords(entry.get("keyword")) + themes + places[:1],
        "themes": themes_of(themes),
        "geography": geography,
        "temporal_start": start,
        "temporal_end": end,
        "update_frequency": first_text(entry.get("accrualPeriodicity")),
        "formats": formats,
        "license": first_text(entry.get("license"), entry.get("rights")),
        "landing_page": landing,
        "api_url": api_url or download_url,
        "source_modified": safe_datetime(entry.get("modified")),
        "raw": entry,
    }
