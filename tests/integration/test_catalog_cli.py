"""`dra catalog ...` as an operator runs it: a real process against the real Postgres."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from dra_common.settings import Settings
from tests.conftest import settings_env
from tests.fixtures.catalog.support import FIXTURES, ReplayServer, api_routes, isolated_catalog_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cat_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with isolated_catalog_settings(settings, tmp_path_factory.mktemp("catalog-cli")) as s:
        yield s


def dra(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = settings_env(settings, COLUMNS="250")
    return subprocess.run([sys.executable, "-m", "dra_cli.main", "catalog", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def written(stdout: str) -> int:
    """Added + updated, from the summary line (earlier tests of this module may have stored some records)."""
    match = re.search(r"added (\d+), updated (\d+), unchanged \d+, rejected 0", stdout)
    assert match, stdout
    return int(match.group(1)) + int(match.group(2))


def test_ingest_reports_every_rejection_and_reingest_is_a_noop(cat_settings: Settings) -> None:
    path = FIXTURES / "bad_records.jsonl"
    first = dra(cat_settings, "ingest", str(path), "--no-embed")
    assert first.returncode == 0, first.stderr
    assert f"rejected {path}:3: title is missing" in first.stdout
    assert f"rejected {path}:11: not valid utf-8: byte 0xe9 at column 54" in first.stdout
    assert "added 2, updated 0, unchanged 0, rejected 8, withdrawn 0" in first.stdout
    second = dra(cat_settings, "ingest", str(path), "--no-embed", "--json")
    report = json.loads(second.stdout)
    assert (report["added"], report["updated"], report["unchanged"], report["rejected"]) == (0, 0, 2, 8)


def test_broken_file_exits_nonzero_with_position(cat_settings: Settings) -> None:
    result = dra(cat_settings, "ingest", str(FIXTURES / "broken.json"), "--no-embed")
    assert result.returncode == 1
    assert "broken.json:5: invalid JSON at line 5, column 19: Expecting ',' delimiter" in result.stdout


def test_csv_with_mapping_and_custom_ckan_source(cat_settings: Settings) -> None:
    maps = ["title=name", "description=notes", "publisher=organization", "keywords=tags", "landing_page=url",
            "source_id=dataset_id", "formats=format", "source_modified=modified", "geography=country"]
    args = [a for m in maps for a in ("--map", m)]
    csv = dra(cat_settings, "ingest", str(FIXTURES / "kaggle_export.csv"), "--source", "kaggle", "--no-embed", *args)
    assert csv.returncode == 0, csv.stderr
    assert "added 3, updated 0, unchanged 0, rejected 0" in csv.stdout
    unknown = dra(cat_settings, "ingest", str(FIXTURES / "ckan_package_search.json"), "--source", "hdx_test")
    assert unknown.returncode == 2 and "unknown source 'hdx_test'" in unknown.stderr
    ckan = dra(cat_settings, "ingest", str(FIXTURES / "ckan_package_search.json"), "--source", "hdx_test",
               "--source-home", "https://data.humdata.org", "--source-kind", "international organisation",
               "--no-embed")
    assert ckan.returncode == 0, ckan.stderr
    assert "registered custom source 'hdx_test'" in ckan.stderr and "added 3" in ckan.stdout
    stats = json.loads(dra(cat_settings, "stats", "--json").stdout)
    assert stats["by_source"]["kaggle"] == 3 and stats["by_source"]["hdx_test"] == 3
    skipped = dra(cat_settings, "load-default", "--if-empty", "--no-embed")
    assert skipped.returncode == 0 and "default catalog not loaded" in skipped.stdout


def test_sync_command_against_fixture_server(cat_settings: Settings) -> None:
    server = ReplayServer(api_routes).start()
    try:
        result = dra(cat_settings, "sync", "world_bank", "--base-url", server.base_url, "--page-size", "3",
                     "--min-interval", "0", "--max-pages", "1", "--no-embed")
        assert result.returncode == 0, result.stderr
        assert written(result.stdout) == 3 and "next run resumes at 2" in result.stdout
        rest = dra(cat_settings, "sync", "world_bank", "--base-url", server.base_url, "--page-size", "3",
                   "--min-interval", "0", "--no-embed")
        assert rest.returncode == 0 and written(rest.stdout) == 2 and "listing complete" in rest.stdout
    finally:
        server.stop()
