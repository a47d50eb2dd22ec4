"""What every input format shares: reading files with precise error locations, options, small mappers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dra_common.catalog.geo import to_geography
from dra_common.catalog.records import FieldMapping, Rejection, parse_datetime

MAX_FILE_BYTES = 2_000_000_000


class InputError(ValueError):
    """The operator asked for something impossible (no such file, unknown format, bad --map); nothing was read."""


@dataclass
class ParseOptions:
    """Options of `dra catalog ingest` that parsers need.

    Attributes:
        mapping: catalog field <- input column, for CSV / JSON Lines.
        portal_url: base URL of the portal a CKAN dump comes from (landing pages are `<portal>/dataset/<name>`).
        encoding: text encoding of the file (default UTF-8, with or without BOM).
    """

    mapping: FieldMapping = field(default_factory=FieldMapping)
    portal_url: str | None = None
    encoding: str | None = None


def decode(data: bytes, origin: str, encoding: str | None) -> str | Rejection:
    """Bytes to text, or a fatal rejection saying which byte on which line could not be decoded."""
    enc = encoding or "utf-8-sig"
    try:
        return data.decode(enc)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = data[exc.start : exc.start + 1].hex()
        hint = "" if encoding else " (pass --encoding, e.g. --encoding latin-1, if the file is not UTF-8)"
        return Rejection(f"{origin}:{line}", f"not valid {enc}: byte 0x{bad} at line {line}, column {column}{hint}",
                         fatal=True)
    except LookupError:
        raise InputError(f"unknown encoding {enc!r}") from None


def read_bytes(path: Path) -> bytes:
    """The file's bytes; InputError when it is missing, a directory or too large."""
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory; pass a file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(f"{path} is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}")
    return path.read_bytes()


def load_json(text: str, origin: str) -> Any | Rejection:
    """Parse a JSON document, or a fatal rejection with line and column of the syntax error."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        return Rejection(f"{origin}:{exc.lineno}", f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                         fatal=True)
    except RecursionError:
        return Rejection(origin, "invalid JSON: nested too deeply", fatal=True)


def as_list(value: Any) -> list[Any]:
    """None -> [], scalar -> [scalar], list -> list."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def first_text(*values: Any) -> str | None:
    """The first non-empty string among `values` (lists are searched in order)."""
    for value in values:
        for item in as_list(value):
            if isinstance(item, str) and item.strip():
                return item.strip()
    return None


def split_keywords(value: Any) -> list[str]:
    """Keywords from a list or a comma/semicolon-separated string."""
    out: list[str] = []
    for item in as_list(value):
        if isinstance(item, str):
            out.extend(p.strip() for p in re.split(r"[;,|]", item) if p.strip())
    return out


def safe_datetime(value: Any) -> str | None:
    """An ISO date-time string when `value` parses as one, else None (it stays in the raw record)."""
    text = first_text(value)
    if text is None:
        return None
    try:
        parsed = parse_datetime(text, "date")
    except ValueError:
        return None
    return parsed.isoformat() if parsed else None


def split_interval(value: Any) -> tuple[str | None, str | None]:
    """Start and end of an ISO 8601 interval ('2000-01-01/2010-12-31', '2000/..', '[a TO b]')."""
    text = first_text(value)
    if not text:
        return None, None
    text = text.strip().strip("[]")
    parts = re.split(r"\s+TO\s+|/", text, maxsplit=1)
    if len(parts) != 2:
        return (_date_part(text), None)
    return _date_part(parts[0]), _date_part(parts[1])


def _date_part(text: str) -> str | None:
    text = text.strip()
    if not text or text in {"..", "*"} or text.upper().startswith(("R", "P")):
        return None
    match = re.match(r"^(\d{4})(-\d{2})?(-\d{2})?", text)
    return match.group(0) if match else None


def geography_of(values: Iterable[Any]) -> tuple[list[str], list[str]]:
    """Split place labels into ISO codes (or 'global') and labels that name no country."""
    codes: list[str] = []
    other: list[str] = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            continue
        text = value.strip().rstrip("/")
        candidate = text.rsplit("/", 1)[-1] if "://" in text else text
        code = to_geography(candidate)
        if code:
            codes.append(code)
        else:
            other.append(candidate.replace("_", " ").lower() if "://" in text else text)
    return list(dict.fromkeys(codes)), other


# Portal theme / group labels that clearly name one of our domains. Anything else stays a keyword only.
_THEME_WORDS: dict[str, str] = {
    "health": "health_medicine",
    "heal": "health_medicine",
    "education": "education",
    "educ": "education",
    "transport": "transport_urban",
    "transportation": "transport_urban",
    "tran": "transport_urban",
    "environment": "climate_environment",
    "envi": "climate_environment",
    "climate": "climate_environment",
    "economy": "economics_finance",
    "econ": "economics_finance",
    "finance": "economics_finance",
}


def themes_of(labels: Iterable[str]) -> list[str]:
    """Catalog themes (our domains) named by portal theme labels such as 'Health' or the EU code 'ECON'."""
    out: list[str] = []
    for label in labels:
        for word in re.findall(r"[a-z]+", label.lower()):
            if word in _THEME_WORDS:
                out.append(_THEME_WORDS[word])
    return list(dict.fromkeys(out))[:3]


def strip_html(text: str | None) -> str:
    """Plain text of an HTML fragment (Zenodo and some CKAN portals put HTML in descriptions)."""
    if not text:
        return ""
    import html

    without = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", text, flags=re.S | re.I)
    without = re.sub(r"<br\s*/?>|</p>|</li>|</div>", "\n", without, flags=re.I)
    without = re.sub(r"<[^>]+>", " ", without)
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in html.unescape(without).split("\n")]
    return "\n".join(line for line in lines if line)
