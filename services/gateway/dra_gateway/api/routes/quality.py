"""Quality metrics, reports and alerts (served by the monitoring service)."""

from __future__ import annotations

from typing import Any

import grpc
from fastapi import APIRouter, HTTPException
from google.protobuf.json_format import MessageToDict

from dra.v1 import monitoring_pb2
from dra_gateway.deps import ClientsDep
from dra_gateway.schemas import ReportIn

router = APIRouter(prefix="/api/v2/quality", tags=["quality"])


def _unavailable(exc: grpc.RpcError) -> HTTPException:
    if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
        return HTTPException(status_code=400, detail=exc.details())
    return HTTPException(status_code=503, detail=f"monitoring service unavailable ({exc.code().name})")


@router.get("/metrics")
def quality_metrics(clients: ClientsDep, window: str = "24h") -> dict[str, Any]:
    """`current_metrics` (latest judged snapshot + live cache hit rate), targets and live counts."""
    try:
        response = clients.monitoring.GetQualityMetrics(
            monitoring_pb2.QualityMetricsRequest(window=window), timeout=clients.settings.rpc_deadline_s
        )
    except grpc.RpcError as exc:
        raise _unavailable(exc) from exc
    return {
        "current_metrics": MessageToDict(response.current_metrics),
        "targets": MessageToDict(response.targets),
        "live": MessageToDict(response.live),
        "snapshot_time": response.snapshot_time,
    }


@router.post("/check")
def quality_check(clients: ClientsDep) -> dict[str, Any]:
    """Evaluate the judged query sets now and store a snapshot."""
    try:
        response = clients.monitoring.RunQualityCheck(
            monitoring_pb2.QualityCheckRequest(trigger="manual"), timeout=clients.settings.rpc_long_deadline_s
        )
    except grpc.RpcError as exc:
        raise _unavailable(exc) from exc
    return {"snapshot": MessageToDict(response.snapshot), "alerts": [MessageToDict(a) for a in response.alerts]}


@router.post("/report")
def quality_report(body: ReportIn, clients: ClientsDep) -> dict[str, Any]:
    """The runbook's weekly/quarterly report: summary, domain performance, improvements, alerts."""
    try:
        response = clients.monitoring.GenerateReport(
            monitoring_pb2.ReportRequest(
                time_range=body.time_range, include_details=body.include_details, format=body.format
            ),
            timeout=clients.settings.rpc_long_deadline_s,
        )
    except grpc.RpcError as exc:
        raise _unavailable(exc) from exc
    report = MessageToDict(response.report)
    report["report_id"] = response.report_id
    return report


@router.get("/alerts")
def alerts(clients: ClientsDep, open_only: bool = False, limit: int = 50) -> dict[str, Any]:
    """Recent alerts (open only when asked)."""
    try:
        response = clients.monitoring.ListAlerts(
            monitoring_pb2.ListAlertsRequest(open_only=open_only, limit=max(1, min(limit, 500))),
            timeout=clients.settings.rpc_deadline_s,
        )
    except grpc.RpcError as exc:
        raise _unavailable(exc) from exc
    return {"alerts": [MessageToDict(a) for a in response.alerts]}
