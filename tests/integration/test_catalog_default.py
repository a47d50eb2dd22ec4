"""Loading the curated default catalog into an empty database, and `--if-empty` / re-load behaviour."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from dra_common.catalog.default import default_catalog_items, load_default_catalog
from dra_common.catalog.records import CatalogRecord, Rejection, validate_candidate
from dra_common.db import session_scope
from dra_common.models import Dataset
from dra_common.settings import Settings
from tests.fixtures.catalog.support import isolated_catalog_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cat_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with isolated_catalog_settings(settings, tmp_path_factory.mktemp("catalog-default")) as s:
        yield s


def test_default_catalog_loads_once_and_reload_is_a_noop(cat_settings: Settings) -> None:
    results = [i if isinstance(i, Rejection) else validate_candidate(i) for i in default_catalog_items()]
    valid = {r.id for r in results if isinstance(r, CatalogRecord)}
    assert len(valid) == len(results), "the curated files hold invalid records (see test_default_catalog.py)"
    report = load_default_catalog(cat_settings, embed=False)
    assert report is not None
    assert report.added == len(valid) and report.rejected == 0, [r.as_dict() for r in report.rejections[:5]]
    with session_scope(cat_settings) as session:
        assert session.scalar(select(func.count()).select_from(Dataset)) == len(valid)
    assert load_default_catalog(cat_settings, embed=False, if_empty=True) is None
    again = load_default_catalog(cat_settings, embed=False)
    assert again is not None and (again.added, again.updated, again.unchanged) == (0, 0, len(valid))
