"""Alerts: thresholds from the runbook's escalation matrix, stored in Postgres, optionally sent to a webhook."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select

from dra_common.db import session_scope
from dra_common.models import Alert
from dra_common.settings import Settings
from dra_monitoring.metrics import ALERTS_OPEN

log = logging.getLogger(__name__)

CACHE_HIT_RATE_THRESHOLD = 0.70


def _ndcg_severity(value: float) -> str:
    """P0 < 0.5, P1 < 0.6, else P2 (the runbook's escalation matrix)."""
    if value < 0.5:
        return "P0"
    if value < 0.6:
        return "P1"
    return "P2"


def thresholds(settings: Settings) -> dict[str, float]:
    """Alert threshold of each metric."""
    return {
        "overall_ndcg_at_3": settings.ndcg_alert_threshold,
        "relevance_accuracy": settings.relevance_alert_threshold,
        "cache_hit_rate": CACHE_HIT_RATE_THRESHOLD,
    }


def evaluate_alerts(settings: Settings, metrics: dict[str, float | None], cache_lookups: int) -> list[dict]:
    """Open alerts for metrics below threshold (once per metric), resolve those that recovered."""
    raised: list[dict] = []
    now = datetime.now(UTC)
    with session_scope(settings) as session:
        open_alerts = {a.metric: a for a in session.scalars(select(Alert).where(Alert.status == "open"))}
        for metric, threshold in thresholds(settings).items():
            value = metrics.get(metric)
            if value is None or (metric == "cache_hit_rate" and cache_lookups < 50):
                continue
            if value < threshold and metric not in open_alerts:
                severity = _ndcg_severity(value) if metric == "overall_ndcg_at_3" else "P2"
                alert = Alert(
                    severity=severity,
                    metric=metric,
                    value=value,
                    threshold=threshold,
                    message=f"Quality Alert: {metric} is {value:.3f} (below {threshold})",
                )
                session.add(alert)
                session.flush()
                raised.append(alert_dict(alert))
            elif value >= threshold and metric in open_alerts:
                open_alerts[metric].status = "resolved"
                open_alerts[metric].resolved_at = now
        count = session.scalar(select(func.count()).select_from(Alert).where(Alert.status == "open")) or 0
    ALERTS_OPEN.set(count)
    for alert in raised:
        notify(settings, alert)
    return raised


def alert_dict(alert: Alert) -> dict:
    """JSON form of an alert row."""
    return {
        "id": alert.id,
        "created_at": alert.created_at.isoformat() if alert.created_at else datetime.now(UTC).isoformat(),
        "severity": alert.severity,
        "metric": alert.metric,
        "value": alert.value,
        "threshold": alert.threshold,
        "message": alert.message,
        "status": alert.status,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
    }


def notify(settings: Settings, alert: dict) -> None:
    """Post to the Slack-compatible webhook when one is configured; failures are logged, not raised."""
    log.warning("alert", extra={"alert": alert})
    if not settings.alert_webhook_url:
        return
    try:
        httpx.post(settings.alert_webhook_url, json={"text": f"🚨 [{alert['severity']}] {alert['message']}"}, timeout=5)
    except httpx.HTTPError:
        log.warning("alert webhook unreachable", exc_info=True)
