"""The runbook's procedures, run unchanged (host aside) against the live stack.

The runbook lives in ../shared/spec; these tests skip when it is absent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

RUNBOOK = Path(__file__).resolve().parents[3] / "shared" / "spec" / "QUALITY_MONITORING_RUNBOOK.md"


def _blocks(language: str) -> list[str]:
    if not RUNBOOK.exists():
        pytest.skip(f"runbook not found at {RUNBOOK}")
    return re.findall(rf"```{language}\n(.*?)```", RUNBOOK.read_text(encoding="utf-8"), flags=re.S)


def _block(language: str, marker: str) -> str:
    for block in _blocks(language):
        if marker in block:
            return block
    raise AssertionError(f"runbook has no {language} block containing {marker!r}")


def _wait_for_snapshot(http: httpx.Client, timeout: float = 300.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        metrics = http.get("/api/v2/quality/metrics").json()["current_metrics"]
        if metrics.get("overall_ndcg_at_3") is not None or time.monotonic() > deadline:
            return metrics
        time.sleep(2.0)


def _run_bash(stack: Stack, script: str) -> str:
    if shutil.which("jq") is None or shutil.which("curl") is None:
        pytest.skip("the runbook's scripts need curl and jq")
    script = script.replace("http://localhost:8000", stack.url)
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _wait_healthy(http: httpx.Client, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    body = http.get("/api/v2/health").json()
    while body["status"] != "healthy" and time.monotonic() < deadline:
        time.sleep(1.0)
        body = http.get("/api/v2/health").json()
    return body


def test_morning_quality_check_prints_healthy_and_numbers(stack: Stack, http: httpx.Client) -> None:
    metrics = _wait_for_snapshot(http)
    assert metrics["overall_ndcg_at_3"] is not None, metrics
    health = _wait_healthy(http)
    assert health["status"] == "healthy", json.dumps(health["components"], indent=1)
    output = _run_bash(stack, _block("bash", "DAILY QUALITY CHECK"))
    assert '"healthy"' in output
    assert '"components"' not in output or "router" in output
    assert "N/A" not in output and "null" not in output, output
    assert len(re.findall(r"NDCG@3: 0\.\d+", output)) == 3, output


def test_training_mapping_compliance_script_runs(stack: Stack) -> None:
    block = _block("bash", "test_mappings = [")
    script = block.split("python3 << 'EOF'\n", 1)[1].split("\nEOF", 1)[0].replace("http://localhost:8000", stack.url)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "Overall Compliance Rate" in done.stdout


def test_cache_investigation_and_remediation_calls(stack: Stack, http: httpx.Client) -> None:
    _run_bash(stack, _block("bash", "CACHE PERFORMANCE INVESTIGATION").split("# 2. Analyze")[0])
    stats = http.get("/api/v2/cache/stats").json()["cache_statistics"]
    for field in ("hit_rate", "avg_quality_score", "total_entries", "quality_distribution"):
        assert field in stats
    assert set(stats["quality_distribution"]) >= {"excellent", "good", "fair", "poor", "total"}
    invalidated = http.post("/api/v2/cache/invalidate", json={"quality_threshold": 0.7, "force_refresh": True})
    assert invalidated.status_code == 200, invalidated.text
    warmed = http.post("/api/v2/cache/warm", json={"queries": ["singapore housing data", "world bank economic data"]})
    assert warmed.status_code == 200 and len(warmed.json()["warmed"]) == 2, warmed.text


def test_weekly_report_has_the_fields_the_email_reads(http: httpx.Client) -> None:
    for query in ("hdb resale flat prices", "eeg emotion recognition"):
        assert http.post("/api/v2/search", json={"query": query, "use_cache": False}).status_code == 200
    deadline = time.monotonic() + 30
    while True:  # the events reach Postgres through the stream, asynchronously
        response = http.post("/api/v2/quality/report", json={"time_range": "7d", "include_details": True, "format": "json"})
        assert response.status_code == 200, response.text
        report = response.json()
        if report["report_summary"]["total_queries"] >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    summary = report["report_summary"]
    assert summary["total_queries"] > 0
    assert isinstance(summary["avg_quality_score"], float)
    assert 0.0 <= summary["quality_threshold_compliance"] <= 1.0
    for perf in report["domain_performance"].values():
        assert {"queries", "avg_ndcg", "top_sources"} <= set(perf)
    assert isinstance(report["quality_improvements"], list)
    bad = http.post("/api/v2/quality/report", json={"time_range": "forever"})
    assert bad.status_code == 422


def test_feedback_is_stored(http: httpx.Client) -> None:
    ok = http.post("/api/v2/feedback", json={"query": "hdb resale", "recommended_source": "data_gov_sg", "user_rating": 5})
    assert ok.status_code == 201, ok.text
    bad = http.post("/api/v2/feedback", json={"query": "hdb resale", "user_rating": 9})
    assert bad.status_code == 422


@pytest.mark.skipif(os.environ.get("DRA_SKIP_WORKER_TASKS") == "1", reason="worker task test disabled")
def test_worker_runs_the_hourly_check_task(stack: Stack) -> None:
    from dra_worker.celery_app import app

    app.conf.broker_url = stack.settings.broker_url
    app.conf.result_backend = stack.settings.redis_url
    app.conf.task_default_queue = stack.settings.key("tasks")
    result = app.send_task("dra.hourly_quality_check", queue=stack.settings.key("tasks")).get(timeout=240)
    assert "snapshot" in result and result["snapshot"]["overall_ndcg_at_3"] is not None
