"""Input formats of `dra catalog ingest`, and detection of the format when `--format` is not given.

`read_items(path, fmt, options)` returns the format name and a stream of items: a `Candidate` per record
found, a `Rejection` (with file and line or record index) per unusable record, and a fatal `Rejection` when
the whole file is unusable (wrong encoding, broken JSON). Operator mistakes raise `InputError` before anything
is read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dra_common.catalog.formats import ckan, dcat_ap, dcat_us, schema_org, tabular
from dra_common.catalog.formats.base import InputError, ParseOptions, decode, load_json, read_bytes
from dra_common.catalog.records import Item, Rejection

FORMATS: dict[str, str] = {
    "dcat-us": "DCAT-US / Project Open Data data.json (v1.1)",
    "dcat-ap": "DCAT-AP as JSON-LD",
    "ckan": "CKAN API response (package_search, package_show) or CKAN dump (JSON list / JSON Lines of packages)",
    "schema-org": "schema.org Dataset JSON-LD (.json/.jsonld, or embedded in an HTML page)",
    "csv": "CSV / TSV with a header row (use --map FIELD=COLUMN)",
    "jsonl": "JSON Lines (or a JSON array) of flat records, catalog field names or --map",
}

__all__ = ["FORMATS", "InputError", "ParseOptions", "detect_format", "read_items"]


def _first_json_line(data: bytes) -> Any:
    for raw in data.split(b"\n", 50)[:50]:
        if raw.strip():
            try:
                return json.loads(raw.decode("utf-8-sig", errors="replace"))
            except json.JSONDecodeError:
                return None
    return None


def _looks_like_jsonl(data: bytes) -> bool:
    lines = [line for line in data[:1_000_000].split(b"\n")[:3] if line.strip()]
    if len(lines) < 2:
        return False
    try:
        return all(isinstance(json.loads(line.decode("utf-8-sig", errors="replace")), dict) for line in lines[:2])
    except json.JSONDecodeError:
        return False


def detect_document(doc: Any) -> str | None:
    """Format of a parsed JSON document, or None."""
    if dcat_us.looks_like(doc):
        return "dcat-us"
    if ckan.looks_like(doc):
        return "ckan"
    if schema_org.looks_like(doc):
        return "schema-org"
    if dcat_ap.looks_like(doc):
        return "dcat-ap"
    items = doc if isinstance(doc, list) else (doc.get("records") or doc.get("items") if isinstance(doc, dict) else None)
    if isinstance(items, list) and items and isinstance(items[0], dict) and "title" in items[0]:
        return "jsonl"
    return None


def detect_format(path: Path, data: bytes | None = None) -> str:
    """Guess the format of a file from its name and first bytes (JSON documents are parsed to decide).

    Raises:
        InputError: the format cannot be told; the message lists the `--format` choices.
    """
    data = read_bytes(path) if data is None else data
    suffix = path.suffix.lower()
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if suffix in {".csv", ".tsv", ".tab"}:
        return "csv"
    if suffix in {".html", ".htm", ".xhtml"} or head[:1] == b"<":
        return "schema-org"
    if suffix in {".jsonl", ".ndjson"} or _looks_like_jsonl(data):
        return "ckan" if ckan.is_package(_first_json_line(data)) else "jsonl"
    if head[:1] in {b"{", b"["}:
        text = data.decode("utf-8-sig", errors="replace")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: cannot tell the format: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                             f"{exc.msg}") from None
        fmt = detect_document(doc)
        if fmt:
            return fmt
    raise InputError(f"{path}: cannot tell the format; pass --format, one of: {', '.join(FORMATS)}")


def read_items(path: Path, fmt: str | None = None, options: ParseOptions | None = None) -> tuple[str, Iterator[Item]]:
    """The format (given or detected) and the stream of items of a file.

    Raises:
        InputError: no such file, unknown or undetectable format, mapping naming absent columns.
    """
    options = options or ParseOptions()
    data = read_bytes(path)
    origin = str(path)
    if fmt is None:
        try:
            fmt = detect_format(path, data)
        except InputError as exc:
            if "invalid JSON" in str(exc):
                # Broken JSON: report it as the run's (fatal) rejection with its position, store nothing.
                text = decode(data, origin, options.encoding)
                parsed = load_json(text, origin) if isinstance(text, str) else text
                if isinstance(parsed, Rejection):
                    return "json", iter([parsed])
            raise
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if options.mapping.pairs and fmt not in {"csv", "jsonl"}:
        raise InputError(f"--map applies to csv and jsonl input, not {fmt}")
    if fmt == "csv":
        items = tabular.parse_csv(data, origin, options, delimiter="\t" if tabular.is_tsv(path) else None)
        return fmt, _checked(items)
    if fmt in {"jsonl", "ckan"} and _is_lines(path, data):
        lines = tabular.parse_jsonl(data, origin, options)
        if fmt == "ckan":
            return fmt, _ckan_lines(lines, options)
        return fmt, lines
    text = decode(data, origin, options.encoding)
    if isinstance(text, Rejection):
        return fmt, iter([text])
    if fmt == "schema-org" and text.lstrip()[:1] == "<":
        return fmt, schema_org.parse_html(text, origin, options)
    doc = load_json(text, origin)
    if isinstance(doc, Rejection):
        return fmt, iter([doc])
    parser = {"dcat-us": dcat_us.parse, "dcat-ap": dcat_ap.parse, "ckan": ckan.parse, "schema-org": schema_org.parse,
              "jsonl": tabular.parse_records}[fmt]
    return fmt, parser(doc, origin, options)


def _is_lines(path: Path, data: bytes) -> bool:
    return path.suffix.lower() in {".jsonl", ".ndjson"} or _looks_like_jsonl(data)


def _ckan_lines(lines: Iterator[Item], options: ParseOptions) -> Iterator[Item]:
    for item in lines:
        if isinstance(item, Rejection):
            yield item
        else:
            yield ckan.package_item(item.data.get("raw"), item.location, options.portal_url)


def _checked(items: Iterator[Item]) -> Iterator[Item]:
    """Run a generator's first step now so header problems (InputError) surface before ingesting starts."""
    first = next(items, None)
    if first is None:
        return iter(())

    def chain() -> Iterator[Item]:
        yield first
        yield from items

    return chain()
