"""DCAT-AP as JSON-LD (data.europa.eu, national portals' DCAT exports): every `dcat:Dataset` node is a record.

Property IRIs follow DCAT-AP 2/3 (dct:title, dcat:keyword, dcat:distribution, ...). Themes and countries
usually point into the EU authority tables (`.../data-theme/ECON`, `.../country/SGP`); both are mapped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dra_common.catalog.formats.base import (
    ParseOptions,
    geography_of,
    safe_datetime,
    split_interval,
    themes_of,
)
from dra_common.catalog.formats.jsonld import DCAT, DCT, FOAF, RDFS, SCHEMA, SKOS, VCARD, Graph, expand_document
from dra_common.catalog.records import Candidate, Item, Rejection

FORMAT = "dcat-ap"
_NAMES = (FOAF + "name", SKOS + "prefLabel", RDFS + "label", VCARD + "fn", VCARD + "organization-name", DCT + "title")


def looks_like(doc: Any) -> bool:
    """Whether a parsed JSON document is DCAT JSON-LD (mentions the DCAT vocabulary)."""
    if not isinstance(doc, dict | list):
        return False
    head = str(doc)[:20_000]
    return ("dcat:Dataset" in head or DCAT + "Dataset" in head or "www.w3.org/ns/dcat" in head) and (
        "@context" in head or "@graph" in head or "@type" in head
    )


def _last_segment(iri: str) -> str:
    return iri.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def _format_label(graph: Graph, value: Any) -> str | None:
    label = graph.name_of(value, *_NAMES)
    if not label:
        return None
    if "/media-types/" in label:
        return label.split("/media-types/", 1)[1]
    return _last_segment(label) if "://" in label else label


def parse(doc: Any, origin: str, options: ParseOptions) -> Iterator[Item]:
    """Yield a candidate per dcat:Dataset node of a JSON-LD document."""
    graph = Graph(expand_document(doc))
    datasets = graph.of_type(DCAT + "Dataset")
    if not datasets:
        yield Rejection(origin, "no dcat:Dataset node found in the JSON-LD document", fatal=True)
        return
    for index, node in enumerate(datasets):
        node_id = node.get("@id") if isinstance(node.get("@id"), str) else None
        location = f"{origin}: dataset {index}" + (f" ({node_id})" if node_id else "")
        yield Candidate(location, _record(graph, node, node_id))


def _record(graph: Graph, node: dict[str, Any], node_id: str | None) -> dict[str, Any]:
    identifier = graph.text(node, DCT + "identifier") or node_id
    landing = next(iter(graph.ids(node, DCAT + "landingPage")), None) or next(iter(graph.ids(node, FOAF + "page")),
                                                                                   None)
    if landing is None and node_id and node_id.startswith(("http://", "https://")):
        landing = node_id
    publisher = next((graph.name_of(p, *_NAMES) for p in graph.values(node, DCT + "publisher")), None)
    if publisher is None:
        publisher = next((graph.name_of(p, *_NAMES) for p in graph.values(node, DCAT + "contactPoint")), None)
    theme_labels = [graph.name_of(t, *_NAMES) or "" for t in graph.values(node, DCAT + "theme")]
    theme_codes = [_last_segment(i) for i in graph.ids(node, DCAT + "theme")]
    keywords = graph.texts(node, DCAT + "keyword") + [t for t in theme_labels if t and "://" not in t]
    spatial = [graph.name_of(s, *_NAMES) or "" for s in graph.values(node, DCT + "spatial")]
    geography, places = geography_of(spatial)
    start = end = None
    for period in graph.values(node, DCT + "temporal"):
        if isinstance(period, dict):
            start = graph.text(period, DCAT + "startDate", SCHEMA + "startDate")
            end = graph.text(period, DCAT + "endDate", SCHEMA + "endDate")
        elif isinstance(period, str):
            start, end = split_interval(period)
    frequency = next(iter(graph.ids(node, DCT + "accrualPeriodicity")), None)
    formats: list[str] = []
    api_url = None
    licenses = graph.ids(node, DCT + "license")
    for dist in graph.values(node, DCAT + "distribution"):
        if not isinstance(dist, dict):
            continue
        for fmt in graph.values(dist, DCT + "format") + graph.values(dist, DCAT + "mediaType"):
            label = _format_label(graph, fmt)
            if label:
                formats.append(label)
        urls = graph.ids(dist, DCAT + "downloadURL") + graph.ids(dist, DCAT + "accessURL")
        if api_url is None:
            api_url = next((u for u in urls if u != landing), None)
        licenses += graph.ids(dist, DCT + "license")
    return {
        "source_id": identifier,
        "title": graph.text(node, DCT + "title"),
        "description": graph.text(node, DCT + "description") or "",
        "publisher": publisher or "",
        "keywords": keywords + places,
        "themes": themes_of(theme_codes + [t for t in theme_labels if t]),
        "geography": geography,
        "temporal_start": split_interval(start)[0] if start else None,
        "temporal_end": split_interval(end)[0] if end else None,
        "update_frequency": _last_segment(frequency) if frequency else None,
        "formats": formats,
        "license": licenses[0] if licenses else None,
        "landing_page": landing,
        "api_url": api_url,
        "source_modified": safe_datetime(graph.text(node, DCT + "modified")),
        "raw": node.get("@source") or {},
    }
