"""Browsing the catalog: statistics, one dataset's full record, the sources registry.

Routes are plain `def` so FastAPI runs their blocking database work in its threadpool.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from sqlalchemy import func, select

from dra_common.catalog.store import catalog_stats
from dra_common.db import session_scope
from dra_common.domain import SOURCE_BY_NAME
from dra_common.models import Dataset, Source
from dra_gateway.deps import SettingsDep

router = APIRouter(prefix="/api/v2", tags=["catalog"])


@router.get("/catalog/stats")
def get_catalog_stats(settings: SettingsDep) -> dict[str, Any]:
    """Active datasets in total, per source and per geography, embeddings, and the last ingest run."""
    with session_scope(settings) as session:
        return catalog_stats(session)


def _dataset_json(row: Dataset) -> dict[str, Any]:
    return {
        "id": row.id,
        "source": row.source,
        "source_id": row.source_id,
        "title": row.title,
        "description": row.description,
        "publisher": row.publisher,
        "keywords": list(row.keywords or []),
        "themes": list(row.themes or []),
        "geography": list(row.geography or []),
        "temporal_start": row.temporal_start,
        "temporal_end": row.temporal_end,
        "update_frequency": row.update_frequency,
        "formats": list(row.formats or []),
        "license": row.license,
        "landing_page": row.landing_page,
        "api_url": row.api_url,
        "source_modified": row.source_modified.isoformat() if row.source_modified else None,
        "metadata_quality": row.metadata_quality,
        "status": row.status,
        "content_hash": row.content_hash,
        "first_ingested": row.first_ingested.isoformat() if row.first_ingested else None,
        "last_ingested": row.last_ingested.isoformat() if row.last_ingested else None,
        "embedding_model": row.embedding_model,
        "has_embedding": row.embedding is not None,
        "raw": row.raw or {},
    }


@router.get("/datasets/{dataset_id:path}")
def get_dataset(dataset_id: str, settings: SettingsDep) -> dict[str, Any]:
    """The full record of one dataset (`<source>:<source_id>`), withdrawn ones included; 404 when unknown."""
    if not dataset_id or len(dataset_id) > 300:
        raise HTTPException(status_code=404, detail=f"dataset {dataset_id[:300]!r} not found")
    with session_scope(settings) as session:
        row = session.get(Dataset, dataset_id)
        if row is None:
            hint = "" if ":" in dataset_id else " (ids look like '<source>:<source_id>', e.g. 'world_bank:SP.POP.TOTL')"
            raise HTTPException(status_code=404, detail=f"dataset {dataset_id!r} not found{hint}")
        return _dataset_json(row)


@router.get("/sources")
def list_sources(settings: SettingsDep) -> dict[str, Any]:
    """Every source (registry and custom) with its kind, country, Singapore public-sector flag and dataset count."""
    with session_scope(settings) as session:
        counts = dict(session.execute(
            select(Dataset.source, func.count()).where(Dataset.status == "active").group_by(Dataset.source)
        ).all())
        rows = {row.name: row for row in session.scalars(select(Source))}
    out = []
    names = list(SOURCE_BY_NAME) + sorted(n for n in rows if n not in SOURCE_BY_NAME)
    for name in names:
        info: Any = SOURCE_BY_NAME.get(name) or rows[name]
        out.append({
            "name": name,
            "title": info.title,
            "kind": info.kind,
            "home_page": info.home_page,
            "country": info.country,
            "singapore_public_sector": bool(info.singapore_public_sector),
            "registered": name in SOURCE_BY_NAME,
            "datasets": int(counts.get(name, 0)),
        })
    return {"sources": out, "total": len(out)}
