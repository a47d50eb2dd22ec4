"""Just enough JSON-LD to read DCAT-AP and schema.org documents without a JSON-LD processor.

Portals write the same property as `dct:title`, `dcterms:title`, `title` (via @context) or the full IRI;
`expand_document` turns every key and @type into a full IRI, so parsers look properties up one way.
Remote contexts are never fetched: well-known prefixes and the schema.org vocabulary are built in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
FOAF = "http://xmlns.com/foaf/0.1/"
VCARD = "http://www.w3.org/2006/vcard/ns#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
SCHEMA = "http://schema.org/"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"

KNOWN_PREFIXES: dict[str, str] = {
    "dcat": DCAT,
    "dct": DCT,
    "dcterms": DCT,
    "foaf": FOAF,
    "vcard": VCARD,
    "skos": SKOS,
    "schema": SCHEMA,
    "sdo": SCHEMA,
    "rdfs": RDFS,
    "adms": "http://www.w3.org/ns/adms#",
    "locn": "http://www.w3.org/ns/locn#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "spdx": "http://spdx.org/rdf/terms#",
    "prov": "http://www.w3.org/ns/prov#",
    "org": "http://www.w3.org/ns/org#",
}


def _canonical(iri: str) -> str:
    for variant in ("https://schema.org/", "http://www.schema.org/", "https://www.schema.org/"):
        if iri.startswith(variant):
            return SCHEMA + iri[len(variant) :]
    return iri


@dataclass
class Context:
    """Prefixes, terms and default vocabulary in effect for a node."""

    prefixes: dict[str, str] = field(default_factory=dict)
    terms: dict[str, str] = field(default_factory=dict)
    vocab: str | None = None

    def extend(self, raw: Any) -> Context:
        """A new context with `raw` (a JSON-LD @context value) applied on top of this one."""
        ctx = Context(dict(self.prefixes), dict(self.terms), self.vocab)
        for item in raw if isinstance(raw, list) else [raw]:
            if isinstance(item, str):
                if "schema.org" in item:
                    ctx.vocab = SCHEMA
            elif isinstance(item, dict):
                for key, value in item.items():
                    if key == "@vocab" and isinstance(value, str):
                        ctx.vocab = _canonical(value)
                    elif isinstance(value, str) and not key.startswith("@"):
                        ctx.terms[key] = value
                        if value.endswith(("#", "/")):
                            ctx.prefixes[key] = _canonical(value)
                    elif isinstance(value, dict) and isinstance(value.get("@id"), str):
                        ctx.terms[key] = value["@id"]
        return ctx

    def expand(self, key: str, vocab: bool = True) -> str:
        """Full IRI of a key or type name; keywords (@id, @type, ...) are returned unchanged."""
        if key.startswith("@"):
            return key
        if "://" in key:
            return _canonical(key)
        if key in self.terms:
            term = self.terms[key]
            return self.expand(term, vocab) if term != key else term
        if ":" in key:
            prefix, local = key.split(":", 1)
            base = self.prefixes.get(prefix) or KNOWN_PREFIXES.get(prefix)
            if base:
                return _canonical(base + local)
            return key
        if vocab and self.vocab:
            return self.vocab + key
        return key


def _expand_value(value: Any, ctx: Context) -> Any:
    if isinstance(value, list):
        return [_expand_value(v, ctx) for v in value]
    if isinstance(value, dict):
        return _expand_node(value, ctx)
    return value


def _expand_node(node: dict[str, Any], ctx: Context) -> dict[str, Any]:
    if "@context" in node:
        ctx = ctx.extend(node["@context"])
    out: dict[str, Any] = {"@source": node}
    for key, value in node.items():
        if key == "@context":
            continue
        if key == "@type":
            out["@type"] = [ctx.expand(t) for t in value if isinstance(t, str)] if isinstance(value, list) else (
                [ctx.expand(value)] if isinstance(value, str) else [])
            continue
        out[ctx.expand(key)] = _expand_value(value, ctx)
    return out


def expand_document(doc: Any, base: Context | None = None) -> list[dict[str, Any]]:
    """Every node of a JSON-LD document (top level, @graph, nested), keys and types as full IRIs.

    Each node keeps its original JSON under "@source" (for the raw record).
    """
    ctx = base or Context()
    tops: list[dict[str, Any]] = []
    for item in doc if isinstance(doc, list) else [doc]:
        if not isinstance(item, dict):
            continue
        node = _expand_node(item, ctx)
        graph = node.pop("@graph", None)
        if graph is not None:
            tops.extend(n for n in (graph if isinstance(graph, list) else [graph]) if isinstance(n, dict))
            if any(k not in {"@source", "@id", "@type"} for k in node):
                tops.append(node)
        else:
            tops.append(node)
    nodes: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            nodes.append(value)
            for key, v in value.items():
                if key != "@source":
                    walk(v)

    walk(tops)
    return nodes


class Graph:
    """Nodes indexed by @id so references like {"@id": "_:publisher"} resolve to the described node."""

    def __init__(self, nodes: list[dict[str, Any]]) -> None:
        self.nodes = nodes
        self.by_id: dict[str, dict[str, Any]] = {}
        for node in nodes:
            node_id = node.get("@id")
            if isinstance(node_id, str) and len(node) > 2:
                self.by_id.setdefault(node_id, node)

    def of_type(self, iri: str) -> list[dict[str, Any]]:
        """Nodes whose @type includes `iri`, in document order, without duplicates."""
        seen: set[int] = set()
        out = []
        for node in self.nodes:
            if iri in node.get("@type", []) and id(node) not in seen:
                seen.add(id(node))
                out.append(node)
        return out

    def resolve(self, value: Any) -> Any:
        """A referenced node when `value` is a bare {"@id": ...} of a described node, else `value`."""
        if isinstance(value, dict) and set(value) <= {"@id", "@source"} and value.get("@id") in self.by_id:
            return self.by_id[value["@id"]]
        return value

    def values(self, node: dict[str, Any], iri: str) -> list[Any]:
        """The values of a property, as a list, references resolved."""
        raw = node.get(iri)
        items = raw if isinstance(raw, list) else ([] if raw is None else [raw])
        out: list[Any] = []
        for item in items:
            if isinstance(item, dict) and "@list" in item:
                out.extend(self.resolve(v) for v in item["@list"])
            else:
                out.append(self.resolve(item))
        return out

    def texts(self, node: dict[str, Any], iri: str) -> list[str]:
        """String values of a property (@value literals unwrapped), English first when tagged."""
        tagged: list[tuple[int, str]] = []
        for value in self.values(node, iri):
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                tagged.append((1, str(value)))
            elif isinstance(value, dict) and "@value" in value:
                lang = str(value.get("@language", "")).lower()
                rank = 0 if lang.startswith("en") else (1 if not lang else 2)
                tagged.append((rank, str(value["@value"])))
        tagged.sort(key=lambda t: t[0])
        return [t for _, t in tagged if t.strip()]

    def text(self, node: dict[str, Any], *iris: str) -> str | None:
        """The first string value among properties `iris`."""
        for iri in iris:
            found = self.texts(node, iri)
            if found:
                return found[0].strip()
        return None

    def ids(self, node: dict[str, Any], iri: str) -> list[str]:
        """IRIs a property points to (@id values, or plain strings)."""
        out = []
        for value in self.values(node, iri):
            if isinstance(value, dict) and isinstance(value.get("@id"), str):
                out.append(value["@id"])
            elif isinstance(value, str):
                out.append(value)
        return out

    def name_of(self, value: Any, *name_iris: str) -> str | None:
        """A human label of a node or literal: its name properties, else the literal, else the last IRI segment."""
        value = self.resolve(value)
        if isinstance(value, str):
            return value.strip() or None
        if isinstance(value, dict):
            if "@value" in value:
                return str(value["@value"]).strip() or None
            label = self.text(value, *name_iris)
            if label:
                return label
            node_id = value.get("@id")
            if isinstance(node_id, str) and not node_id.startswith("_:"):
                return node_id
        return None
