"""CatalogRecord validation, metadata quality, content hash and embedding text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dra_common.catalog.records import (
    COMPLETENESS_WEIGHTS,
    EMBEDDING_TEXT_MAX_CHARS,
    Candidate,
    CatalogRecord,
    FieldMapping,
    Rejection,
    completeness,
    content_hash,
    embedding_text,
    freshness,
    metadata_quality,
    source_id_from_landing_page,
    validate_candidate,
)
from dra_common.catalog.store import custom_source
from dra_common.domain import SOURCE_BY_NAME

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def record(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "source": "world_bank",
        "source_id": "SP.POP.TOTL",
        "title": "Population, total",
        "description": "Total population of each economy, counting all residents. " * 4,
        "publisher": "World Bank",
        "keywords": ["population", "demographics", "residents"],
        "themes": ["general"],
        "geography": ["global"],
        "temporal_start": "1960",
        "temporal_end": "2023",
        "update_frequency": "annual",
        "formats": ["API", "CSV"],
        "license": "CC BY 4.0",
        "landing_page": "https://data.worldbank.org/indicator/SP.POP.TOTL",
        "api_url": "https://api.worldbank.org/v2/country/all/indicator/SP.POP.TOTL?format=json",
        "source_modified": "2024-07-01T00:00:00Z",
    }
    base.update(overrides)
    return base


def check(data: dict[str, object]) -> CatalogRecord | Rejection:
    return validate_candidate(Candidate("test:1", data))


def reason(data: dict[str, object]) -> str:
    result = check(data)
    assert isinstance(result, Rejection), f"expected a rejection, got {result!r}"
    return result.reason


def test_valid_record_is_normalised() -> None:
    result = check(record(keywords=["GDP", " gdp ", "Growth"], formats=["csv", "text/csv", "application/json"],
                          geography=["sg", "SGP", "Singapore"], source_modified="2024-07-01T08:00:00+08:00"))
    assert isinstance(result, CatalogRecord)
    assert result.id == "world_bank:SP.POP.TOTL"
    assert result.keywords == ["gdp", "growth"]
    assert result.formats == ["CSV", "JSON"]
    assert result.geography == ["SG"]
    assert result.source_modified == datetime(2024, 7, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"title": ""}, "title is missing"),
        ({"title": None}, "title is missing"),
        ({"source": "nowhere"}, "unknown source 'nowhere'"),
        ({"source": None}, "source is missing"),
        ({"source_id": "  "}, "source_id is missing"),
        ({"landing_page": "https://example.com/x"}, "does not follow world_bank's URL scheme"),
        ({"landing_page": "not a url"}, "is not an absolute http(s) URL"),
        ({"landing_page": None}, "landing_page is missing"),
        ({"title": "t" * 501}, "title is 501 characters long; the limit is 500"),
        ({"description": "d" * 20_001}, "description is 20,001 characters long; the limit is 20,000"),
        ({"keywords": [f"k{i}" for i in range(101)]}, "keywords has 101 entries; the limit is 100"),
        ({"themes": ["cooking"]}, "unknown theme(s) 'cooking'"),
        ({"geography": ["Atlantis"]}, "geography 'Atlantis' is not an ISO 3166-1 alpha-2 code"),
        ({"temporal_start": "last year"}, "temporal_start 'last year' is not an ISO date"),
        ({"temporal_start": "2020", "temporal_end": "2010"}, "temporal_start 2020 is after temporal_end 2010"),
        ({"source_modified": "yesterday"}, "source_modified 'yesterday' is not an ISO date-time"),
        ({"api_url": "ftp://x"}, "api_url 'ftp://x' is not an absolute http(s) URL"),
        ({"raw": {"blob": "x" * 1_000_001}}, "raw source record is"),
    ],
)
def test_rejections_say_what_is_wrong(overrides: dict[str, object], expected: str) -> None:
    assert expected in reason(record(**overrides))


def test_rejection_keeps_location_and_id() -> None:
    result = validate_candidate(Candidate("file.jsonl:7", record(title="")))
    assert isinstance(result, Rejection)
    assert result.location == "file.jsonl:7"
    assert (result.source, result.source_id) == ("world_bank", "SP.POP.TOTL")


def test_url_scheme_of_each_registered_source_is_enforced() -> None:
    good = check(record(source="data_gov_sg", source_id="d_796d4eacf201e5c745ed873e13fdc79d",
                        landing_page="https://data.gov.sg/datasets/d_796d4eacf201e5c745ed873e13fdc79d/view"))
    assert isinstance(good, CatalogRecord)
    assert "does not follow data_gov_sg" in reason(record(source="data_gov_sg", source_id="d_1",
                                                          landing_page="https://data.gov.sg/datasets/d_1/view"))


def test_custom_source_validates_urls_against_its_host() -> None:
    hdx = custom_source("hdx", "https://data.humdata.org")
    sources = {**SOURCE_BY_NAME, "hdx": hdx}
    ok = validate_candidate(Candidate("x", record(source="hdx", source_id="a",
                                                  landing_page="https://data.humdata.org/dataset/a")), sources)
    assert isinstance(ok, CatalogRecord)
    bad = validate_candidate(Candidate("x", record(source="hdx", source_id="a",
                                                   landing_page="https://data.humdata.org.evil.com/dataset/a")), sources)
    assert isinstance(bad, Rejection) and "does not follow hdx" in bad.reason
    with pytest.raises(ValueError, match="registered source"):
        custom_source("zenodo", "https://zenodo.org")
    with pytest.raises(ValueError, match="not an absolute"):
        custom_source("mine", "zenodo.org")


def test_default_source_and_geography_from_source_country() -> None:
    data = record(source=None, source_id="d_796d4eacf201e5c745ed873e13fdc79d", geography=[],
                  landing_page="https://data.gov.sg/datasets/d_796d4eacf201e5c745ed873e13fdc79d/view")
    result = validate_candidate(Candidate("x", data), default_source="data_gov_sg")
    assert isinstance(result, CatalogRecord)
    assert result.source == "data_gov_sg" and result.geography == ["SG"]


def test_source_id_read_from_landing_page_when_input_gives_a_url() -> None:
    data = record(source="zenodo", source_id="https://doi.org/10.5281/zenodo.3233060",
                  landing_page="https://zenodo.org/records/3233060")
    result = check(data)
    assert isinstance(result, CatalogRecord) and result.source_id == "3233060"
    assert source_id_from_landing_page("kaggle", "https://www.kaggle.com/datasets/uciml/iris") == "uciml/iris"
    assert source_id_from_landing_page("imf", "https://data.imf.org/x") is None


def test_metadata_quality_formula() -> None:
    full = check(record())
    assert isinstance(full, CatalogRecord)
    assert completeness(full) == pytest.approx(1.0)
    assert freshness(full, NOW) == 1.0
    assert metadata_quality(full, NOW) == pytest.approx(1.0)

    bare = check({"source": "world_bank", "source_id": "X", "title": "X",
                  "landing_page": "https://data.worldbank.org/indicator/X", "geography": []})
    assert isinstance(bare, CatalogRecord)
    # Only the title (weight 1 of the 10 weight units) is filled, nothing about freshness is known.
    assert sum(COMPLETENESS_WEIGHTS.values()) == pytest.approx(10.0)
    assert completeness(bare) == pytest.approx(0.1)
    assert metadata_quality(bare, NOW) == pytest.approx(0.07)
    half = check(record(description="d" * 100, keywords=["a"], license=None))
    expected = (10.0 - 1.0 - 2 / 3 - 1.0) / 10.0
    assert completeness(half) == pytest.approx(expected)


def test_freshness_halves_per_year_overdue() -> None:
    period = 31  # monthly
    on_time = check(record(update_frequency="monthly", source_modified=(NOW - timedelta(days=2 * period)).isoformat()))
    late = check(record(update_frequency="monthly",
                        source_modified=(NOW - timedelta(days=2 * period + 365)).isoformat()))
    static = check(record(update_frequency="static", source_modified="1990-01-01"))
    unknown = check(record(source_modified=None))
    assert freshness(on_time, NOW) == 1.0
    assert freshness(late, NOW) == pytest.approx(0.5)
    assert freshness(static, NOW) == 1.0
    assert freshness(unknown, NOW) == 0.0


def test_content_hash_ignores_raw_and_sees_field_changes() -> None:
    a = check(record(raw={"views": 1}))
    b = check(record(raw={"views": 2}))
    c = check(record(title="Population, total (people)"))
    assert isinstance(a, CatalogRecord) and isinstance(b, CatalogRecord) and isinstance(c, CatalogRecord)
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash(c)
    assert len(content_hash(a)) == 64


def test_embedding_text_order_and_clip() -> None:
    result = check(record())
    text = embedding_text(result)
    assert text.startswith("Population, total. population, demographics, residents. World Bank. Total population")
    assert embedding_text(result) == embedding_text(result.model_dump())
    long = check(record(description="word " * 1000))
    clipped = embedding_text(long)
    assert len(clipped) <= EMBEDDING_TEXT_MAX_CHARS
    assert not clipped.endswith(" ")


def test_field_mapping_options() -> None:
    mapping = FieldMapping.parse(["title=name", "publisher=organization.title"])
    assert mapping.pairs == {"title": "name", "publisher": "organization.title"}
    with pytest.raises(ValueError, match="unknown catalog field 'headline'"):
        FieldMapping.parse(["headline=name"])
    with pytest.raises(ValueError, match="expected FIELD=COLUMN"):
        FieldMapping.parse(["title"])


def test_embedding_text_names_the_countries_the_text_leaves_out() -> None:
    hdb = {"title": "HDB Resale Price Index", "publisher": "Housing and Development Board",
           "description": "Quarterly index of resale flat prices.", "geography": ["SG"]}
    assert embedding_text(hdb).endswith("resale flat prices. Singapore")
    named = dict(hdb, description="Resale flat prices in Singapore, quarterly.")
    assert embedding_text(named).count("Singapore") == 1 and embedding_text(named).endswith("quarterly.")
    assert embedding_text(dict(hdb, geography=["global"])) == embedding_text(dict(hdb, geography=[]))
    assert embedding_text(dict(hdb, geography=["KR", "US"])).endswith(". South Korea. United States")
    assert "Singapore" not in embedding_text(dict(hdb, geography=["SG", "MY", "ID", "TH"]))  # too many to list
    assert "India" in embedding_text(dict(hdb, description="Crop yields in Indiana.", geography=["IN"]))
    long = dict(hdb, description="word " * 1000)
    assert embedding_text(long).endswith("word. Singapore")
