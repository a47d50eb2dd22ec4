"""Monitoring as a real process: metrics, reports and alerts from Postgres, degraded peers tolerated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf.json_format import MessageToDict
from sqlalchemy import delete

from dra.v1 import monitoring_pb2, monitoring_pb2_grpc
from dra_common.db import session_scope
from dra_common.grpc_utils import channel
from dra_common.models import Alert, QualitySnapshot, SearchEvent
from dra_common.settings import Settings
from dra_monitoring.alerts import evaluate_alerts
from tests.conftest import settings_env
from tests.utils.processes import ServiceProcess, python_module
from tests.utils.stores import free_port

pytestmark = pytest.mark.integration

DASHBOARD_PORT = free_port()


@pytest.fixture(scope="module")
def monitoring(settings: Settings, logs_dir: Path):
    env = settings_env(settings, STARTUP_QUALITY_CHECK="false", DASHBOARD_PORT=str(DASHBOARD_PORT))
    proc = ServiceProcess("monitoring", python_module("dra_monitoring"), env, logs_dir / "monitoring-alone.log").start()
    try:
        proc.wait_grpc(settings.monitoring_addr, timeout=60)
        yield monitoring_pb2_grpc.MonitoringServiceStub(channel(settings.monitoring_addr))
    finally:
        proc.stop()


@pytest.fixture()
def events(settings: Settings):
    now = datetime.now(UTC)
    rows = [
        SearchEvent(
            stream_id=f"test-{i}", created_at=now - timedelta(hours=i), query=f"q{i}", normalized_query=f"q{i}",
            domain="health_medicine" if i % 2 else "economics_finance", domain_confidence=0.9,
            singapore_first_applied=False, top_sources=["who" if i % 2 else "world_bank"], dataset_ids=["x"],
            relevance_scores=[0.9], estimated_ndcg_at_3=0.5 + i * 0.05, latency_ms=10.0 + i, cache_hit=i < 2,
            model_version="v1", ab_arm="", degraded=False,
        )
        for i in range(6)
    ]
    with session_scope(settings) as session:
        session.add_all(rows)
    yield rows
    with session_scope(settings) as session:
        session.execute(delete(SearchEvent).where(SearchEvent.stream_id.like("test-%")))


def test_live_counts_come_from_events(monitoring, events) -> None:
    response = monitoring.GetQualityMetrics(monitoring_pb2.QualityMetricsRequest(window="24h"), timeout=5)
    live = MessageToDict(response.live)
    assert live["searches"] == 6
    assert live["cache_hits"] == 2
    assert live["cache_hit_rate"] == pytest.approx(2 / 6, abs=1e-3)
    assert MessageToDict(response.current_metrics)["cache_hit_rate"] == pytest.approx(2 / 6, abs=1e-3)


def test_bad_window_is_invalid_argument(monitoring) -> None:
    with pytest.raises(grpc.RpcError) as err:
        monitoring.GetQualityMetrics(monitoring_pb2.QualityMetricsRequest(window="soon"), timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_report_summarises_the_period(monitoring, events) -> None:
    response = monitoring.GenerateReport(
        monitoring_pb2.ReportRequest(time_range="7d", include_details=True, format="markdown"), timeout=30
    )
    report = MessageToDict(response.report)
    assert report["report_summary"]["total_queries"] == 6
    expected = sum(0.5 + i * 0.05 for i in range(6)) / 6
    assert report["report_summary"]["avg_quality_score"] == pytest.approx(expected, abs=1e-3)
    assert report["domain_performance"]["health_medicine"]["queries"] == 3
    assert report["domain_performance"]["health_medicine"]["top_sources"] == ["who"]
    assert "| health_medicine | 3 |" in report["markdown"]
    assert response.report_id > 0


def test_quality_check_with_peers_down_stores_a_partial_snapshot(monitoring) -> None:
    response = monitoring.RunQualityCheck(monitoring_pb2.QualityCheckRequest(trigger="manual"), timeout=60)
    snapshot = MessageToDict(response.snapshot)
    assert snapshot["trigger"] == "manual"
    assert snapshot["snapshot_id"] > 0


def test_a_check_that_could_not_measure_does_not_blank_the_last_figures(monitoring, settings: Settings) -> None:
    with session_scope(settings) as session:
        session.execute(delete(QualitySnapshot))
        session.add(QualitySnapshot(trigger="hourly", model_version="qarm-x", ndcg_at_3=0.84, relevance_accuracy=0.9,
                                    domain_routing_accuracy=0.93, singapore_first_accuracy=1.0, cache_hit_rate=0.5,
                                    details={"ndcg": {"queries": 70}}, created_at=datetime.now(UTC) - timedelta(hours=2)))
    monitoring.RunQualityCheck(monitoring_pb2.QualityCheckRequest(trigger="manual"), timeout=60)  # peers are down
    response = monitoring.GetQualityMetrics(monitoring_pb2.QualityMetricsRequest(window="24h"), timeout=5)
    current = MessageToDict(response.current_metrics)
    assert current["overall_ndcg_at_3"] == pytest.approx(0.84) and current["model_version"] == "qarm-x"
    assert current["judged_queries"] == 70
    assert "the manual check at" in current["latest_check"] and "unavailable" in current["latest_check"]
    with session_scope(settings) as session:
        session.execute(delete(QualitySnapshot))


def test_alerts_open_once_and_resolve(settings: Settings) -> None:
    with session_scope(settings) as session:
        session.execute(delete(Alert))
    raised = evaluate_alerts(settings, {"overall_ndcg_at_3": 0.55, "relevance_accuracy": 0.9}, cache_lookups=0)
    assert [(a["metric"], a["severity"]) for a in raised] == [("overall_ndcg_at_3", "P1")]
    assert evaluate_alerts(settings, {"overall_ndcg_at_3": 0.50}, cache_lookups=0) == []
    evaluate_alerts(settings, {"overall_ndcg_at_3": 0.80}, cache_lookups=0)
    with session_scope(settings) as session:
        statuses = [a.status for a in session.query(Alert).all()]
    assert statuses == ["resolved"]


def test_dashboard_pages_and_charts(monitoring, events) -> None:
    base = f"http://127.0.0.1:{DASHBOARD_PORT}"
    page = httpx.get(f"{base}/quality-dashboard", timeout=10)
    assert page.status_code == 200 and "NDCG@3" in page.text and "trend.png" in page.text
    for chart in ("trend.png", "latency.png"):
        image = httpx.get(f"{base}/quality-dashboard/{chart}", timeout=30)
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert httpx.get(f"{base}/nowhere", timeout=10).status_code == 404
