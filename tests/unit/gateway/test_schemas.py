"""Request validation of the public API: clear messages for bad input."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dra_gateway.schemas import FeedbackIn, ReportIn, SearchRequest


def test_blank_query_is_rejected_with_a_message() -> None:
    with pytest.raises(ValidationError, match="non-space"):
        SearchRequest(query=" \t ")


def test_unknown_source_is_named() -> None:
    with pytest.raises(ValidationError, match="nowhere"):
        SearchRequest(query="x", filters={"sources": ["nowhere"]})


def test_geography_codes_are_normalised() -> None:
    request = SearchRequest(query="x", filters={"geography": ["sg", "Global"]}, geography=["us"])
    assert request.effective_filters().geography == ["SG", "US", "global"]


def test_bad_geography_is_rejected() -> None:
    with pytest.raises(ValidationError, match="ISO 3166"):
        SearchRequest(query="x", filters={"geography": ["Singapore"]})


def test_shorthand_sources_merge_into_filters() -> None:
    request = SearchRequest(query="x", sources=["kaggle"], filters={"sources": ["zenodo"]})
    assert request.effective_filters().sources == ["kaggle", "zenodo"]


@pytest.mark.parametrize("value", [0, 101])
def test_max_results_bounds(value: int) -> None:
    with pytest.raises(ValidationError, match="max_results"):
        SearchRequest(query="x", max_results=value)


def test_report_time_range_pattern() -> None:
    assert ReportIn(time_range="90d").time_range == "90d"
    with pytest.raises(ValidationError):
        ReportIn(time_range="a week")


def test_feedback_rating_range_and_source() -> None:
    with pytest.raises(ValidationError):
        FeedbackIn(query="q", user_rating=6)
    with pytest.raises(ValidationError, match="unknown source"):
        FeedbackIn(query="q", recommended_source="elsewhere", user_rating=3)
