"""Checkpoints on disk: atomic save, sha256, corrupt or incompatible files rejected with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dra_ranking.model import QualityAwareRankingModel
from dra_ranking.registry import CheckpointError, load_checkpoint, save_checkpoint, sha256_file


def test_save_and_load_round_trip(tmp_path: Path):
    model = QualityAwareRankingModel({"source_blend": 0.7})
    path = tmp_path / "v1" / "model.pt"
    sha = save_checkpoint(model, path, {"version": "v1"})
    assert sha == sha256_file(path)
    assert not list(path.parent.glob("*.tmp"))
    loaded, meta = load_checkpoint(path, expected_sha256=sha)
    assert meta["version"] == "v1" and loaded.config["source_blend"] == 0.7
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-2), name
    assert path.stat().st_size < 8 * 1024 * 1024  # float16 weights keep the shipped file small


def test_missing_checkpoint(tmp_path: Path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_corrupt_checkpoint(tmp_path: Path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(path)


def test_hash_mismatch(tmp_path: Path):
    path = tmp_path / "model.pt"
    save_checkpoint(QualityAwareRankingModel({}), path, {})
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(path, expected_sha256="0" * 64)


def test_incompatible_state(tmp_path: Path):
    path = tmp_path / "model.pt"
    torch.save({"model_state_dict": {"nope": torch.zeros(1)}, "config": {}}, path)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(path)


def test_non_finite_weights(tmp_path: Path):
    model = QualityAwareRankingModel({})
    with torch.no_grad():
        model.base.bias.fill_(float("nan"))
    path = tmp_path / "model.pt"
    save_checkpoint(model, path, {})
    with pytest.raises(CheckpointError, match="non-finite"):
        load_checkpoint(path)
