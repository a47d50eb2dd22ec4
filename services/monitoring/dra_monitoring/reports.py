"""Quality reports over a time range: the runbook's weekly/quarterly JSON, plus a trend chart."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dra_common.db import session_scope
from dra_common.models import Alert, QualitySnapshot, Report, SearchEvent
from dra_common.quality import ESTIMATE_METHOD
from dra_common.settings import Settings
from dra_monitoring.alerts import alert_dict

COMPLIANCE_THRESHOLD = 0.70
METRICS = ("ndcg_at_3", "relevance_accuracy", "domain_routing_accuracy", "singapore_first_accuracy", "cache_hit_rate")


def parse_range(time_range: str) -> timedelta:
    """'7d' → 7 days, '12h' → 12 hours."""
    unit, amount = time_range[-1], int(time_range[:-1])
    if unit not in "dh" or amount <= 0:
        raise ValueError(f"time_range {time_range!r} must look like '7d' or '24h'")
    return timedelta(days=amount) if unit == "d" else timedelta(hours=amount)


def _trend_chart(snapshots: list[QualitySnapshot], path: Path) -> str | None:
    """A PNG of the judged metrics over time (people would rather look than read)."""
    if not snapshots:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    times = [s.created_at for s in snapshots]
    for metric in METRICS:
        values = [getattr(s, metric) for s in snapshots]
        if any(v is not None for v in values):
            ax.plot(times, [v if v is not None else float("nan") for v in values], marker="o", label=metric)
    ax.axhline(0.65, color="red", linestyle="--", linewidth=1, label="NDCG@3 alert threshold")
    ax.set_ylim(0, 1.05)
    ax.set_title("Quality snapshots")
    ax.legend(loc="lower left", fontsize=8)
    fig.autofmt_xdate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return str(path)


def _improvements(snapshots: list[QualitySnapshot]) -> list[dict[str, str]]:
    """Changes between the first and last snapshot of the period, per metric, and model changes."""
    if len(snapshots) < 2:
        return []
    first, last = snapshots[0], snapshots[-1]
    out = []
    for metric in METRICS:
        a, b = getattr(first, metric), getattr(last, metric)
        if a is not None and b is not None and abs(b - a) >= 0.005:
            verb = "improved" if b > a else "declined"
            out.append({"improvement": f"{metric} {verb}", "impact": f"{a:.3f} → {b:.3f} ({b - a:+.3f})"})
    if first.model_version != last.model_version:
        out.append(
            {"improvement": "ranking model changed", "impact": f"{first.model_version} → {last.model_version}"}
        )
    return out


def generate_report(settings: Settings, time_range: str, include_details: bool, fmt: str) -> tuple[dict, int]:
    """Build, store and return the report for the last `time_range`."""
    span = parse_range(time_range)
    end = datetime.now(UTC)
    start = end - span
    with session_scope(settings) as session:
        events = list(session.scalars(select(SearchEvent).where(SearchEvent.created_at >= start)))
        snapshots = list(
            session.scalars(
                select(QualitySnapshot).where(QualitySnapshot.created_at >= start).order_by(QualitySnapshot.created_at)
            )
        )
        alerts = [alert_dict(a) for a in session.scalars(select(Alert).where(Alert.created_at >= start))]
        estimates = [e.estimated_ndcg_at_3 for e in events if e.estimated_ndcg_at_3 is not None]
        by_domain: dict[str, list[SearchEvent]] = defaultdict(list)
        for event in events:
            by_domain[event.domain or "general"].append(event)
        domain_performance = {}
        for domain, rows in sorted(by_domain.items()):
            vals = [r.estimated_ndcg_at_3 for r in rows if r.estimated_ndcg_at_3 is not None]
            sources = Counter(s for r in rows for s in r.top_sources[:1])
            domain_performance[domain] = {
                "queries": len(rows),
                "avg_ndcg": round(sum(vals) / len(vals), 4) if vals else 0.0,
                "top_sources": [s for s, _ in sources.most_common(3)],
            }
        latest = snapshots[-1] if snapshots else None
        report: dict[str, Any] = {
            "report_summary": {
                "period": f"{start.date().isoformat()} to {end.date().isoformat()} ({time_range})",
                "generated_at": end.isoformat(),
                "total_queries": len(events),
                "avg_quality_score": round(sum(estimates) / len(estimates), 4) if estimates else 0.0,
                "quality_threshold_compliance": (
                    round(sum(v >= COMPLIANCE_THRESHOLD for v in estimates) / len(estimates), 4) if estimates else 0.0
                ),
                "cache_hit_rate": round(sum(e.cache_hit for e in events) / len(events), 4) if events else 0.0,
                "judged_ndcg_at_3": latest.ndcg_at_3 if latest else None,
            },
            "domain_performance": domain_performance,
            "quality_improvements": _improvements(snapshots),
            "alerts": alerts,
            "definitions": {
                "avg_quality_score": "mean estimated NDCG@3 of the period's searches: " + ESTIMATE_METHOD,
                "quality_threshold_compliance": f"share of searches whose estimated NDCG@3 ≥ {COMPLIANCE_THRESHOLD}",
                "avg_ndcg": "mean estimated NDCG@3 of the domain's searches (an estimate, see avg_quality_score)",
                "judged_ndcg_at_3": "NDCG@3 on held-out judged queries in the latest quality snapshot",
            },
        }
        if include_details:
            report["snapshots"] = [
                {"created_at": s.created_at.isoformat(), **{m: getattr(s, m) for m in METRICS}} for s in snapshots
            ]
            chart = _trend_chart(snapshots, settings.data_dir / "reports" / f"quality_trend_{end:%Y%m%d_%H%M%S}.png")
            report["charts"] = {"quality_trend_png": chart}
        if fmt == "markdown":
            report["markdown"] = to_markdown(report)
        row = Report(kind="quality", time_range=time_range, content=report)
        session.add(row)
        session.flush()
        return report, row.id


def to_markdown(report: dict) -> str:
    """A readable rendering of the report."""
    s = report["report_summary"]
    lines = [
        f"# Quality report — {s['period']}",
        "",
        f"- Total queries: {s['total_queries']:,}",
        f"- Average quality score (estimated NDCG@3): {s['avg_quality_score']:.3f}",
        f"- Quality threshold compliance: {s['quality_threshold_compliance']:.1%}",
        "",
        "| domain | queries | avg NDCG@3 (est.) | top sources |",
        "|---|---:|---:|---|",
    ]
    for domain, perf in report["domain_performance"].items():
        lines.append(f"| {domain} | {perf['queries']} | {perf['avg_ndcg']:.3f} | {', '.join(perf['top_sources'])} |")
    return "\n".join(lines) + "\n"
