"""Pure cache policy: what makes two searches the same key, how long an answer is kept, quality bands.

No Redis here, so the rules can be unit-tested and read in one place.

Time to live by quality (default `CACHE_TTL_TIERS="0.9:86400,0.7:21600,0.5:3600,0:900"`):

    quality >= 0.9  -> 24 h   (excellent: stable, worth serving all day)
    quality >= 0.7  ->  6 h   (good)
    quality >= 0.5  ->  1 h   (fair: recomputed soon, in case a better model answers better)
    below           -> 15 min (only reachable when CACHE_MIN_QUALITY is lowered below 0.5)
    quality <  CACHE_MIN_QUALITY (default 0.5) -> not stored at all

Quality bands of the statistics follow the runbook: excellent >= 0.9, good 0.7-0.9, fair 0.5-0.7, poor < 0.5.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

from dra_common.text import MAX_QUERY_CHARS, normalize_query

DEFAULT_TTL_TIERS = "0.9:86400,0.7:21600,0.5:3600,0:900"
QUALITY_DECIMALS = 6
"""Quality scores arrive as float32 (0.9 -> 0.8999999762); rounding keeps band edges where people expect them."""

BANDS: tuple[tuple[str, float], ...] = (("excellent", 0.9), ("good", 0.7), ("fair", 0.5), ("poor", 0.0))


@dataclass(frozen=True)
class TtlTier:
    """Answers with quality >= `min_quality` are kept `ttl_seconds`."""

    min_quality: float
    ttl_seconds: int


@dataclass(frozen=True)
class NormalisedKey:
    """Everything that changes a search answer, in canonical form."""

    query: str
    max_results: int
    sources: tuple[str, ...]
    geography: tuple[str, ...]
    model_version: str
    ab_arm: str

    def digest(self) -> str:
        """Stable hash naming the entry in Redis (128 bits: collisions are not a practical concern)."""
        canonical = json.dumps(
            [self.query, self.max_results, self.sources, self.geography, self.model_version, self.ab_arm],
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]

    def to_json(self) -> dict[str, object]:
        """Compact form stored in the entry's metadata (to rebuild a CacheKey for force_refresh)."""
        return {
            "q": self.query,
            "n": self.max_results,
            "fs": list(self.sources),
            "fg": list(self.geography),
            "m": self.model_version,
            "a": self.ab_arm,
        }


class InvalidInputError(ValueError):
    """A request field is wrong; the message says which and why (sent back as INVALID_ARGUMENT)."""


def parse_tiers(spec: str) -> tuple[TtlTier, ...]:
    """Parse `"0.9:86400,0.7:21600"` into tiers sorted by descending quality.

    Raises:
        InvalidInputError: a tier is malformed, out of [0, 1] or has a non-positive TTL.
    """
    tiers: list[TtlTier] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        try:
            quality_text, ttl_text = part.split(":")
            quality, ttl = float(quality_text), int(ttl_text)
        except ValueError as exc:
            raise InvalidInputError(f"TTL tier {part!r} is not QUALITY:SECONDS") from exc
        if not 0.0 <= quality <= 1.0 or ttl <= 0:
            raise InvalidInputError(f"TTL tier {part!r}: quality must be in [0, 1] and seconds > 0")
        tiers.append(TtlTier(quality, ttl))
    if not tiers:
        raise InvalidInputError("no TTL tiers given")
    return tuple(sorted(tiers, key=lambda t: t.min_quality, reverse=True))


def round_quality(value: float) -> float:
    """Round a float32 score to the precision the cache compares at."""
    return round(float(value), QUALITY_DECIMALS)


def check_unit_interval(name: str, value: float) -> float:
    """The value rounded, or InvalidInputError when it is NaN or outside [0, 1]."""
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"{name} must be in [0, 1], got {value}")
    return round_quality(value)


def ttl_for(quality: float, tiers: tuple[TtlTier, ...], min_quality: float) -> int | None:
    """Seconds to keep an answer of this quality, or None when it is below the minimum and not cached.

    Quality between the minimum and the lowest tier gets the lowest tier's TTL.
    """
    if quality < min_quality:
        return None
    for tier in tiers:
        if quality >= tier.min_quality:
            return tier.ttl_seconds
    return tiers[-1].ttl_seconds


def quality_band(quality: float) -> str:
    """The runbook's band name of a score."""
    for name, lower in BANDS:
        if quality >= lower:
            return name
    return "poor"


def _canonical_list(values: Iterable[str]) -> tuple[str, ...]:
    """Filters are sets: order and duplicates do not change the answer."""
    return tuple(sorted({v.strip() for v in values if v.strip()}))


def normalise_key(
    query: str,
    max_results: int,
    sources: Iterable[str] = (),
    geography: Iterable[str] = (),
    model_version: str = "",
    ab_arm: str = "",
) -> NormalisedKey:
    """Canonical key of a search: normalised query (NFKC, case, whitespace), sorted filters, model, arm.

    Raises:
        InvalidInputError: the query is empty after normalisation, too long, or max_results is negative.
    """
    normalised = normalize_query(query)
    if not normalised:
        raise InvalidInputError("key.query is empty (after normalising whitespace)")
    if len(normalised) > MAX_QUERY_CHARS:
        raise InvalidInputError(f"key.query has {len(normalised)} characters; at most {MAX_QUERY_CHARS} are allowed")
    if max_results < 0:
        raise InvalidInputError(f"key.max_results must be >= 0, got {max_results}")
    return NormalisedKey(
        query=normalised,
        max_results=int(max_results),
        sources=_canonical_list(sources),
        geography=_canonical_list(geography),
        model_version=model_version.strip(),
        ab_arm=ab_arm.strip(),
    )


def key_from_json(data: dict[str, object]) -> NormalisedKey:
    """Inverse of NormalisedKey.to_json (for keys read back from Redis)."""
    return NormalisedKey(
        query=str(data.get("q", "")),
        max_results=int(data.get("n", 0)),  # type: ignore[arg-type]
        sources=tuple(data.get("fs", ()) or ()),  # type: ignore[arg-type]
        geography=tuple(data.get("fg", ()) or ()),  # type: ignore[arg-type]
        model_version=str(data.get("m", "")),
        ab_arm=str(data.get("a", "")),
    )
