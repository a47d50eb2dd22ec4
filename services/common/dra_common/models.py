"""Tables of the catalog and metrics store. Alembic migrations under `migrations/` create them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Source(Base):
    """A registered data source (portal, statistics office, repository, ...)."""

    __tablename__ = "sources"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    home_page: Mapped[str] = mapped_column(String(500))
    country: Mapped[str] = mapped_column(String(16))
    singapore_public_sector: Mapped[bool] = mapped_column(Boolean, default=False)
    url_pattern: Mapped[str] = mapped_column(String(500), default="")


class Dataset(Base):
    """One catalog record, upserted by (source, source_id)."""

    __tablename__ = "datasets"
    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_datasets_source_source_id"),
        Index("ix_datasets_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    source: Mapped[str] = mapped_column(ForeignKey("sources.name"))
    source_id: Mapped[str] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    publisher: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    themes: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    geography: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    temporal_start: Mapped[str | None] = mapped_column(String(32))
    temporal_end: Mapped[str | None] = mapped_column(String(32))
    update_frequency: Mapped[str | None] = mapped_column(String(64))
    formats: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    license: Mapped[str | None] = mapped_column(Text)
    landing_page: Mapped[str] = mapped_column(Text)
    api_url: Mapped[str | None] = mapped_column(Text)
    source_modified: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    metadata_quality: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(16), default="active")
    content_hash: Mapped[str] = mapped_column(String(64))
    first_ingested: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_ingested: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    embedding_model: Mapped[str | None] = mapped_column(String(128))


class CatalogIngest(Base):
    """One ingest or sync run; its id is the catalog version ranking reloads to."""

    __tablename__ = "catalog_ingests"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    origin: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(32))
    added: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    withdrawn: Mapped[int] = mapped_column(Integer, default=0)
    rejections: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)


class SearchEvent(Base):
    """One search, consumed from the Redis stream; `stream_id` makes consumption idempotent."""

    __tablename__ = "search_events"
    __table_args__ = (Index("ix_search_events_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    stream_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    query: Mapped[str] = mapped_column(Text)
    normalized_query: Mapped[str] = mapped_column(Text)
    domain: Mapped[str] = mapped_column(String(64), default="")
    domain_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    singapore_first_applied: Mapped[bool] = mapped_column(Boolean, default=False)
    top_sources: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    dataset_ids: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    relevance_scores: Mapped[list[float]] = mapped_column(ARRAY(Float), default=list)
    estimated_ndcg_at_3: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False)
    model_version: Mapped[str] = mapped_column(String(64), default="")
    ab_arm: Mapped[str] = mapped_column(String(16), default="")
    degraded: Mapped[bool] = mapped_column(Boolean, default=False)


class QualitySnapshot(Base):
    """Quality measured from judged query sets and counted events at one moment."""

    __tablename__ = "quality_snapshots"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    trigger: Mapped[str] = mapped_column(String(32), default="manual")
    ndcg_at_3: Mapped[float | None] = mapped_column(Float)
    relevance_accuracy: Mapped[float | None] = mapped_column(Float)
    domain_routing_accuracy: Mapped[float | None] = mapped_column(Float)
    singapore_first_accuracy: Mapped[float | None] = mapped_column(Float)
    cache_hit_rate: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class UserFeedback(Base):
    """A user's rating of a recommendation; the weekly mapping update reads it."""

    __tablename__ = "user_feedback"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    query: Mapped[str] = mapped_column(Text)
    recommended_source: Mapped[str | None] = mapped_column(String(64))
    dataset_id: Mapped[str | None] = mapped_column(String(300))
    user_rating: Mapped[int | None] = mapped_column(Integer)
    feedback_text: Mapped[str | None] = mapped_column(Text)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    session_id: Mapped[str | None] = mapped_column(String(128))


class Alert(Base):
    """A threshold crossed by a quality metric."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    severity: Mapped[str] = mapped_column(String(8))
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Report(Base):
    """A generated quality report, kept so it can be fetched again."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    kind: Mapped[str] = mapped_column(String(32))
    time_range: Mapped[str] = mapped_column(String(16))
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)


class ModelVersion(Base):
    """A ranking-model checkpoint in the registry."""

    __tablename__ = "model_versions"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    training_data_hash: Mapped[str] = mapped_column(String(64), default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="registered")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ABTest(Base):
    """An A/B test between the current model and a candidate."""

    __tablename__ = "ab_tests"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    model_a: Mapped[str] = mapped_column(String(64))
    model_b: Mapped[str] = mapped_column(String(64))
    traffic_split: Mapped[float] = mapped_column(Float, default=0.5)
    status: Mapped[str] = mapped_column(String(16), default="running")
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    winner: Mapped[str | None] = mapped_column(String(64))


class TaskRun(Base):
    """One run of a scheduled or manual Celery task."""

    __tablename__ = "task_runs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    task_name: Mapped[str] = mapped_column(String(128), index=True)
    celery_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="running")
    result: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
