"""Request and response bodies of the public `/api/v2` contract (the runbook's JSON fields)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from dra_common.domain import SOURCE_NAMES


class SearchFiltersIn(BaseModel):
    """Optional restrictions on a search."""

    sources: list[str] = Field(default_factory=list, description="Only these sources")
    geography: list[str] = Field(default_factory=list, description="ISO 3166-1 alpha-2 codes or 'global'")

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(SOURCE_NAMES))
        if unknown:
            raise ValueError(f"unknown source(s) {unknown}; known: {list(SOURCE_NAMES)}")
        return value

    @field_validator("geography")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        out = []
        for code in value:
            code = code.strip()
            if code.lower() == "global":
                out.append("global")
            elif len(code) == 2 and code.isalpha():
                out.append(code.upper())
            else:
                raise ValueError(f"geography {code!r} is not an ISO 3166-1 alpha-2 code or 'global'")
        return out


class SearchRequest(BaseModel):
    """POST /api/v2/search."""

    query: str = Field(..., description="The research request in plain language (1–1000 characters are used)")
    max_results: int = Field(10, ge=1, le=100)
    filters: SearchFiltersIn = Field(default_factory=SearchFiltersIn)
    sources: list[str] | None = Field(None, description="Shorthand for filters.sources")
    geography: list[str] | None = Field(None, description="Shorthand for filters.geography")
    quality_threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="Drop recommendations whose relevance_score is below this"
    )
    use_cache: bool = True
    session_id: str | None = Field(None, max_length=128, description="Keeps a user in one A/B arm")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value or not value.strip():
            raise ValueError("query must contain at least one non-space character")
        return value

    def effective_filters(self) -> SearchFiltersIn:
        """Top-level shorthands merged into `filters`."""
        shorthand = SearchFiltersIn(geography=self.geography or [])
        return SearchFiltersIn(
            sources=sorted(set(self.filters.sources) | set(self.sources or [])),
            geography=sorted(set(self.filters.geography) | set(shorthand.geography)),
        )


class InvalidateIn(BaseModel):
    """POST /api/v2/cache/invalidate."""

    quality_threshold: float = Field(0.0, ge=0.0, le=1.0)
    source: str = ""
    model_version: str = ""
    query_pattern: str = ""
    force_refresh: bool = False
    all: bool = False


class WarmIn(BaseModel):
    """POST /api/v2/cache/warm."""

    queries: list[str] = Field(default_factory=list, max_length=1000)
    recent_days: int = Field(0, ge=0, le=90, description="Also warm the most frequent queries of the last N days")
    limit: int = Field(50, ge=0, le=1000)
    max_results: int = Field(10, ge=1, le=100)
    rate_per_second: float = Field(20.0, gt=0, le=1000)


class ReportIn(BaseModel):
    """POST /api/v2/quality/report."""

    time_range: str = Field("7d", pattern=r"^\d{1,4}[hd]$")
    include_details: bool = False
    format: Literal["json", "markdown"] = "json"


class FeedbackIn(BaseModel):
    """POST /api/v2/feedback: a user's rating of a recommendation."""

    query: str = Field(..., min_length=1, max_length=1000)
    recommended_source: str | None = None
    dataset_id: str | None = Field(None, max_length=300)
    user_rating: int | None = Field(None, ge=1, le=5)
    feedback_text: str | None = Field(None, max_length=5000)
    session_id: str | None = Field(None, max_length=128)

    @field_validator("recommended_source")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None and value not in SOURCE_NAMES:
            raise ValueError(f"unknown source {value!r}; known: {list(SOURCE_NAMES)}")
        return value


JSON = dict[str, Any]
