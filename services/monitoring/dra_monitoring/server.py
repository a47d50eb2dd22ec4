"""MonitoringService: quality snapshots, metrics, reports and alerts over gRPC."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf.struct_pb2 import Struct
from sqlalchemy import func, select

from dra.v1 import monitoring_pb2, monitoring_pb2_grpc
from dra_common.db import session_scope
from dra_common.grpc_utils import wait_until_serving
from dra_common.models import Alert, QualitySnapshot, SearchEvent
from dra_common.settings import Settings
from dra_monitoring import metrics
from dra_monitoring.alerts import alert_dict, evaluate_alerts
from dra_monitoring.quality_check import Peers, run_check
from dra_monitoring.reports import parse_range

log = logging.getLogger(__name__)

TARGETS = {
    "overall_ndcg_at_3": 0.70,
    "relevance_accuracy": 0.75,
    "domain_routing_accuracy": 0.80,
    "singapore_first_accuracy": 0.85,
    "cache_hit_rate": 0.80,
}
SNAPSHOT_FIELDS = {
    "overall_ndcg_at_3": "ndcg_at_3",
    "relevance_accuracy": "relevance_accuracy",
    "domain_routing_accuracy": "domain_routing_accuracy",
    "singapore_first_accuracy": "singapore_first_accuracy",
    "cache_hit_rate": "cache_hit_rate",
}


def _struct(data: dict[str, Any]) -> Struct:
    s = Struct()
    s.update(data)
    return s


def live_counts(settings: Settings, window: timedelta) -> dict[str, Any]:
    """Counts from search events in the window (real counts; the NDCG figure is labelled an estimate)."""
    since = datetime.now(UTC) - window
    with session_scope(settings) as session:
        row = session.execute(
            select(
                func.count(),
                func.count().filter(SearchEvent.cache_hit),
                func.avg(SearchEvent.estimated_ndcg_at_3),
                func.percentile_cont(0.5).within_group(SearchEvent.latency_ms),
                func.percentile_cont(0.95).within_group(SearchEvent.latency_ms),
                func.count().filter(SearchEvent.degraded),
            ).where(SearchEvent.created_at >= since)
        ).one()
    searches, hits, avg_est, p50, p95, degraded = row
    return {
        "window_hours": round(window.total_seconds() / 3600, 2),
        "searches": int(searches),
        "cache_hits": int(hits),
        "cache_hit_rate": round(int(hits) / int(searches), 4) if searches else 0.0,
        "estimated_ndcg_at_3": round(float(avg_est), 4) if avg_est is not None else 0.0,
        "estimated_ndcg_note": "mean per-search estimate, not judged (see quality_summary.estimation_method)",
        "latency_p50_ms": round(float(p50), 3) if p50 is not None else 0.0,
        "latency_p95_ms": round(float(p95), 3) if p95 is not None else 0.0,
        "degraded_searches": int(degraded),
    }


class MonitoringServicer(monitoring_pb2_grpc.MonitoringServiceServicer):
    """Serves metrics from Postgres; runs checks against the live router and ranking."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.peers = Peers.connect(settings)
        self._check_lock = threading.Lock()

    def run_quality_check(self, trigger: str) -> tuple[dict[str, Any], list[dict]]:
        """Measure, store a snapshot, update gauges, raise/resolve alerts."""
        with self._check_lock:
            live = live_counts(self.settings, timedelta(hours=24))
            result = run_check(self.settings, self.peers, live["searches"], live["cache_hits"])
            with session_scope(self.settings) as session:
                snap = QualitySnapshot(
                    trigger=trigger,
                    model_version=result.model_version,
                    details=result.details,
                    **{col: result.metrics.get(name) for name, col in SNAPSHOT_FIELDS.items()},
                )
                session.add(snap)
                session.flush()
                snapshot = self._snapshot_dict(snap)
            self._set_gauges(snapshot)
            alerts = evaluate_alerts(self.settings, result.metrics, live["searches"])
            metrics.QUALITY_CHECKS.labels(trigger).inc()
            log.info("quality check", extra={"trigger": trigger, "metrics": result.metrics})
            return snapshot, alerts

    @staticmethod
    def _snapshot_dict(snap: QualitySnapshot) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(snap, col) for name, col in SNAPSHOT_FIELDS.items()}
        out.update(
            snapshot_id=snap.id,
            snapshot_time=(snap.created_at or datetime.now(UTC)).isoformat(),
            trigger=snap.trigger,
            model_version=snap.model_version,
            details=snap.details,
        )
        return out

    @staticmethod
    def _set_gauges(snapshot: dict[str, Any]) -> None:
        for name, gauge in (
            ("overall_ndcg_at_3", metrics.NDCG_AT_3),
            ("relevance_accuracy", metrics.RELEVANCE_ACCURACY),
            ("domain_routing_accuracy", metrics.ROUTING_ACCURACY),
            ("singapore_first_accuracy", metrics.SINGAPORE_FIRST_ACCURACY),
            ("cache_hit_rate", metrics.CACHE_HIT_RATE),
        ):
            if snapshot.get(name) is not None:
                gauge.set(snapshot[name])

    def latest_snapshot(self, measured: bool = False) -> dict[str, Any] | None:
        """The newest stored snapshot; with `measured`, the newest one whose NDCG@3 could be measured (a check
        that ran while ranking was unreachable stores a snapshot without it)."""
        query = select(QualitySnapshot).order_by(QualitySnapshot.id.desc()).limit(1)
        if measured:
            query = query.where(QualitySnapshot.ndcg_at_3.is_not(None))
        with session_scope(self.settings) as session:
            snap = session.scalars(query).first()
            return self._snapshot_dict(snap) if snap else None

    def GetQualityMetrics(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        """Latest measured snapshot as `current_metrics`, with the cache hit rate from live counts; a newer check
        that could not measure (ranking unreachable) is named in `latest_check` rather than blanking the figures."""
        try:
            window = parse_range(request.window or "24h")
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        live = live_counts(self.settings, window)
        latest = self.latest_snapshot() or {}
        snapshot = self.latest_snapshot(measured=True) or latest
        current = {name: snapshot.get(name) for name in SNAPSHOT_FIELDS}
        if latest.get("snapshot_id") != snapshot.get("snapshot_id"):
            current["latest_check"] = (
                f"the {latest['trigger']} check at {latest['snapshot_time']} could not measure "
                f"({_unmeasured(latest.get('details'))}); these figures are from {snapshot['snapshot_time']}"
            )
        if live["searches"]:
            current["cache_hit_rate"] = live["cache_hit_rate"]
        ndcg_details = (snapshot.get("details") or {}).get("ndcg")
        current["judged_queries"] = ndcg_details.get("queries", 0) if isinstance(ndcg_details, dict) else 0
        current["model_version"] = snapshot.get("model_version", "")
        current["measured_on"] = "held-out judged queries, labelled queries and training mappings shipped in the repo"
        return monitoring_pb2.QualityMetricsResponse(
            current_metrics=_struct(current),
            targets=_struct(TARGETS),
            live=_struct(live),
            snapshot_time=snapshot.get("snapshot_time", ""),
        )

    def RunQualityCheck(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        """Evaluate now and store a snapshot."""
        snapshot, alerts = self.run_quality_check(request.trigger or "manual")
        return monitoring_pb2.QualityCheckResponse(
            snapshot=_struct(snapshot), alerts=[_struct(a) for a in alerts]
        )

    def GenerateReport(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        """A report over the requested time range, stored in `reports`."""
        from dra_monitoring.reports import generate_report

        fmt = request.format or "json"
        if fmt not in ("json", "markdown"):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"format {fmt!r} must be 'json' or 'markdown'")
        try:
            report, report_id = generate_report(
                self.settings, request.time_range or "7d", request.include_details, fmt
            )
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return monitoring_pb2.ReportResponse(report=_struct(report), report_id=report_id)

    def ListAlerts(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        """Newest alerts first."""
        query = select(Alert).order_by(Alert.id.desc()).limit(request.limit or 50)
        if request.open_only:
            query = query.where(Alert.status == "open")
        with session_scope(self.settings) as session:
            rows = [alert_dict(a) for a in session.scalars(query)]
        return monitoring_pb2.ListAlertsResponse(alerts=[_struct(a) for a in rows])

    def startup_check(self) -> None:
        """Take a first snapshot once router and ranking serve, unless a recent measured one exists."""
        latest = self.latest_snapshot(measured=True)
        if latest and datetime.fromisoformat(latest["snapshot_time"]) > datetime.now(UTC) - timedelta(hours=1):
            self._set_gauges(latest)
            return
        for addr in (self.settings.router_addr, self.settings.ranking_addr):
            if not wait_until_serving(addr, timeout=600):
                log.warning("startup quality check skipped: peer not serving", extra={"addr": addr})
                return
        try:
            self.run_quality_check("startup")
        except Exception:  # noqa: BLE001 - the hourly check will try again
            log.exception("startup quality check failed")


def _unmeasured(details: Any) -> str:
    """What a snapshot's details say could not be measured, e.g. "ndcg: peer unavailable: UNAVAILABLE"."""
    if not isinstance(details, dict):
        return "no details"
    problems = [f"{name}: {value}" for name, value in details.items() if isinstance(value, str)]
    return "; ".join(problems) or "no details"
