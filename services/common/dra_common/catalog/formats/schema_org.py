"""schema.org `Dataset` JSON-LD, the markup dataset search engines read from web pages.

Accepts a single Dataset, a list, an @graph, a DataCatalog with `dataset`, or an HTML page with one or more
`<script type="application/ld+json">` blocks (other node types such as WebSite or BreadcrumbList are skipped).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

from dra_common.catalog.formats.base import (
    ParseOptions,
    geography_of,
    safe_datetime,
    split_interval,
    split_keywords,
)
from dra_common.catalog.formats.jsonld import SCHEMA, Context, Graph, expand_document
from dra_common.catalog.records import Candidate, Item, Rejection

FORMAT = "schema-org"
_SCHEMA_CONTEXT = Context(vocab=SCHEMA)
_NAMES = (SCHEMA + "name", SCHEMA + "legalName", SCHEMA + "alternateName")


def looks_like(doc: Any) -> bool:
    """JSON-LD that uses the schema.org vocabulary and mentions a Dataset."""
    head = str(doc)[:20_000]
    return "schema.org" in head and "Dataset" in head


class _ScriptCollector(HTMLParser):
    """Collects the text of `<script type="application/ld+json">` elements with their line numbers."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[tuple[int, str]] = []
        self._inside: int | None = None
        self._parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and any(k == "type" and (v or "").split(";")[0].strip().lower() == "application/ld+json"
                                   for k, v in attrs):
            self._inside = self.getpos()[0]
            self._parts = []

    def handle_data(self, data: str) -> None:
        if self._inside is not None:
            self._parts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._inside is not None:
            self.scripts.append((self._inside, "".join(self._parts)))
            self._inside = None


def parse_html(text: str, origin: str, options: ParseOptions) -> Iterator[Item]:
    """Yield candidates from every JSON-LD script of an HTML page; a broken script is reported, others still read."""
    collector = _ScriptCollector()
    collector.feed(text)
    collector.close()
    if not collector.scripts:
        yield Rejection(origin, "no <script type=\"application/ld+json\"> element in the page", fatal=True)
        return
    found = False
    for number, (line, body) in enumerate(collector.scripts, start=1):
        where = f"{origin}:{line} (script {number})"
        try:
            doc = json.loads(body)
        except json.JSONDecodeError as exc:
            yield Rejection(where, f"invalid JSON-LD in script {number} at its line {exc.lineno}, "
                                   f"column {exc.colno}: {exc.msg}")
            continue
        for item in parse(doc, where, options, require=False):
            found = True
            yield item
    if not found:
        yield Rejection(origin, "the page's JSON-LD describes no schema.org Dataset")


def parse(doc: Any, origin: str, options: ParseOptions, require: bool = True) -> Iterator[Item]:
    """Yield a candidate per schema.org Dataset node."""
    graph = Graph(expand_document(doc, _SCHEMA_CONTEXT))
    datasets = graph.of_type(SCHEMA + "Dataset")
    if not datasets and require:
        yield Rejection(origin, "no schema.org Dataset found in the JSON-LD document", fatal=True)
        return
    single = len(datasets) == 1
    for index, node in enumerate(datasets):
        location = origin if single else f"{origin}: dataset {index}"
        yield Candidate(location, _record(graph, node))


def _identifier(graph: Graph, node: dict[str, Any]) -> str | None:
    for value in graph.values(node, SCHEMA + "identifier"):
        if isinstance(value, str | int) and str(value).strip():
            return str(value).strip()
        if isinstance(value, dict):
            text = graph.text(value, SCHEMA + "value", SCHEMA + "url") or (
                value.get("@value") if isinstance(value.get("@value"), str) else None)
            if text:
                return text.strip()
            if isinstance(value.get("@id"), str):
                return value["@id"]
    return None


def _record(graph: Graph, node: dict[str, Any]) -> dict[str, Any]:
    node_id = node.get("@id") if isinstance(node.get("@id"), str) else None
    url = graph.text(node, SCHEMA + "url") or next(iter(graph.ids(node, SCHEMA + "url")), None)
    if url is None and node_id and node_id.startswith(("http://", "https://")):
        url = node_id
    if url is None:
        url = next(iter(graph.ids(node, SCHEMA + "sameAs")), None)
    names: list[str] = []
    for prop in ("publisher", "creator", "provider", "author"):
        for party in graph.values(node, SCHEMA + prop):
            label = graph.name_of(party, *_NAMES)
            if label and "://" not in label:
                names.append(label)
        if names:
            break
    publisher = "; ".join(names[:3]) + (" et al." if len(names) > 3 else "")
    keywords: list[str] = []
    for value in graph.values(node, SCHEMA + "keywords"):
        if isinstance(value, dict):
            label = graph.name_of(value, *_NAMES)
            keywords.extend([label] if label and "://" not in label else [])
        else:
            keywords.extend(split_keywords(value))
    places: list[str] = []
    for place in graph.values(node, SCHEMA + "spatialCoverage") + graph.values(node, SCHEMA + "spatial"):
        if isinstance(place, dict):
            country = None
            for address in graph.values(place, SCHEMA + "address"):
                if isinstance(address, dict):
                    country = graph.text(address, SCHEMA + "addressCountry")
            label = country or graph.name_of(place, *_NAMES)
            if label:
                places.append(label)
        elif isinstance(place, str):
            places.append(place)
    geography, other_places = geography_of(places)
    start, end = split_interval(graph.text(node, SCHEMA + "temporalCoverage"))
    formats: list[str] = []
    api_url = None
    for dist in graph.values(node, SCHEMA + "distribution"):
        if not isinstance(dist, dict):
            continue
        fmt = graph.text(dist, SCHEMA + "encodingFormat", SCHEMA + "fileFormat")
        if fmt:
            formats.append(fmt)
        content = graph.text(dist, SCHEMA + "contentUrl") or next(iter(graph.ids(dist, SCHEMA + "contentUrl")), None)
        api_url = api_url or content
    license_value = next(iter(graph.values(node, SCHEMA + "license")), None)
    license_text = None
    if isinstance(license_value, dict):
        license_text = graph.text(license_value, SCHEMA + "url", SCHEMA + "name")
    if license_text is None and license_value is not None:
        license_text = graph.name_of(license_value, *_NAMES)
    return {
        "source_id": _identifier(graph, node) or url or node_id,
        "title": graph.text(node, SCHEMA + "name", SCHEMA + "headline"),
        "description": graph.text(node, SCHEMA + "description") or "",
        "publisher": publisher,
        "keywords": keywords + other_places[:2],
        "geography": geography,
        "temporal_start": start,
        "temporal_end": end,
        "formats": formats,
        "license": license_text,
        "landing_page": url,
        "api_url": api_url,
        "source_modified": safe_datetime(graph.text(node, SCHEMA + "dateModified", SCHEMA + "datePublished")),
        "raw": node.get("@source") or {},
    }
