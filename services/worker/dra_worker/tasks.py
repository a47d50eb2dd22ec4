"""Scheduled and on-demand operations tasks. Each run is recorded in `task_runs`.

Tasks are thin: they call the services (gRPC / the gateway's HTTP API) and the `dra` tool, so the
worker never imports another service's code.
"""

from __future__ import annotations

import functools
import json
import logging
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psutil
from google.protobuf.json_format import MessageToDict
from sqlalchemy import select

from dra.v1 import monitoring_pb2, monitoring_pb2_grpc, ranking_pb2, ranking_pb2_grpc
from dra_common.db import session_scope
from dra_common.grpc_utils import channel
from dra_common.models import ABTest, SearchEvent, TaskRun, UserFeedback
from dra_worker.celery_app import app, settings

log = logging.getLogger(__name__)

# The runbook's high-quality queries used to warm the cache after remediation.
HIGH_QUALITY_QUERIES = [
    "singapore housing data",
    "psychology research datasets",
    "climate change indicators",
    "machine learning competitions",
    "world bank economic data",
]


def recorded(func: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Record start, end, status and result of a task run in `task_runs`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> dict[str, Any]:
        with session_scope(settings) as session:
            run = TaskRun(task_name=func.__name__, celery_id=getattr(wrapper, "request_id", None), result={})
            session.add(run)
            session.flush()
            run_id = run.id
        status, result, error = "success", {}, None
        try:
            result = func(*args, **kwargs)
            return result
        except Exception as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            with session_scope(settings) as session:
                row = session.get(TaskRun, run_id)
                row.status, row.result, row.error = status, json.loads(json.dumps(result, default=str)), error
                row.finished_at = datetime.now(UTC)

    return wrapper


def _monitoring() -> monitoring_pb2_grpc.MonitoringServiceStub:
    return monitoring_pb2_grpc.MonitoringServiceStub(channel(settings.monitoring_addr))


def _ranking() -> ranking_pb2_grpc.RankingServiceStub:
    return ranking_pb2_grpc.RankingServiceStub(channel(settings.ranking_addr))


def _quality_check(trigger: str) -> dict[str, Any]:
    response = _monitoring().RunQualityCheck(
        monitoring_pb2.QualityCheckRequest(trigger=trigger), timeout=settings.rpc_long_deadline_s
    )
    return {"snapshot": MessageToDict(response.snapshot), "alerts": [MessageToDict(a) for a in response.alerts]}


def _below_threshold(snapshot: dict[str, Any]) -> list[str]:
    problems = []
    ndcg, relevance = snapshot.get("overall_ndcg_at_3"), snapshot.get("relevance_accuracy")
    if ndcg is not None and ndcg < settings.ndcg_alert_threshold:
        problems.append(f"NDCG@3 {ndcg:.3f} < {settings.ndcg_alert_threshold}")
    if relevance is not None and relevance < settings.relevance_alert_threshold:
        problems.append(f"relevance accuracy {relevance:.3f} < {settings.relevance_alert_threshold}")
    return problems


@app.task(name="dra.hourly_quality_check")
@recorded
def hourly_quality_check() -> dict[str, Any]:
    """Runbook "Hourly Automated Monitoring": measure, alert, and remediate when below threshold."""
    result = _quality_check("hourly")
    problems = _below_threshold(result["snapshot"])
    if problems:
        auto_remediation.delay()
    return {**result, "problems": problems, "remediation_triggered": bool(problems)}


@app.task(name="dra.auto_remediation")
@recorded
def auto_remediation() -> dict[str, Any]:
    """Runbook "Automatic Remediation": clear low-quality cache, reload the model, warm the cache, verify."""
    steps: dict[str, Any] = {}
    with httpx.Client(base_url=settings.gateway_url, timeout=settings.rpc_long_deadline_s) as http:
        steps["invalidate"] = http.post(
            "/api/v2/cache/invalidate", json={"quality_threshold": 0.7, "force_refresh": True}
        ).json()
        reload = _ranking().Reload(ranking_pb2.ReloadRequest(), timeout=settings.rpc_long_deadline_s)
        steps["reload"] = {"current_version": reload.current_version, "message": reload.message}
        steps["warm"] = http.post("/api/v2/cache/warm", json={"queries": HIGH_QUALITY_QUERIES, "rate_per_second": 0.5}).json()
    after = _quality_check("remediation")
    steps["after"] = after["snapshot"]
    steps["successful"] = not _below_threshold(after["snapshot"])
    return steps


@app.task(name="dra.quality_report")
@recorded
def quality_report(time_range: str = "7d") -> dict[str, Any]:
    """Runbook "Weekly Quality Report": generate, store, and write the JSON file under data/reports."""
    response = _monitoring().GenerateReport(
        monitoring_pb2.ReportRequest(time_range=time_range, include_details=True, format="json"),
        timeout=settings.rpc_long_deadline_s,
    )
    report = MessageToDict(response.report)
    folder = settings.data_dir / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"quality_report_{datetime.now(UTC):%Y-%m-%d}_{time_range}.json"
    path.write_text(json.dumps(report, indent=2))
    return {"report_id": response.report_id, "path": str(path), "summary": report.get("report_summary", {})}


def feedback_summary(days: int = 7) -> dict[str, Any]:
    """The week's rated feedback, per (query, source): what the weekly mapping update reviews."""
    since = datetime.now(UTC) - timedelta(days=days)
    with session_scope(settings) as session:
        rows = session.execute(
            select(UserFeedback.query, UserFeedback.recommended_source, UserFeedback.user_rating, UserFeedback.feedback_text)
            .where(UserFeedback.timestamp > since, UserFeedback.user_rating.is_not(None))
        ).all()
    ratings: dict[tuple[str, str], list[int]] = defaultdict(list)
    for query, source, rating, _text in rows:
        if source:
            ratings[(query.strip().lower(), source)].append(int(rating))
    proposals = []
    for (query, source), values in sorted(ratings.items()):
        mean = sum(values) / len(values)
        # A 1–5 rating mapped onto the mappings' 0–1 relevance scale.
        proposals.append(
            {"query": query, "source": source, "ratings": len(values), "avg_rating": round(mean, 2),
             "suggested_score": round((mean - 1) / 4, 2)}
        )
    return {
        "total_feedback": len(rows),
        "low_rated": sum(1 for r in rows if r[2] < 3),
        "high_rated": sum(1 for r in rows if r[2] >= 4),
        "low_rated_examples": [list(r) for r in rows if r[2] < 3][:10],
        "high_rated_examples": [list(r) for r in rows if r[2] >= 4][:10],
        "proposed_mappings": proposals,
    }


@app.task(name="dra.weekly_mapping_update")
@recorded
def weekly_mapping_update(retrain: bool = True) -> dict[str, Any]:
    """Runbook "Weekly Training Mapping Updates": summarise feedback, propose mappings, quick retrain."""
    summary = feedback_summary(7)
    folder = settings.data_dir / "feedback"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "weekly_feedback_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    lines = [
        f"- {p['query']} → {p['source']} ({p['suggested_score']:.2f}) - from {p['ratings']} user rating(s), "
        f"average {p['avg_rating']}/5"
        for p in summary["proposed_mappings"]
    ]
    proposed = settings.data_dir / "processed" / "proposed_mapping_updates.md"
    proposed.parent.mkdir(parents=True, exist_ok=True)
    proposed.write_text("# Proposed mapping updates (review before adding to training_mappings.md)\n\n" + "\n".join(lines) + "\n")
    result: dict[str, Any] = {"feedback": summary["total_feedback"], "proposals": len(lines), "proposed_file": str(proposed)}
    if retrain and summary["total_feedback"]:
        result["training"] = _train(["--quick"])
    return result


def _train(extra: list[str]) -> dict[str, Any]:
    """Run `dra model train` in a child process (torch stays out of the worker)."""
    cmd = [sys.executable, "-m", "dra_cli.main", "model", "train", *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    return {"returncode": done.returncode, "output_tail": done.stdout[-2000:], "errors_tail": done.stderr[-2000:]}


@app.task(name="dra.monthly_retraining")
@recorded
def monthly_retraining() -> dict[str, Any]:
    """Runbook "Monthly Model Retraining": full training, then an A/B test of the candidate for 7 days."""
    training = _train(["--candidate"])
    if training["returncode"] != 0:
        return {"training": training, "ab_test": None}
    reload = _ranking().Reload(ranking_pb2.ReloadRequest(as_candidate=True), timeout=settings.rpc_long_deadline_s)
    with session_scope(settings) as session:
        test = ABTest(
            model_a=reload.current_version,
            model_b=reload.candidate_version,
            traffic_split=settings.ab_test_traffic_split,
            ends_at=datetime.now(UTC) + timedelta(days=7),
        )
        session.add(test)
        session.flush()
        test_id = test.id
    return {"training": training, "ab_test": test_id, "candidate": reload.candidate_version}


def ab_arm_stats(model_a: str, model_b: str, since: datetime) -> dict[str, dict[str, float]]:
    """Per-arm search counts and mean estimated NDCG@3 from search events (estimates, see README)."""
    out: dict[str, dict[str, float]] = {}
    with session_scope(settings) as session:
        for arm, version in (("a", model_a), ("b", model_b)):
            rows = session.scalars(
                select(SearchEvent.estimated_ndcg_at_3).where(
                    SearchEvent.created_at >= since, SearchEvent.model_version == version, SearchEvent.cache_hit.is_(False)
                )
            ).all()
            values = [v for v in rows if v is not None]
            out[arm] = {"searches": len(values), "estimated_ndcg_at_3": round(sum(values) / len(values), 4) if values else 0.0}
    return out


@app.task(name="dra.evaluate_ab_tests")
@recorded
def evaluate_ab_tests() -> dict[str, Any]:
    """Close A/B tests that reached their end: the candidate wins only with a better judged NDCG@3."""
    now = datetime.now(UTC)
    closed = []
    with session_scope(settings) as session:
        tests = list(session.scalars(select(ABTest).where(ABTest.status == "running", ABTest.ends_at <= now)))
        for test in tests:
            test.metrics = ab_arm_stats(test.model_a, test.model_b, test.created_at)
            test.status = "finished"
            closed.append(test.id)
    return {"closed": closed}


@app.task(name="dra.quarterly_review")
@recorded
def quarterly_review() -> dict[str, Any]:
    """Runbook "Quarterly System Review": 90-day report, resources, recommendations."""
    report = quality_report.run("90d")
    health = {
        "cpu_usage": psutil.cpu_percent(interval=1),
        "memory_usage": psutil.virtual_memory().percent,
        "disk_usage": psutil.disk_usage("/").percent,
    }
    summary = report.get("summary", {})
    recommendations = []
    judged = summary.get("judged_ndcg_at_3")
    if judged is not None and judged < 0.75:
        recommendations.append({"category": "quality", "issue": "NDCG@3 below optimal threshold",
                                "recommendation": "Increase training mapping coverage", "priority": "high"})
    if summary.get("cache_hit_rate", 1.0) < 0.8:
        recommendations.append({"category": "performance", "issue": "Cache hit rate below optimal",
                                "recommendation": "Optimize cache warming strategy", "priority": "medium"})
    if health["memory_usage"] > 80:
        recommendations.append({"category": "resources", "issue": "High memory usage",
                                "recommendation": "Consider model quantization or scaling", "priority": "high"})
    path = settings.data_dir / "reports" / f"optimization_recommendations_{datetime.now(UTC):%Y_%m}.json"
    path.write_text(json.dumps({"system_resources": health, "recommendations": recommendations}, indent=2))
    return {"report": report, "system_resources": health, "recommendations": recommendations}
