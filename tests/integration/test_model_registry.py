"""The model registry in Postgres: which version is active after a new model ships."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import delete

from dra_common.db import session_scope
from dra_common.models import ModelVersion
from dra_common.settings import Settings
from dra_ranking import registry
from dra_ranking.model import QualityAwareRankingModel

pytestmark = pytest.mark.integration


def _ship(models_dir: Path, version: str) -> Path:
    """Write a checkpoint under models_dir/ranking/<version>/ and name it in models_dir/manifest.json."""
    path = models_dir / "ranking" / version / registry.CHECKPOINT
    sha = registry.save_checkpoint(QualityAwareRankingModel(), path, {"version": version})
    entry = {"version": version, "path": f"ranking/{version}/{registry.CHECKPOINT}", "sha256": sha}
    (models_dir / "manifest.json").write_text(json.dumps({"ranking": entry}), encoding="utf-8")
    return path


@pytest.fixture
def local(settings: Settings, tmp_path: Path) -> Settings:
    with session_scope(settings) as s:
        s.execute(delete(ModelVersion))
    return settings.model_copy(update={"models_dir": tmp_path})


def _active(settings: Settings) -> str:
    row = registry.active_version(settings)
    assert row is not None
    return row["version"]


def test_an_upgrade_that_replaced_the_shipped_model_activates_the_new_one(local: Settings):
    old = _ship(local.models_dir, "shipped-old")
    registry.ensure_shipped_registered(local)
    assert _active(local) == "shipped-old"

    shutil.rmtree(old.parent)  # the upgrade removed the old folder and ships another model
    _ship(local.models_dir, "shipped-new")
    registry.ensure_shipped_registered(local)
    assert _active(local) == "shipped-new"
    assert registry.get_version(local, "shipped-old")["status"] == "registered"


def test_an_operators_model_stays_active_when_another_model_ships(local: Settings):
    _ship(local.models_dir, "shipped-old")
    trained = local.models_dir / "trained" / registry.CHECKPOINT
    registry.save_checkpoint(QualityAwareRankingModel(), trained, {"version": "trained-1"})
    registry.ensure_shipped_registered(local)
    registry.register(local, {"version": "trained-1"}, trained)
    registry.activate(local, "trained-1")

    _ship(local.models_dir, "shipped-new")
    registry.ensure_shipped_registered(local)
    assert _active(local) == "trained-1"


def test_a_vanished_checkpoint_without_a_new_model_stays_active_so_ranking_reports_it(local: Settings):
    path = _ship(local.models_dir, "shipped-old")
    registry.ensure_shipped_registered(local)
    path.unlink()
    registry.ensure_shipped_registered(local)
    assert _active(local) == "shipped-old"
    with pytest.raises(registry.CheckpointError, match="does not exist"):
        registry.load_version(local, registry.active_version(local))


def test_a_shipped_model_the_operator_rolled_back_from_is_not_reactivated(local: Settings):
    _ship(local.models_dir, "shipped-old")
    registry.ensure_shipped_registered(local)
    new = _ship(local.models_dir, "shipped-new")
    registry.ensure_shipped_registered(local)
    registry.activate(local, "shipped-new")
    registry.rollback(local)  # back to shipped-old, whose checkpoint then disappears
    shutil.rmtree(local.models_dir / "ranking" / "shipped-old")
    assert new.exists()
    registry.ensure_shipped_registered(local)
    assert _active(local) == "shipped-old"


def test_a_model_registered_before_the_upgrade_but_never_active_is_activated(local: Settings):
    old = _ship(local.models_dir, "shipped-old")
    registry.ensure_shipped_registered(local)
    _ship(local.models_dir, "shipped-new")
    registry.ensure_shipped_registered(local)  # the old checkpoint still exists: registered only
    assert _active(local) == "shipped-old"
    shutil.rmtree(old.parent)
    registry.ensure_shipped_registered(local)
    assert _active(local) == "shipped-new"
