"""Every ingestion format on fixture files: detection, field mapping, and precise errors on malformed input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dra_common.catalog.formats import InputError, ParseOptions, detect_format, read_items
from dra_common.catalog.records import CatalogRecord, FieldMapping, Rejection, validate_candidate
from dra_common.catalog.store import custom_source
from dra_common.domain import SOURCE_BY_NAME
from tests.fixtures.catalog.support import FIXTURES

SOURCES = {
    **SOURCE_BY_NAME,
    "example_agency": custom_source("example_agency", "https://data.example.org"),
    "eu_data": custom_source("eu_data", "https://data.europa.eu"),
    "hdx": custom_source("hdx", "https://data.humdata.org"),
}
KAGGLE_MAP = ["title=name", "description=notes", "publisher=organization", "keywords=tags", "landing_page=url",
              "source_id=dataset_id", "formats=format", "source_modified=modified", "geography=country"]


def parse(name: str, source: str | None = None, fmt: str | None = None, mapping: list[str] | None = None,
          portal: str | None = None, path: Path | None = None) -> tuple[str, list[CatalogRecord], list[Rejection]]:
    options = ParseOptions(mapping=FieldMapping.parse(mapping), portal_url=portal)
    detected, items = read_items(path or FIXTURES / name, fmt, options)
    records: list[CatalogRecord] = []
    rejections: list[Rejection] = []
    for item in items:
        result = item if isinstance(item, Rejection) else validate_candidate(item, SOURCES, source)
        (rejections if isinstance(result, Rejection) else records).append(result)
    return detected, records, rejections


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("dcat_us_data.json", "dcat-us"),
        ("dcat_ap.jsonld", "dcat-ap"),
        ("ckan_package_search.json", "ckan"),
        ("ckan_package_show.json", "ckan"),
        ("ckan_dump.jsonl", "ckan"),
        ("ckan_error.json", "ckan"),
        ("schema_org_dataset.jsonld", "schema-org"),
        ("schema_org_list.json", "schema-org"),
        ("schema_org_graph.jsonld", "schema-org"),
        ("schema_org_page.html", "schema-org"),
        ("kaggle_export.csv", "csv"),
        ("records.jsonl", "jsonl"),
    ],
)
def test_format_detection(name: str, expected: str) -> None:
    assert detect_format(FIXTURES / name) == expected


def test_undetectable_format_lists_choices(tmp_path: Path) -> None:
    odd = tmp_path / "odd.json"
    odd.write_text('{"hello": "world"}')
    with pytest.raises(InputError, match="pass --format, one of: dcat-us, dcat-ap, ckan"):
        read_items(odd)
    with pytest.raises(InputError, match="no such file"):
        read_items(tmp_path / "missing.json")
    with pytest.raises(InputError, match="unknown format 'xml'"):
        read_items(FIXTURES / "records.jsonl", "xml")


def test_dcat_us() -> None:
    fmt, records, rejections = parse("dcat_us_data.json", source="example_agency")
    assert fmt == "dcat-us"
    assert [r.source_id for r in records] == ["EEA-AQ-0001", "EDU-ENR-2023", "https://data.example.org/dataset/traffic-counts"]
    air = records[0]
    assert air.publisher == "Example Environmental Agency"
    assert air.geography == ["US"]
    assert (air.temporal_start, air.temporal_end) == ("2015-01-01", "2023-12-31")
    assert air.update_frequency == "hourly"
    assert air.formats == ["CSV", "API"]
    assert air.api_url == "https://api.example.org/aq/v1/readings"
    assert air.themes == ["climate_environment"]
    assert records[1].formats == ["XLSX"] and records[1].update_frequency == "annual"
    assert records[2].keywords == ["traffic", "highways", "transport"]
    assert records[2].landing_page == "https://data.example.org/dataset/traffic-counts"
    assert len(rejections) == 1
    assert rejections[0].location.endswith("dataset[3]") and "non-public" in rejections[0].reason


def test_dcat_ap_jsonld_graph_with_references() -> None:
    fmt, records, rejections = parse("dcat_ap.jsonld", source="eu_data")
    assert fmt == "dcat-ap"
    energy, beds = records
    assert energy.title == "Electricity prices for household consumers"  # English chosen among languages
    assert energy.publisher == "Eurostat"  # resolved from a blank-node reference
    assert energy.geography == ["DE", "FR"]  # EU country authority (alpha-3) mapped to alpha-2
    assert energy.themes == ["economics_finance"]
    assert energy.update_frequency == "semiannual"
    assert energy.formats == ["CSV"]  # from a distribution node referenced by @id
    assert (energy.temporal_start, energy.temporal_end) == ("2007-01-01", "2023-06-30")
    assert energy.api_url == "https://data.europa.eu/api/example/energy-prices.csv"
    assert beds.formats == ["JSON"] and beds.themes == ["health_medicine"]
    assert "europe" in beds.keywords
    assert len(rejections) == 1 and "title is missing" in rejections[0].reason
    assert "no-title-dataset" in rejections[0].location


def test_ckan_package_search_show_and_dump() -> None:
    _, search, rejections = parse("ckan_package_search.json", source="hdx", portal="https://data.humdata.org")
    assert not rejections
    assert [r.landing_page for r in search] == [
        "https://data.humdata.org/dataset/singapore-population-statistics",
        "https://data.humdata.org/dataset/global-flood-events",
        "https://data.humdata.org/dataset/health-facilities-kenya",
    ]
    sg, floods, kenya = search
    assert sg.geography == ["SG"] and sg.update_frequency == "annual" and sg.formats == ["CSV", "XLSX"]
    assert floods.geography == ["global"] and floods.temporal_start == "2000-01-01" and floods.update_frequency == "monthly"
    assert kenya.themes == ["health_medicine"] and kenya.update_frequency == "irregular"
    assert sg.source_id == "6f1b6a2e-0000-4000-8000-000000000001"
    _, show, _ = parse("ckan_package_show.json", source="hdx", portal="https://data.humdata.org")
    assert [r.title for r in show] == ["Asia - Education Indicators"]
    assert show[0].geography == ["ID", "TH"]
    fmt, dump, _ = parse("ckan_dump.jsonl", source="hdx", portal="https://data.humdata.org")
    assert fmt == "ckan" and [r.title for r in dump] == ["Asia - Education Indicators", "Lebanon - Roads"]


def test_ckan_without_portal_url_is_rejected_precisely() -> None:
    _, records, rejections = parse("ckan_package_search.json", source="hdx")
    assert not records
    assert all("landing_page is missing" in r.reason for r in rejections)
    assert rejections[0].location.endswith("result.results[0]")


def test_ckan_error_response() -> None:
    _, records, rejections = parse("ckan_error.json", source="hdx")
    assert not records and rejections[0].fatal and "CKAN reported an error: Not found" in rejections[0].reason


def test_schema_org_single_list_graph_and_html() -> None:
    _, single, _ = parse("schema_org_dataset.jsonld", source="zenodo")
    assert [r.id for r in single] == ["zenodo:3233060"]
    eeg = single[0]
    assert eeg.publisher == "Doe, Jane; Roe, Richard"
    assert (eeg.temporal_start, eeg.temporal_end) == ("2018-03-01", "2018-09-30")
    assert eeg.formats == ["EDF"] and eeg.license and "by/4.0" in eeg.license
    _, listed, _ = parse("schema_org_list.json", source="kaggle")
    assert [r.id for r in listed] == ["kaggle:uciml/iris", "kaggle:zynicide/wine-reviews"]  # WebSite skipped
    assert listed[0].keywords == ["botany", "classification", "iris"]
    assert listed[0].license == "https://creativecommons.org/publicdomain/zero/1.0/"
    assert listed[1].geography == ["global"]
    _, graph, _ = parse("schema_org_graph.jsonld", source="zenodo")
    assert [r.id for r in graph] == ["zenodo:1188976"]
    assert graph[0].publisher == "Zenodo" and graph[0].geography == ["CA"]
    assert graph[0].keywords == ["speech", "emotion recognition"]
    _, page, rejections = parse("schema_org_page.html", source="zenodo")
    assert [r.id for r in page] == ["zenodo:3233060"] and not rejections
    assert page[0].fields() == eeg.fields()  # the same Dataset, embedded in a page instead of a file


def test_schema_org_broken_script_is_reported_and_others_read() -> None:
    _, records, rejections = parse("schema_org_broken_script.html", source="zenodo")
    assert [r.id for r in records] == ["zenodo:7654321"]
    assert len(rejections) == 1
    assert rejections[0].location.endswith("schema_org_broken_script.html:3 (script 1)")
    assert "invalid JSON-LD in script 1" in rejections[0].reason


def test_csv_with_field_mapping() -> None:
    fmt, records, rejections = parse("kaggle_export.csv", source="kaggle", mapping=KAGGLE_MAP)
    assert fmt == "csv" and not rejections
    assert [r.id for r in records] == ["kaggle:uciml/iris", "kaggle:zynicide/wine-reviews",
                                       "kaggle:mlg-ulb/creditcardfraud"]
    wine = records[1]
    assert wine.description.startswith("About 130,000 wine reviews")  # quoted comma kept
    assert wine.keywords == ["wine", "nlp", "reviews"]
    assert wine.raw["organization"] == "zackthoutt"


def test_csv_mapping_to_missing_column_fails_before_reading() -> None:
    with pytest.raises(InputError, match="--map title=headline names columns not in the header"):
        parse("kaggle_export.csv", source="kaggle", mapping=["title=headline"])
    with pytest.raises(InputError, match="--map applies to csv and jsonl"):
        parse("dcat_us_data.json", mapping=["title=name"])


def test_jsonl_native_records() -> None:
    fmt, records, rejections = parse("records.jsonl")
    assert fmt == "jsonl" and not rejections
    assert {r.source for r in records} == {"world_bank", "data_gov_sg", "kaggle", "zenodo"}


def test_jsonl_nested_mapping(tmp_path: Path) -> None:
    export = tmp_path / "export.jsonl"
    rows = [{"name": "uciml/iris", "info": {"label": "Iris Species", "owner": {"title": "UCI"}},
             "link": "https://www.kaggle.com/datasets/uciml/iris"}]
    export.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    _, records, _ = parse("", source="kaggle", path=export,
                          mapping=["source_id=name", "title=info.label", "publisher=info.owner.title",
                                   "landing_page=link"])
    assert records[0].title == "Iris Species" and records[0].publisher == "UCI"


def test_bad_jsonl_lines_are_reported_with_line_numbers() -> None:
    _, records, rejections = parse("bad_records.jsonl")
    by_line = {int(r.location.rsplit(":", 1)[1]): r.reason for r in rejections}
    assert [r.source_id for r in records] == ["SP.POP.TOTL", "SP.POP.TOTL", "NY.GDP.MKTP.CD"]  # duplicate: store's job
    assert "invalid JSON at column" in by_line[2]
    assert by_line[3] == "title is missing"
    assert "description is 25,000 characters long" in by_line[4]
    assert "does not follow world_bank's URL scheme" in by_line[6]
    assert "unknown source 'not_a_source'" in by_line[7]
    assert 8 not in by_line  # blank line skipped
    assert "not an object" in by_line[10]
    assert "not valid utf-8: byte 0xe9" in by_line[11]


def test_broken_json_is_one_fatal_rejection_with_position() -> None:
    fmt, records, rejections = parse("broken.json")
    assert not records and len(rejections) == 1
    assert rejections[0].fatal
    assert rejections[0].location.endswith("broken.json:5")
    assert "invalid JSON at line 5, column 19" in rejections[0].reason


def test_wrong_encoding_is_reported_and_encoding_option_reads_it() -> None:
    _, records, rejections = parse("latin1.csv", source="zenodo")
    assert not records and rejections[0].fatal
    assert "byte 0xe9 at line 3, column 6" in rejections[0].reason and "--encoding" in rejections[0].reason
    detected, items = read_items(FIXTURES / "latin1.csv", None, ParseOptions(encoding="latin-1"))
    results = [validate_candidate(i, SOURCES, "zenodo") for i in items]
    assert [r.title for r in results if isinstance(r, CatalogRecord)] == ["Ok title", "Café records"]


def test_csv_row_with_extra_fields(tmp_path: Path) -> None:
    path = tmp_path / "extra.csv"
    path.write_text("source_id,title,landing_page\n1,A,https://zenodo.org/records/1\n2,B,https://zenodo.org/records/2,oops\n")
    _, records, rejections = parse("", source="zenodo", path=path)
    assert [r.source_id for r in records] == ["1"]
    assert rejections[0].location.endswith("extra.csv:3") and "more field(s) than the header" in rejections[0].reason


def test_dcat_us_current_schema_url_and_landing_page_from_access_url(tmp_path: Path) -> None:
    """Agencies now publish `resources.data.gov/schemas/dcat-us` and often omit landingPage."""
    catalog = {
        "conformsTo": "https://resources.data.gov/schemas/dcat-us/v1.1/schema",
        "@type": "dcat:Catalog",
        "dataset": [{"@type": "dcat:Dataset", "title": "Laser Disdrometer", "identifier": " 10.5439/1150252",
                     "accessLevel": "public", "modified": "2019-06-27 12:41:27", "keyword": ["ARM"],
                     "publisher": {"name": "Example Data Center"}, "description": "Drop size distributions.",
                     "distribution": [{"accessURL": "https://data.example.org/discovery/pars2", "format": "cdf"}]}],
    }
    path = tmp_path / "data.json"
    path.write_text(json.dumps(catalog))
    fmt, records, rejections = parse("", source="example_agency", path=path)
    assert fmt == "dcat-us" and not rejections
    assert records[0].source_id == "10.5439/1150252"
    assert records[0].landing_page == "https://data.example.org/discovery/pars2"
    assert records[0].formats == ["CDF"] and records[0].source_modified is not None
