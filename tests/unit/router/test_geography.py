"""Geography rules: Singapore intent from places, agencies and programmes; look-alikes; other countries."""

from __future__ import annotations

import pytest

from dra_common.evalsets import load_labelled
from dra_router.geography import detect


@pytest.mark.parametrize(
    "query",
    [
        "singapore housing prices",
        "Singaporean household income",
        "S'pore weather forecast",
        "S’pore open data",
        "SG public transport ridership",
        "smoking rates sg",
        "新加坡 房价",
        "Bevölkerung in Singapur",
        "HDB resale flat prices",
        "LTA bus arrival data",
        "URA master plan zoning",
        "CPF contribution rates",
        "MOH hospital admissions",
        "MOE school directory",
        "NEA dengue clusters",
        "PUB reservoir water levels",
        "MRT ridership",
        "COE premium for category A",
        "ERP gantry charges",
        "BTO flat launches",
        "PSLE results statistics",
        "bus stops in Tampines",
        "population of Jurong West",
        "cycling paths in Punggol",
        "elderly residents in Toa Payoh",
        "primary schools near Bishan",
        "population living in Woodlands",
        "Orchard Road pedestrian counts",
        "data.gov.sg datasets",
        "SGD to USD exchange rate",
    ],
)
def test_singapore_intent(query: str) -> None:
    geo = detect(query)
    assert geo.singapore_intent, geo
    assert geo.countries[0] == "SG"
    assert geo.evidence


@pytest.mark.parametrize(
    "query",
    [
        "singer song lyrics dataset",
        "single-cell sequencing of tumour samples",
        "Sing-along karaoke audio recordings",
        "singular value decomposition benchmark matrices",
        "singleton pattern code examples",
        "Singh surname frequency dataset",
        "SGD optimizer convergence benchmarks",
        "Savitzky-Golay SG filter benchmark signals",
        "fungal spore images",
        "apple orchard yields",
        "Newton's method convergence data",
        "pub locations in London",
        "ERP software adoption in manufacturing firms",
        "BTO breeding bird survey",
        "moe anime character dataset",
        "ancient woodlands of England",
        "datos mas recientes de salud",
        "machine learning datasets",
    ],
)
def test_look_alikes_have_no_singapore_intent(query: str) -> None:
    assert not detect(query).singapore_intent, detect(query)


@pytest.mark.parametrize(
    ("query", "countries"),
    [
        ("Taipei MRT ridership", ("TW",)),
        ("Bangkok MRT station passenger volumes", ("TH",)),
        ("Malaysia MOH dengue statistics", ("MY",)),
        ("Queenstown New Zealand tourism statistics", ("NZ",)),
        ("Uganda URA tax revenue", ("UG",)),
    ],
)
def test_shared_acronyms_and_names_yield_to_the_named_country(query: str, countries: tuple[str, ...]) -> None:
    geo = detect(query)
    assert not geo.singapore_intent
    assert geo.countries == countries
    assert "outside Singapore" in geo.explanation


def test_mixed_query_keeps_singapore_intent_and_lists_both_countries() -> None:
    geo = detect("compare Singapore and Malaysia GDP")
    assert geo.singapore_intent
    assert geo.countries == ("SG", "MY")


@pytest.mark.parametrize(
    ("query", "countries"),
    [
        ("Indonesia inflation rate", ("ID",)),
        ("Papua New Guinea coffee exports", ("PG",)),
        ("guinea pig behaviour study", ()),
        ("Indiana school data", ()),
        ("Klimadaten Temperatur Deutschland", ("DE",)),
        ("South Korea and North Korea trade", ("KR", "KP")),
        ("U.S. unemployment", ("US",)),
        ("us unemployment for people like us", ()),
        ("中国 经济 数据", ("CN",)),
        ("New Jersey traffic", ()),
    ],
)
def test_other_countries(query: str, countries: tuple[str, ...]) -> None:
    assert detect(query).countries == countries


def test_labelled_queries_singapore_flags_agree_with_the_rules() -> None:
    """Precision and recall of the rules on every labelled query (train and held-out alike: rules are not trained)."""
    labelled = load_labelled()
    tp = sum(detect(q.query).singapore_intent and q.singapore for q in labelled)
    fp = sum(detect(q.query).singapore_intent and not q.singapore for q in labelled)
    fn = sum(not detect(q.query).singapore_intent and q.singapore for q in labelled)
    assert tp / (tp + fp) >= 0.95
    assert tp / (tp + fn) >= 0.95


def test_any_unicode_is_handled() -> None:
    for query in ["📊📈", "🇸🇬 data", "x" * 5000, "\u200b", "ÄÖÜ ß", "مرحبا بيانات"]:
        detect(query)
