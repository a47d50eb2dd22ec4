"""The catalog record: validation, metadata quality, content hash and the text dense retrieval embeds.

Every ingestion path (curated JSONL, DCAT, CKAN, schema.org, CSV, live connectors) ends in `validate_candidate`,
so a record is checked the same way wherever it comes from, and a rejection always says what is wrong and where.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator, model_validator

from dra_common.catalog.geo import GLOBAL, country_name, is_alpha2, to_geography
from dra_common.domain import DOMAINS, SOURCE_BY_NAME, SourceInfo, dataset_id

# Limits: anything longer is almost certainly a broken export (a whole file in one cell, HTML dumps, ...).
MAX_SOURCE_ID = 200
MAX_TITLE = 500
MAX_DESCRIPTION = 20_000
MAX_PUBLISHER = 500
MAX_KEYWORD = 100
MAX_KEYWORDS = 100
MAX_LIST_ITEMS = 50
MAX_URL = 2048
MAX_SHORT = 500
MAX_RAW_BYTES = 1_000_000

# Characters of the embedding text: MiniLM was trained on 128 tokens, about 600 characters of English.
EMBEDDING_TEXT_MAX_CHARS = 600
EMBEDDED_PLACES_MAX = 3  # countries named in the embedded text at most

FIELDS: tuple[str, ...] = (
    "source",
    "source_id",
    "title",
    "description",
    "publisher",
    "keywords",
    "themes",
    "geography",
    "temporal_start",
    "temporal_end",
    "update_frequency",
    "formats",
    "license",
    "landing_page",
    "api_url",
    "source_modified",
)
LIST_FIELDS = frozenset({"keywords", "themes", "geography", "formats"})

_FREQUENCIES: dict[str, str] = {
    "realtime": "realtime",
    "real-time": "realtime",
    "real time": "realtime",
    "continuous": "realtime",
    "continual": "realtime",
    "hourly": "hourly",
    "r/pt1h": "hourly",
    "daily": "daily",
    "r/p1d": "daily",
    "weekly": "weekly",
    "r/p1w": "weekly",
    "fortnightly": "biweekly",
    "biweekly": "biweekly",
    "r/p2w": "biweekly",
    "monthly": "monthly",
    "r/p1m": "monthly",
    "quarterly": "quarterly",
    "r/p3m": "quarterly",
    "biannual": "semiannual",
    "semiannual": "semiannual",
    "semi-annual": "semiannual",
    "half-yearly": "semiannual",
    "r/p6m": "semiannual",
    "annual": "annual",
    "annually": "annual",
    "yearly": "annual",
    "r/p1y": "annual",
    "biennial": "biennial",
    "r/p2y": "biennial",
    "irregular": "irregular",
    "as needed": "irregular",
    "ad hoc": "irregular",
    "adhoc": "irregular",
    "static": "static",
    "never": "static",
    "not updated": "static",
    "one-off": "static",
}
# Expected days between updates, for the freshness part of `metadata_quality`.
FREQUENCY_DAYS: dict[str, float] = {
    "realtime": 1,
    "hourly": 1,
    "daily": 1,
    "weekly": 7,
    "biweekly": 14,
    "monthly": 31,
    "quarterly": 92,
    "semiannual": 183,
    "annual": 366,
    "biennial": 731,
}
DEFAULT_PERIOD_DAYS = 366.0

_MEDIA_TYPES: dict[str, str] = {
    "text/csv": "CSV",
    "application/csv": "CSV",
    "application/json": "JSON",
    "application/geo+json": "GEOJSON",
    "application/vnd.geo+json": "GEOJSON",
    "application/ld+json": "JSONLD",
    "application/xml": "XML",
    "text/xml": "XML",
    "application/vnd.ms-excel": "XLS",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "XLSX",
    "application/vnd.google-earth.kml+xml": "KML",
    "application/vnd.google-earth.kmz": "KMZ",
    "application/zip": "ZIP",
    "application/pdf": "PDF",
    "application/x-parquet": "PARQUET",
    "application/vnd.apache.parquet": "PARQUET",
    "application/x-netcdf": "NETCDF",
    "text/html": "HTML",
    "text/plain": "TXT",
    "text/tab-separated-values": "TSV",
}
_FORMAT_ALIASES: dict[str, str] = {"GEO JSON": "GEOJSON", "ESRI SHAPEFILE": "SHP", "SHAPEFILE": "SHP", "EXCEL": "XLSX"}

_YEAR = re.compile(r"^\d{4}$")
_YEAR_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Candidate:
    """A record as read from an input, before validation. `location` says where it came from (file:line)."""

    location: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Rejection:
    """Why an input record (or a whole input, when `fatal`) was not stored, and where it was."""

    location: str
    reason: str
    source: str | None = None
    source_id: str | None = None
    fatal: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The JSON form kept in `catalog_ingests.rejections`."""
        out: dict[str, Any] = {"location": self.location, "reason": self.reason}
        if self.source_id is not None:
            out["source_id"] = self.source_id
        if self.fatal:
            out["fatal"] = True
        return out


Item = Candidate | Rejection


def _clean_text(value: Any, name: str, limit: int, *, single_line: bool = True) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {type(value).__name__}")
    text = _CONTROL.sub("", value)
    text = _SPACES.sub(" ", text).strip() if single_line else text.replace("\r\n", "\n").strip()
    if len(text) > limit:
        raise ValueError(f"{name} is {len(text):,} characters long; the limit is {limit:,}")
    return text


def _as_list(value: Any, name: str) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple | set):
        return list(value)
    raise ValueError(f"{name} must be a list of text, got {type(value).__name__}")


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def normalize_format(value: str) -> str:
    """Upper-case short format name from a format label, file extension or media type."""
    text = value.strip()
    lowered = text.lower().split(";")[0].strip()
    if lowered in _MEDIA_TYPES:
        return _MEDIA_TYPES[lowered]
    if "/" in lowered and lowered.rsplit("/", 1)[-1]:
        # Authority URIs (EU file-type table) and unknown media types: keep the last segment.
        text = lowered.rstrip("/").rsplit("/", 1)[-1]
    text = text.lstrip(".").upper()
    return _FORMAT_ALIASES.get(text, text)


def normalize_frequency(value: str) -> str:
    """A frequency label from our small vocabulary (`annual`, `monthly`, ...), or the lower-cased input."""
    text = value.strip().lower()
    for prefix in ("http://purl.org/cld/freq/", "http://publications.europa.eu/resource/authority/frequency/"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    text = {"annual_2": "semiannual", "annual_3": "annual", "cont": "realtime", "update_cont": "realtime"}.get(
        text, text
    )
    return _FREQUENCIES.get(text, _FREQUENCIES.get(text.replace("_", " "), text))


def parse_partial_date(value: Any, name: str) -> str | None:
    """An ISO year, year-month or date string from a year, date or date-time; None when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an ISO date or year, got {type(value).__name__}")
    text = value.strip()
    if _YEAR.match(text) or _YEAR_MONTH.match(text):
        return text
    try:
        return date.fromisoformat(text[:10]).isoformat() if len(text) >= 10 else date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(f"{name} {text[:40]!r} is not an ISO date (YYYY, YYYY-MM or YYYY-MM-DD)") from None


def parse_datetime(value: Any, name: str) -> datetime | None:
    """A timezone-aware date-time (UTC when the input has no zone); None when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text) if len(text) > 4 else datetime(int(text), 1, 1)
        except ValueError:
            raise ValueError(f"{name} {text[:40]!r} is not an ISO date-time") from None
    else:
        raise ValueError(f"{name} must be an ISO date-time, got {type(value).__name__}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _check_url(value: Any, name: str) -> str | None:
    text = _clean_text(value, name, MAX_URL)
    if not text:
        return None
    if not re.match(r"^https?://[^\s/]+\.[^\s/]+", text) or " " in text:
        raise ValueError(f"{name} {text[:80]!r} is not an absolute http(s) URL")
    return text


class CatalogRecord(BaseModel):
    """One dataset as the catalog stores it (the fields of `data/catalog/README.md`, plus the raw source record).

    Validate with `CatalogRecord.model_validate(data, context={"sources": {...}})` to check custom sources;
    without a context the registered SOURCES are used.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    source: str
    source_id: str
    title: str
    description: str = ""
    publisher: str = ""
    keywords: list[str] = []
    themes: list[str] = []
    geography: list[str] = []
    temporal_start: str | None = None
    temporal_end: str | None = None
    update_frequency: str | None = None
    formats: list[str] = []
    license: str | None = None
    landing_page: str
    api_url: str | None = None
    source_modified: datetime | None = None
    raw: dict[str, Any] = {}

    @property
    def id(self) -> str:
        """The catalog's stable id, `<source>:<source_id>`."""
        return dataset_id(self.source, self.source_id)

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, value: Any, info: ValidationInfo) -> str:
        name = _clean_text(value, "source", 64)
        if not name:
            raise ValueError("source is missing")
        sources = _sources(info)
        if name not in sources:
            raise ValueError(f"unknown source {name!r} (registered: {', '.join(sorted(sources))})")
        return name

    @field_validator("source_id", mode="before")
    @classmethod
    def _source_id(cls, value: Any) -> str:
        text = _clean_text(value, "source_id", MAX_SOURCE_ID)
        if not text:
            raise ValueError("source_id is missing")
        return text

    @field_validator("title", mode="before")
    @classmethod
    def _title(cls, value: Any) -> str:
        text = _clean_text(value, "title", MAX_TITLE)
        if not text:
            raise ValueError("title is missing")
        return text

    @field_validator("description", mode="before")
    @classmethod
    def _description(cls, value: Any) -> str:
        return _clean_text(value, "description", MAX_DESCRIPTION, single_line=False)

    @field_validator("publisher", mode="before")
    @classmethod
    def _publisher(cls, value: Any) -> str:
        return _clean_text(value, "publisher", MAX_PUBLISHER)

    @field_validator("license", mode="before")
    @classmethod
    def _license(cls, value: Any) -> str | None:
        return _clean_text(value, "license", MAX_SHORT) or None

    @field_validator("update_frequency", mode="before")
    @classmethod
    def _frequency(cls, value: Any) -> str | None:
        text = _clean_text(value, "update_frequency", MAX_SHORT)
        if not text:
            return None
        label = normalize_frequency(text)
        if len(label) > 64:
            raise ValueError(f"update_frequency {text[:40]!r}... is not a frequency (over 64 characters)")
        return label

    @field_validator("keywords", mode="before")
    @classmethod
    def _keywords(cls, value: Any) -> list[str]:
        words = [_clean_text(v, "keyword", MAX_KEYWORD).lower() for v in _as_list(value, "keywords")]
        words = _dedupe(words)
        if len(words) > MAX_KEYWORDS:
            raise ValueError(f"keywords has {len(words):,} entries; the limit is {MAX_KEYWORDS}")
        return words

    @field_validator("themes", mode="before")
    @classmethod
    def _themes(cls, value: Any) -> list[str]:
        themes = _dedupe([_clean_text(v, "theme", 64).lower() for v in _as_list(value, "themes")])
        unknown = [t for t in themes if t not in DOMAINS]
        if unknown:
            raise ValueError(f"unknown theme(s) {', '.join(map(repr, unknown))} (allowed: {', '.join(DOMAINS)})")
        return themes

    @field_validator("geography", mode="before")
    @classmethod
    def _geography(cls, value: Any) -> list[str]:
        codes: list[str] = []
        for item in _as_list(value, "geography"):
            text = _clean_text(item, "geography", 100)
            if not text:
                continue
            code = to_geography(text)
            if code is None:
                raise ValueError(f"geography {text!r} is not an ISO 3166-1 alpha-2 code or 'global'")
            codes.append(code)
        codes = _dedupe(codes)
        if len(codes) > 300:
            raise ValueError(f"geography has {len(codes):,} entries; the limit is 300")
        return codes

    @field_validator("formats", mode="before")
    @classmethod
    def _formats(cls, value: Any) -> list[str]:
        formats = _dedupe([normalize_format(_clean_text(v, "format", 100)) for v in _as_list(value, "formats")])
        if len(formats) > MAX_LIST_ITEMS:
            raise ValueError(f"formats has {len(formats):,} entries; the limit is {MAX_LIST_ITEMS}")
        return formats

    @field_validator("temporal_start", "temporal_end", mode="before")
    @classmethod
    def _temporal(cls, value: Any, info: ValidationInfo) -> str | None:
        return parse_partial_date(value, info.field_name or "temporal")

    @field_validator("source_modified", mode="before")
    @classmethod
    def _modified(cls, value: Any) -> datetime | None:
        return parse_datetime(value, "source_modified")

    @field_validator("landing_page", mode="before")
    @classmethod
    def _landing(cls, value: Any) -> str:
        url = _check_url(value, "landing_page")
        if url is None:
            raise ValueError("landing_page is missing")
        return url

    @field_validator("api_url", mode="before")
    @classmethod
    def _api(cls, value: Any) -> str | None:
        return _check_url(value, "api_url")

    @field_validator("raw", mode="before")
    @classmethod
    def _raw(cls, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError(f"raw must be an object, got {type(value).__name__}")
        try:
            size = len(json.dumps(value, default=str))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"raw record is not JSON-serialisable: {exc}") from None
        if size > MAX_RAW_BYTES:
            raise ValueError(f"raw source record is {size:,} characters of JSON; the limit is {MAX_RAW_BYTES:,}")
        return value

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> CatalogRecord:
        source = _sources(info)[self.source]
        if not source.url_ok(self.landing_page):
            raise ValueError(
                f"landing_page {self.landing_page[:120]!r} does not follow {self.source}'s URL scheme "
                f"({source.url_pattern})"
            )
        if len(self.id) > 300:
            raise ValueError("source + source_id is longer than 300 characters")
        if self.temporal_start and self.temporal_end and self.temporal_start > self.temporal_end:
            raise ValueError(f"temporal_start {self.temporal_start} is after temporal_end {self.temporal_end}")
        return self

    def fields(self) -> dict[str, Any]:
        """The catalog fields (no raw), JSON-ready."""
        out = self.model_dump(exclude={"raw"})
        if self.source_modified is not None:
            out["source_modified"] = self.source_modified.astimezone(UTC).isoformat()
        return out


def _sources(info: ValidationInfo) -> Mapping[str, SourceInfo]:
    context = info.context or {}
    return context.get("sources") or SOURCE_BY_NAME


def format_validation_error(error: ValidationError) -> str:
    """One readable line from a pydantic error: 'title is missing; landing_page ... is not ...'."""
    parts: list[str] = []
    for err in error.errors(include_url=False):
        loc = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "invalid"))
        msg = msg.removeprefix("Value error, ")
        if err.get("type") == "missing":
            msg = f"{loc} is missing"
        elif loc and not msg.startswith(loc.split(".")[0]) and loc.split(".")[0] not in msg:
            msg = f"{loc}: {msg}"
        parts.append(msg)
    return "; ".join(dict.fromkeys(parts))


# How registered sources spell their own id inside a landing page; used when an input gives only a URL or DOI
# as identifier, so the same dataset gets the same catalog id whichever way it is ingested.
_ID_IN_LANDING_PAGE: dict[str, re.Pattern[str]] = {
    "data_gov_sg": re.compile(r"/datasets/(d_[0-9a-f]{32})/view$"),
    "world_bank": re.compile(r"/indicator/([A-Za-z0-9_.]+)$"),
    "kaggle": re.compile(r"kaggle\.com/datasets/([^/\s]+/[^/\s]+?)/?$"),
    "zenodo": re.compile(r"zenodo\.org/records?/(\d+)$"),
    "openneuro": re.compile(r"openneuro\.org/datasets/(ds\d{6})/?$"),
    "uci_ml": re.compile(r"/dataset/(\d+)(/[^/\s]*)?$"),
    "huggingface": re.compile(r"huggingface\.co/datasets/([^\s?#]+?)/?$"),
    "aws_opendata": re.compile(r"registry\.opendata\.aws/([a-z0-9-]+)/?$"),
}
_URL_OR_DOI = re.compile(r"^(https?://|doi:|10\.\d{4,9}/)", re.I)


def source_id_from_landing_page(source: str, landing_page: str) -> str | None:
    """The source's own id read from a landing page URL (e.g. Zenodo's record number), when its scheme has one."""
    pattern = _ID_IN_LANDING_PAGE.get(source)
    match = pattern.search(landing_page) if pattern else None
    return match.group(1) if match else None


def validate_candidate(
    candidate: Candidate, sources: Mapping[str, SourceInfo] | None = None, default_source: str | None = None
) -> CatalogRecord | Rejection:
    """Validate one candidate, filling the default source and the source's country as geography when absent."""
    data = dict(candidate.data)
    if default_source and not data.get("source"):
        data["source"] = default_source
    registry = sources or SOURCE_BY_NAME
    info = registry.get(str(data.get("source") or ""))
    if info is not None and not data.get("geography") and is_alpha2(info.country):
        data["geography"] = [info.country]
    given_id = data.get("source_id")
    if info is not None and isinstance(data.get("landing_page"), str) and (
        not given_id or (isinstance(given_id, str) and _URL_OR_DOI.match(given_id.strip()))
    ):
        data["source_id"] = source_id_from_landing_page(info.name, data["landing_page"].strip()) or given_id
    try:
        return CatalogRecord.model_validate(data, context={"sources": registry})
    except ValidationError as exc:
        source_id = data.get("source_id")
        return Rejection(
            candidate.location,
            format_validation_error(exc),
            source=str(data.get("source") or "") or None,
            source_id=str(source_id).strip() if isinstance(source_id, str | int) and str(source_id).strip() else None,
        )


def content_hash(record: CatalogRecord) -> str:
    """SHA-256 of the catalog fields (not the raw record), so re-ingesting identical content is a no-op.

    The raw record is left out on purpose: portals change bookkeeping fields (view counts, harvest times)
    that say nothing about the dataset.
    """
    payload = json.dumps(record.fields(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# Weights of the completeness part of `metadata_quality` (title is required, so it is always present).
COMPLETENESS_WEIGHTS: dict[str, float] = {
    "title": 1.0,
    "description": 2.0,
    "publisher": 1.0,
    "keywords": 1.0,
    "themes": 0.5,
    "geography": 0.5,
    "temporal": 0.5,
    "update_frequency": 0.5,
    "formats": 1.0,
    "license": 1.0,
    "api_url": 0.5,
    "source_modified": 0.5,
}
COMPLETENESS_SHARE = 0.7
FRESHNESS_SHARE = 0.3


def completeness(record: Any) -> float:
    """Weighted share of filled fields in [0, 1]; descriptions count fully from 200 characters, keywords from 3."""
    desc = getattr(record, "description", "") or ""
    filled = {
        "title": 1.0 if getattr(record, "title", "") else 0.0,
        "description": min(1.0, len(desc) / 200.0),
        "publisher": 1.0 if getattr(record, "publisher", "") else 0.0,
        "keywords": min(1.0, len(getattr(record, "keywords", None) or []) / 3.0),
        "themes": 1.0 if getattr(record, "themes", None) else 0.0,
        "geography": 1.0 if getattr(record, "geography", None) else 0.0,
        "temporal": 1.0 if (getattr(record, "temporal_start", None) or getattr(record, "temporal_end", None)) else 0.0,
        "update_frequency": 1.0 if getattr(record, "update_frequency", None) else 0.0,
        "formats": 1.0 if getattr(record, "formats", None) else 0.0,
        "license": 1.0 if getattr(record, "license", None) else 0.0,
        "api_url": 1.0 if getattr(record, "api_url", None) else 0.0,
        "source_modified": 1.0 if getattr(record, "source_modified", None) else 0.0,
    }
    total = sum(COMPLETENESS_WEIGHTS.values())
    return sum(COMPLETENESS_WEIGHTS[k] * v for k, v in filled.items()) / total


def freshness(record: Any, now: datetime) -> float:
    """How current the record is for its update frequency, in [0, 1].

    Unknown modification date: 0. `static` datasets: 1. Otherwise the expected period P comes from
    `update_frequency` (`irregular`/unknown: 366 days); up to 2P old scores 1, then the score halves
    for every further year overdue: 0.5 ** ((age_days - 2P) / 365).
    """
    modified: datetime | None = getattr(record, "source_modified", None)
    if modified is None:
        return 0.0
    if getattr(record, "update_frequency", None) == "static":
        return 1.0
    period = FREQUENCY_DAYS.get(getattr(record, "update_frequency", None) or "", DEFAULT_PERIOD_DAYS)
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=UTC)
    age_days = max(0.0, (now - modified).total_seconds() / 86400.0)
    overdue = age_days - 2 * period
    return 1.0 if overdue <= 0 else math.pow(0.5, overdue / 365.0)


def metadata_quality(record: Any, now: datetime | None = None) -> float:
    """Metadata quality in [0, 1] = 0.7 * completeness + 0.3 * freshness (see `completeness`, `freshness`).

    Computed at ingest time and stored with the record.
    """
    now = now or datetime.now(UTC)
    score = COMPLETENESS_SHARE * completeness(record) + FRESHNESS_SHARE * freshness(record, now)
    return round(min(1.0, max(0.0, score)), 4)


def _get(record: Any, name: str) -> Any:
    if isinstance(record, Mapping):
        return record.get(name)
    return getattr(record, name, None)


def embedding_text(record: Any) -> str:
    """The text dense retrieval embeds for a record: title, keywords, publisher, then description, and the
    names of the countries it covers that the text does not name.

    Accepts a `CatalogRecord`, a `models.Dataset` row or a mapping. Cut to EMBEDDING_TEXT_MAX_CHARS at a
    word boundary because the encoder was trained on 128-token inputs; the most telling parts come first.
    The country names come after the cut: users name places ("singapore housing prices") that a dataset's
    text often leaves to its geography field (an HDB resale index never says "Singapore"), and without
    them the place word pulls every dataset that names it above the ones that cover it.
    """
    title = (_get(record, "title") or "").strip()
    keywords = ", ".join(k for k in (_get(record, "keywords") or []) if k)
    publisher = (_get(record, "publisher") or "").strip()
    description = _SPACES.sub(" ", _get(record, "description") or "").strip()
    parts = [p for p in (title, keywords, publisher, description) if p]
    text = ". ".join(parts)
    if len(text) > EMBEDDING_TEXT_MAX_CHARS:
        cut = text[:EMBEDDING_TEXT_MAX_CHARS]
        space = cut.rfind(" ")
        text = cut[:space] if space > EMBEDDING_TEXT_MAX_CHARS // 2 else cut
    places = _unnamed_places(record, text)
    if not places:
        return text
    return ". ".join([p for p in (text.rstrip("."), *places) if p])


def _unnamed_places(record: Any, text: str) -> list[str]:
    """Names of the record's countries missing from `text`, for records covering 1 to EMBEDDED_PLACES_MAX
    countries (a long list would drown the rest of the text; "global" is no place)."""
    codes = [c for c in (_get(record, "geography") or []) if c != GLOBAL]
    if not codes or len(codes) > EMBEDDED_PLACES_MAX:
        return []
    folded = text.casefold()
    names = [country_name(c) for c in codes]
    return [n for n in names if n and not re.search(rf"\b{re.escape(n.casefold())}\b", folded)]


@dataclass
class FieldMapping:
    """Catalog field <- input field (dotted paths reach into nested JSON), from `--map title=name` options."""

    pairs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, options: list[str] | None) -> FieldMapping:
        """Parse `field=column` options, refusing unknown catalog fields with the list of valid ones."""
        pairs: dict[str, str] = {}
        for option in options or []:
            if "=" not in option:
                raise ValueError(f"--map {option!r}: expected FIELD=COLUMN, e.g. --map title=name")
            target, column = (part.strip() for part in option.split("=", 1))
            if target not in FIELDS:
                raise ValueError(f"--map {option!r}: unknown catalog field {target!r} (fields: {', '.join(FIELDS)})")
            if not column:
                raise ValueError(f"--map {option!r}: the input column is empty")
            pairs[target] = column
        return cls(pairs)
