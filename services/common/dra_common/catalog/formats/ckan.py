"""CKAN Action API responses (`package_search`, `package_show`) and CKAN dumps (JSON list or JSON Lines of packages).

Landing pages of CKAN datasets are `<portal>/dataset/<name>`; a search response does not say which portal it
came from, so the portal's base URL comes from `--base-url` or the source's home page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from dra_common.catalog.formats.base import (
    ParseOptions,
    as_list,
    first_text,
    geography_of,
    split_interval,
    themes_of,
)
from dra_common.catalog.records import Candidate, Item, Rejection

FORMAT = "ckan"

# HDX's data_update_frequency is a number of days; other portals use words.
_DAYS_TO_FREQUENCY = {"0": "realtime", "1": "daily", "7": "weekly", "14": "biweekly", "30": "monthly",
                      "90": "quarterly", "180": "semiannual", "365": "annual", "-1": "static", "-2": "irregular"}


def is_package(obj: Any) -> bool:
    """Whether `obj` looks like a CKAN package dict."""
    return isinstance(obj, dict) and "name" in obj and ("resources" in obj or "num_resources" in obj) and (
        "notes" in obj or "organization" in obj or "metadata_modified" in obj
    )


def looks_like(doc: Any) -> bool:
    """An Action API envelope, a single package or a list of packages."""
    if isinstance(doc, dict):
        return ("success" in doc and ("result" in doc or "error" in doc)) or is_package(doc)
    return isinstance(doc, list) and bool(doc) and is_package(doc[0])


def packages(doc: Any, origin: str) -> Iterator[tuple[str, Any] | Rejection]:
    """(location, package) pairs of a response or dump, or a fatal rejection when it holds no packages."""
    if isinstance(doc, dict) and "success" in doc and ("result" in doc or "error" in doc):
        if not doc.get("success"):
            error = doc.get("error") or {}
            message = error.get("message") if isinstance(error, dict) else error
            yield Rejection(origin, f"CKAN reported an error: {message or error}", fatal=True)
            return
        result = doc["result"]
        if isinstance(result, dict) and isinstance(result.get("results"), list):
            for i, pkg in enumerate(result["results"]):
                yield f"{origin}: result.results[{i}]", pkg
        elif is_package(result):
            yield f"{origin}: result", result
        elif isinstance(result, list) and all(isinstance(r, str) for r in result):
            yield Rejection(origin, "this is a package_list response (names only); use package_search or "
                                    "package_show output", fatal=True)
        elif isinstance(result, list):
            for i, pkg in enumerate(result):
                yield f"{origin}: result[{i}]", pkg
        else:
            yield Rejection(origin, "CKAN response without packages (expected result.results or a package)",
                            fatal=True)
    elif isinstance(doc, list):
        for i, pkg in enumerate(doc):
            yield f"{origin}: [{i}]", pkg
    elif is_package(doc):
        yield origin, doc
    else:
        yield Rejection(origin, "not a CKAN response: expected {success, result} or a package", fatal=True)


def parse(doc: Any, origin: str, options: ParseOptions) -> Iterator[Item]:
    """Yield a candidate per package."""
    for entry in packages(doc, origin):
        if isinstance(entry, Rejection):
            yield entry
            continue
        location, pkg = entry
        yield package_item(pkg, location, options.portal_url)


def package_item(pkg: Any, location: str, portal_url: str | None) -> Item:
    """A candidate from one package, or a rejection for deleted, private or non-object entries."""
    if not isinstance(pkg, dict):
        return Rejection(location, f"package is a {type(pkg).__name__}, not an object")
    source_id = first_text(pkg.get("id"), pkg.get("name"))
    if pkg.get("state") not in (None, "active"):
        return Rejection(location, f"package state is {pkg.get('state')!r}, not active", source_id=source_id)
    if pkg.get("private") is True:
        return Rejection(location, "package is private", source_id=source_id)
    return Candidate(location, package_record(pkg, portal_url))


def _extras(pkg: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for extra in as_list(pkg.get("extras")):
        if isinstance(extra, dict) and isinstance(extra.get("key"), str):
            out[extra["key"]] = str(extra.get("value", ""))
    return out


def package_record(pkg: dict[str, Any], portal_url: str | None) -> dict[str, Any]:
    """Catalog fields of a CKAN package."""
    extras = _extras(pkg)

    def field(*names: str) -> str | None:
        return first_text(*(pkg.get(n) for n in names), *(extras.get(n) for n in names))

    name = first_text(pkg.get("name"))
    base = portal_url.rstrip("/") if portal_url else None
    landing = f"{base}/dataset/{quote(name, safe='-_.~')}" if base and name else field("ckan_url")
    organization = pkg.get("organization") if isinstance(pkg.get("organization"), dict) else {}
    tags = [first_text(t.get("display_name"), t.get("name")) if isinstance(t, dict) else first_text(t)
            for t in as_list(pkg.get("tags"))]
    groups = [first_text(g.get("title"), g.get("display_name"), g.get("name")) or "" for g in
              as_list(pkg.get("groups")) if isinstance(g, dict)]
    country_groups, topic_groups = geography_of(groups)
    spatial, _ = geography_of([field("spatial_text", "country", "geographic_coverage") or ""])
    start = field("temporal_start", "temporal_coverage_from", "temporal_coverage-from")
    end = field("temporal_end", "temporal_coverage_to", "temporal_coverage-to")
    if not start and not end:
        start, end = split_interval(field("temporal", "dataset_date", "temporal_coverage"))
    frequency = field("frequency", "accrual_periodicity", "update_frequency", "data_update_frequency")
    if frequency in _DAYS_TO_FREQUENCY:
        frequency = _DAYS_TO_FREQUENCY[frequency]
    resources = [r for r in as_list(pkg.get("resources")) if isinstance(r, dict)]
    formats = [f for f in (first_text(r.get("format"), r.get("mimetype")) for r in resources) if f]
    api_url = f"{base}/api/3/action/package_show?id={quote(name, safe='-_.~')}" if base and name else (
        first_text(*(r.get("url") for r in resources)))
    return {
        "source_id": first_text(pkg.get("id"), name),
        "title": first_text(pkg.get("title"), name),
        "description": pkg.get("notes") or "",
        "publisher": first_text(organization.get("title"), organization.get("name"), pkg.get("author"),
                                pkg.get("maintainer"), extras.get("publisher_name")) or "",
        "keywords": [t for t in tags if t] + topic_groups,
        "themes": themes_of(topic_groups + [t for t in tags if t]),
        "geography": country_groups or spatial,
        "temporal_start": start,
        "temporal_end": end,
        "update_frequency": frequency,
        "formats": formats,
        "license": first_text(pkg.get("license_title"), pkg.get("license_id"), pkg.get("license_url")),
        "landing_page": landing,
        "api_url": api_url,
        "source_modified": first_text(pkg.get("metadata_modified")),
        "raw": pkg,
    }
