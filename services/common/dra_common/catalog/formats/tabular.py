"""CSV and JSON Lines (or a JSON array of flat records) with a field mapping, so any export can be loaded.

Columns named like catalog fields are taken as they are; `--map title=name` takes `title` from column `name`,
and dotted paths (`--map publisher=organization.title`) reach into nested JSON. Unmapped columns stay in the
raw record. Our own curated files are JSON Lines with the catalog's field names, read with no mapping.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dra_common.catalog.formats.base import InputError, ParseOptions, decode
from dra_common.catalog.records import FIELDS, LIST_FIELDS, Candidate, FieldMapping, Item, Rejection

CSV = "csv"
JSONL = "jsonl"
_MISSING = object()
# Let csv read absurdly long cells so the record validator can reject them with their real length.
_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)


def _lookup(obj: Any, path: str) -> Any:
    if isinstance(obj, dict) and path in obj:
        return obj[path]
    current = obj
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _split_cell(value: str) -> list[str]:
    if value.strip().startswith("["):
        try:
            parsed = json.loads(value)
            if isinstance(parsed, list):
                return [str(v) for v in parsed]
        except json.JSONDecodeError:
            pass
    separator = ";" if ";" in value else ("|" if "|" in value else ",")
    return [part.strip() for part in value.split(separator) if part.strip()]


def map_fields(obj: dict[str, Any], mapping: FieldMapping, split_lists: bool) -> dict[str, Any]:
    """Catalog fields of one input row/object; the whole object is kept as the raw record."""
    out: dict[str, Any] = {}
    for name in FIELDS:
        value = _lookup(obj, mapping.pairs.get(name, name))
        if value is _MISSING:
            continue
        if split_lists and name in LIST_FIELDS and isinstance(value, str):
            value = _split_cell(value)
        out[name] = value
    out["raw"] = obj
    return out


def parse_csv(data: bytes, origin: str, options: ParseOptions, delimiter: str | None = None) -> Iterator[Item]:
    """Yield a candidate per CSV row; the location is the file's line where the row ends."""
    text = decode(data, origin, options.encoding)
    if isinstance(text, Rejection):
        yield text
        return
    sample = text[:65536]
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    csv.field_size_limit(_FIELD_LIMIT)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = reader.fieldnames or []
    if not header:
        yield Rejection(origin, "empty CSV file (no header row)", fatal=True)
        return
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        yield Rejection(f"{origin}:1", f"header repeats column(s) {', '.join(duplicates)}", fatal=True)
        return
    missing = [f"{target}={column}" for target, column in options.mapping.pairs.items() if column not in header]
    if missing:
        raise InputError(f"{origin}: --map {', '.join(missing)} names columns not in the header "
                         f"(columns: {', '.join(header)})")
    if "title" not in header and "title" not in options.mapping.pairs:
        raise InputError(f"{origin}: no 'title' column; map one with --map title=COLUMN (columns: {', '.join(header)})")
    try:
        for row in reader:
            location = f"{origin}:{reader.line_num}"
            extra = row.pop(None, None)  # type: ignore[call-overload]
            if extra:
                yield Rejection(location, f"row has {len(extra)} more field(s) than the header ({len(header)} columns)")
                continue
            values = {k: v for k, v in row.items() if v is not None}
            yield Candidate(location, map_fields(values, options.mapping, split_lists=True))
    except csv.Error as exc:
        yield Rejection(f"{origin}:{reader.line_num}", f"CSV syntax error: {exc}", fatal=True)


def parse_jsonl(data: bytes, origin: str, options: ParseOptions) -> Iterator[Item]:
    """Yield a candidate per JSON Lines object; a broken line is rejected alone, with its line and column."""
    encoding = options.encoding or "utf-8"
    for number, raw_line in enumerate(data.split(b"\n"), start=1):
        if number == 1 and raw_line.startswith(b"\xef\xbb\xbf"):
            raw_line = raw_line[3:]
        if not raw_line.strip():
            continue
        location = f"{origin}:{number}"
        try:
            line = raw_line.decode(encoding)
        except UnicodeDecodeError as exc:
            yield Rejection(location, f"not valid {encoding}: byte 0x{raw_line[exc.start:exc.start + 1].hex()} at "
                                      f"column {exc.start + 1}" + ("" if options.encoding else " (pass --encoding)"))
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Rejection(location, f"invalid JSON at column {exc.colno}: {exc.msg}")
            continue
        if not isinstance(obj, dict):
            yield Rejection(location, f"line holds a JSON {type(obj).__name__}, not an object")
            continue
        yield Candidate(location, map_fields(obj, options.mapping, split_lists=False))


def parse_records(doc: Any, origin: str, options: ParseOptions) -> Iterator[Item]:
    """A JSON array of flat records (or {"records"|"data"|"items": [...]}) read like JSON Lines."""
    items = doc
    if isinstance(doc, dict):
        items = next((doc[k] for k in ("records", "data", "items", "datasets") if isinstance(doc.get(k), list)), None)
    if not isinstance(items, list):
        yield Rejection(origin, "expected a JSON array of records", fatal=True)
        return
    for index, obj in enumerate(items):
        location = f"{origin}: [{index}]"
        if not isinstance(obj, dict):
            yield Rejection(location, f"entry is a JSON {type(obj).__name__}, not an object")
            continue
        yield Candidate(location, map_fields(obj, options.mapping, split_lists=False))


def is_tsv(path: Path) -> bool:
    """Tab-separated by file name."""
    return path.suffix.lower() in {".tsv", ".tab"}
