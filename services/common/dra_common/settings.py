"""Settings for every process, read from environment variables (and a root `.env`).

One class so that `make dev`, Docker and tests configure the whole stack with the same names.
Each process builds it once in `main()` and passes it down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[3]


class Settings(BaseSettings):
    """Every knob of the stack. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Storage
    database_url: str = Field("postgresql://postgres@127.0.0.1:5432/dra", description="Postgres: catalog and metrics store")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis: cache, event stream, catalog/model notifications")
    celery_broker_url: str = Field("", description="Celery broker; empty = REDIS_URL")
    redis_prefix: str = Field("dra:", description="Prefix of every Redis key this stack writes (isolates test runs)")

    # Listen ports
    gateway_port: int = Field(8000, description="Gateway HTTP port (also serves /metrics)")
    router_port: int = Field(50051, description="Router gRPC port")
    ranking_port: int = Field(50052, description="Ranking gRPC port")
    cache_port: int = Field(50053, description="Cache gRPC port")
    monitoring_port: int = Field(50054, description="Monitoring gRPC port")
    router_metrics_port: int = Field(9101, description="Router Prometheus metrics port")
    ranking_metrics_port: int = Field(9102, description="Ranking Prometheus metrics port")
    cache_metrics_port: int = Field(9103, description="Cache Prometheus metrics port")
    monitoring_metrics_port: int = Field(9104, description="Monitoring Prometheus metrics port")
    worker_metrics_port: int = Field(9105, description="Celery worker Prometheus metrics port")
    beat_metrics_port: int = Field(9106, description="Celery beat Prometheus metrics port")
    dashboard_port: int = Field(3000, description="Monitoring's local quality dashboard (0 = off; Grafana takes 3000 in compose)")
    bind_host: str = Field("127.0.0.1", description="Address servers listen on (0.0.0.0 in containers)")

    # Peers
    router_addr: str = Field("127.0.0.1:50051", description="host:port of the router")
    ranking_addr: str = Field("127.0.0.1:50052", description="host:port of the ranking service")
    cache_addr: str = Field("127.0.0.1:50053", description="host:port of the cache service")
    monitoring_addr: str = Field("127.0.0.1:50054", description="host:port of the monitoring service")
    gateway_url: str = Field("http://127.0.0.1:8000", description="Base URL of the gateway (worker tasks call it)")

    # Deadlines (seconds)
    rpc_deadline_s: float = Field(2.0, description="Deadline of an ordinary gRPC call")
    rpc_long_deadline_s: float = Field(120.0, description="Deadline of long gRPC calls (quality checks, reports, reloads)")

    # Paths
    models_dir: Path = Field(REPO_ROOT / "models", description="Model checkpoints and manifest")
    data_dir: Path = Field(REPO_ROOT / "data", description="Generated data (processed mappings, reports)")
    model_cache_dir: Path = Field(REPO_ROOT / "data" / "cache", description="Models derived from the shipped "
                                  "MiniLM weights (ONNX exports), made once and shared by every process")
    state_dir: Path = Field(REPO_ROOT / ".dra", description="Local state of `make dev` (embedded Postgres/Redis, logs)")
    training_mappings_path: Path = Field(
        REPO_ROOT / "training_mappings.md", description="Expert query → source judgments (router priors, ranking)"
    )

    # Behaviour
    log_level: str = Field("INFO", description="Log level of every process")
    torch_threads: int = Field(1, description="Intra-op threads for torch in ranking and router")
    query_threads: int = Field(2, description="ONNX Runtime threads that encode one query in router and ranking "
                               "(2: both cores of the development machine; ranking_bench: 6.6 against 8.0 ms per query on 1)")
    query_runtime: Literal["onnx", "torch"] = Field(
        "onnx", description="How router and ranking encode queries: onnx (ONNX Runtime float32, same numbers as "
        "torch, 2–3x faster per query) or torch")
    ndcg_alert_threshold: float = Field(0.65, description="Alert when NDCG@3 falls below this")
    relevance_alert_threshold: float = Field(0.70, description="Alert when relevance accuracy falls below this")
    alert_webhook_url: str = Field("", description="Slack-compatible webhook for alerts (empty: alerts stay in Postgres)")
    ab_test_traffic_split: float = Field(0.5, description="Share of traffic sent to the candidate model during an A/B test")
    startup_quality_check: bool = Field(True, description="Monitoring computes a snapshot at start when none is recent")

    @property
    def broker_url(self) -> str:
        """Celery broker URL: CELERY_BROKER_URL or the Redis URL."""
        return self.celery_broker_url or self.redis_url

    @property
    def sqlalchemy_url(self) -> str:
        """DATABASE_URL in the form SQLAlchemy wants (psycopg2 driver)."""
        url = self.database_url
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg2://" + url[len("postgresql://") :]
        return url

    def key(self, *parts: str) -> str:
        """A Redis key under this stack's prefix."""
        return self.redis_prefix + ":".join(parts)
