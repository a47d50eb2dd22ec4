"""Model checkpoints on disk and their registry in Postgres (`model_versions`).

A checkpoint is one torch file holding `model_state_dict` (float16, to keep the shipped file small),
`config` and `metadata`, with a `manifest.json` beside it (name, version, sha256, config, training-data
hash, metrics, created time). Files are written to a temporary name and renamed, so a crash never
leaves a half-written checkpoint under the real name.

Registry statuses: `active` (exactly one: what requests use by default), `candidate` (at most one: the
other arm of an A/B test), `registered` (known, idle), `rolled_back` (left by a rollback; skipped by the
next rollback so two rollbacks do not bounce between the same pair).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from sqlalchemy import select, update

from dra_common.settings import Settings
from dra_ranking.model import QualityAwareRankingModel

log = logging.getLogger(__name__)

MODEL_NAME = "QualityAwareRankingModel"
MANIFEST = "manifest.json"
CHECKPOINT = "model.pt"
SHIPPED_MANIFEST = "manifest.json"  # models/manifest.json: the model shipped with the repo


class CheckpointError(Exception):
    """A checkpoint that cannot be used (missing, corrupt, wrong hash, incompatible)."""


@dataclass
class LoadedModel:
    """A model ready to serve, with where it came from."""

    version: str
    model: QualityAwareRankingModel
    path: Path
    metadata: dict[str, Any]


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write JSON to `path` through a temporary file and a rename."""
    _atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8"))


def save_checkpoint(model: QualityAwareRankingModel, path: Path, metadata: dict[str, Any]) -> str:
    """Save `model` atomically to `path`; returns the file's sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).clone()
             for k, v in model.state_dict().items()}
    payload = {"model_state_dict": state, "config": dict(model.config), "metadata": metadata}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return sha256_file(path)


def load_checkpoint(path: Path, expected_sha256: str | None = None) -> tuple[QualityAwareRankingModel, dict[str, Any]]:
    """Load a checkpoint into a model in eval mode; CheckpointError says why it could not."""
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if expected_sha256:
        actual = sha256_file(path)
        if actual != expected_sha256:
            raise CheckpointError(f"checkpoint {path} has sha256 {actual[:12]}…, the registry expects "
                                  f"{expected_sha256[:12]}…")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged file
        raise CheckpointError(f"checkpoint {path} cannot be read: {type(exc).__name__}: {exc}") from exc
    if not isinstance(payload, dict) or "model_state_dict" not in payload or "config" not in payload:
        raise CheckpointError(f"checkpoint {path} has no model_state_dict/config")
    try:
        # Checkpoints made before the feature MLP existed have no width for it: they have none.
        model = QualityAwareRankingModel({"feature_hidden": 0, **payload["config"]})
        model.load_state_dict(payload["model_state_dict"])
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path} does not fit the model: {exc}") from exc
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"checkpoint {path} has non-finite values in {name}")
    model.eval()
    return model, dict(payload.get("metadata") or {})


def write_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    """Write `manifest.json` in a model folder."""
    path = folder / MANIFEST
    atomic_write_json(path, manifest)
    return path


def read_manifest(path: Path) -> dict[str, Any]:
    """A manifest (JSON object)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "version" not in data:
        raise CheckpointError(f"{path} is not a model manifest")
    return data


def shipped_manifest(settings: Settings) -> dict[str, Any] | None:
    """The manifest of the model shipped in `models/` (None when there is none)."""
    path = Path(settings.models_dir) / SHIPPED_MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        log.warning("shipped manifest is not JSON", extra={"path": str(path)})
        return None
    entry = data.get("ranking") if isinstance(data, dict) else None
    return entry if isinstance(entry, dict) and "version" in entry else None


def resolve_path(settings: Settings, stored: str) -> Path:
    """A registry path: relative ones are under MODELS_DIR."""
    p = Path(stored)
    return p if p.is_absolute() else Path(settings.models_dir) / p


def relative_path(settings: Settings, path: Path) -> str:
    """How a path is stored: relative to MODELS_DIR when inside it, else absolute."""
    path = path.resolve()
    try:
        return str(path.relative_to(Path(settings.models_dir).resolve()))
    except ValueError:
        return str(path)


# -- Postgres registry ----------------------------------------------------------------------------


def _row_dict(row: Any) -> dict[str, Any]:
    return {
        "version": row.version,
        "path": row.path,
        "sha256": row.sha256,
        "config": row.config,
        "training_data_hash": row.training_data_hash,
        "metrics": row.metrics,
        "status": row.status,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "activated_at": row.activated_at.isoformat() if row.activated_at else None,
    }


def register(settings: Settings, manifest: dict[str, Any], path: Path, status: str = "registered") -> dict[str, Any]:
    """Add a checkpoint to the registry (idempotent by version; a known version is left as it is)."""
    from dra_common.db import session_scope
    from dra_common.models import ModelVersion

    with session_scope(settings) as s:
        row = s.get(ModelVersion, manifest["version"])
        if row is None:
            created = manifest.get("created_at")
            row = ModelVersion(
                version=manifest["version"],
                path=relative_path(settings, path),
                sha256=manifest.get("sha256") or sha256_file(path),
                config=manifest.get("config") or {},
                training_data_hash=manifest.get("training_data_hash") or "",
                metrics=manifest.get("metrics") or {},
                status=status,
                created_at=datetime.fromisoformat(created) if created else datetime.now(UTC),
                activated_at=datetime.now(UTC) if status == "active" else None,
            )
            s.add(row)
            s.flush()
        return _row_dict(row)


def list_versions(settings: Settings) -> list[dict[str, Any]]:
    """Every registered version, newest first."""
    from dra_common.db import session_scope
    from dra_common.models import ModelVersion

    with session_scope(settings) as s:
        rows = s.execute(select(ModelVersion).order_by(ModelVersion.created_at.desc())).scalars().all()
        return [_row_dict(r) for r in rows]


def get_version(settings: Settings, version: str) -> dict[str, Any] | None:
    """One registry row, or None."""
    from dra_common.db import session_scope
    from dra_common.models import ModelVersion

    with session_scope(settings) as s:
        row = s.get(ModelVersion, version)
        return _row_dict(row) if row else None


def _with_status(settings: Settings, status: str) -> dict[str, Any] | None:
    from dra_common.db import session_scope
    from dra_common.models import ModelVersion

    with session_scope(settings) as s:
        row = s.execute(
            select(ModelVersion).where(ModelVersion.status == status).order_by(ModelVersion.activated_at.desc())
        ).scalars().first()
        return _row_dict(row) if row else None


def active_version(settings: Settings) -> dict[str, Any] | None:
    """The active version's row."""
    return _with_status(settings, "active")


def candidate_version(settings: Settings) -> dict[str, Any] | None:
    """The candidate version's row (A/B tests)."""
    return _with_status(settings, "candidate")


def activate(settings: Settings, version: str) -> dict[str, Any]:
    """Make `version` the active one; the previous active becomes `registered`. KeyError if unknown."""
    from dra_common.db import session_scope
    from dra_common.models import ModelVersion

    with session_scope(settings) as s:
        row = s.get(ModelVersion, version, with_for_update=True)
        if row is None:
            raise KeyError(f"model version {version!r} is not registered")
        if row.status != "active":
            s.execute(update(ModelVersion).where(ModelVersion.status == "active").values(status="registered"))
            row.status = "active"
            row.activated_at = datetime.now(UTC)
        s.flush()
        return _row_dict(row)


def set_candidate(settings: Settings, version: str | None) -> dict[str, Any] | None:
    """Mark `version` as the candidate (None clears the candidate). KeyError if unknown."""
    from dra_common.db import session_scope
    from dra_common.models import ModelVersion

    with session_scope(settings) as s:
        s.execute(update(ModelVersion).where(ModelVersion.status == "candidate").values(status="registered"))
        if version is None:
            return None
        row = s.get(ModelVersion, version, with_for_update=True)
        if row is None:
            raise KeyError(f"model version {version!r} is not registered")
        if row.status == "active":
            raise ValueError(f"model version {version!r} is active; a candidate must be another version")
        row.status = "candidate"
        s.flush()
        return _row_dict(row)


def rollback(settings: Settings) -> dict[str, Any]:
    """Re-activate the version that was active before the current one. LookupError when there is none."""
    from dra_common.db import session_scope
    from dra_common.models import ModelVersion

    with session_scope(settings) as s:
        current = s.execute(select(ModelVersion).where(ModelVersion.status == "active").with_for_update()).scalars().first()
        query = select(ModelVersion).where(
            ModelVersion.activated_at.is_not(None), ModelVersion.status.in_(("registered", "candidate"))
        )
        if current is not None:
            query = query.where(ModelVersion.version != current.version)
        previous = s.execute(query.order_by(ModelVersion.activated_at.desc())).scalars().first()
        if previous is None:
            raise LookupError("no previously active model version to roll back to")
        if current is not None:
            current.status = "rolled_back"
        previous.status = "active"
        previous.activated_at = datetime.now(UTC)
        s.flush()
        return _row_dict(previous)


def ensure_shipped_registered(settings: Settings) -> dict[str, Any] | None:
    """Register the shipped default model and activate it when nothing is active yet (first start).

    It is also activated when it was never active and the active version's checkpoint is gone: an upgrade
    that replaced the previously shipped model (a `git pull`, a new image on an old database). An active
    version whose checkpoint still exists stays active, and so does one whose checkpoint vanished while no
    new model shipped (the service then reports itself degraded, saying why).
    """
    entry = shipped_manifest(settings)
    if entry is None:
        return None
    path = resolve_path(settings, entry["path"])
    row = register(settings, entry, path)
    active = active_version(settings)
    if active is None:
        row = activate(settings, entry["version"])
        log.info("activated the shipped model", extra={"version": entry["version"]})
    elif row["activated_at"] is None and not resolve_path(settings, active["path"]).exists():
        row = activate(settings, entry["version"])
        log.warning("the active model's checkpoint is gone; activated the newly shipped model",
                    extra={"previous": active["version"], "version": entry["version"]})
    return row


def load_version(settings: Settings, row: dict[str, Any]) -> LoadedModel:
    """Load a registry row's checkpoint, verifying its sha256."""
    path = resolve_path(settings, row["path"])
    model, meta = load_checkpoint(path, expected_sha256=row.get("sha256") or None)
    return LoadedModel(version=row["version"], model=model, path=path, metadata=meta)
