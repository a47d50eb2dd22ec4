"""A small local dashboard (the runbook's http://localhost:3000/quality-dashboard when Grafana is not running).

Server-rendered HTML that refreshes every 30 s, with PNG charts drawn by matplotlib from the snapshots
and search events in Postgres — pictures, because people would rather look than read.
"""

from __future__ import annotations

import html
import io
import logging
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import select

from dra_common.db import session_scope
from dra_common.models import ABTest, Alert, QualitySnapshot, SearchEvent
from dra_common.settings import Settings

log = logging.getLogger(__name__)

METRICS = (
    ("ndcg_at_3", "NDCG@3", 0.70),
    ("relevance_accuracy", "Relevance accuracy", 0.75),
    ("domain_routing_accuracy", "Domain routing accuracy", 0.80),
    ("singapore_first_accuracy", "Singapore-first accuracy", 0.85),
    ("cache_hit_rate", "Cache hit rate", 0.80),
)


def _png(draw: Any) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.6))
    draw(ax)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def trend_png(settings: Settings) -> bytes:
    """Judged metrics of the last 7 days' snapshots."""
    since = datetime.now(UTC) - timedelta(days=7)
    with session_scope(settings) as session:
        snaps = list(
            session.scalars(select(QualitySnapshot).where(QualitySnapshot.created_at >= since).order_by(QualitySnapshot.id))
        )
        series = {
            name: [(s.created_at, getattr(s, name)) for s in snaps if getattr(s, name) is not None] for name, _, _ in METRICS
        }

    def draw(ax: Any) -> None:
        for name, label, _ in METRICS:
            if series[name]:
                ax.plot(*zip(*series[name], strict=True), marker="o", label=label)
        ax.axhline(0.65, color="red", linestyle="--", linewidth=1, label="NDCG@3 alert (0.65)")
        ax.set_ylim(0, 1.05)
        ax.set_title("Quality snapshots, last 7 days")
        ax.legend(loc="lower left", fontsize=7)

    return _png(draw)


def latency_png(settings: Settings) -> bytes:
    """Search latency of the last 24 h, cached vs uncached."""
    since = datetime.now(UTC) - timedelta(hours=24)
    with session_scope(settings) as session:
        rows = session.execute(
            select(SearchEvent.latency_ms, SearchEvent.cache_hit).where(SearchEvent.created_at >= since)
        ).all()

    def draw(ax: Any) -> None:
        for hit, label in ((False, "uncached"), (True, "cached")):
            values = [r.latency_ms for r in rows if r.cache_hit == hit]
            if values:
                ax.hist(values, bins=40, alpha=0.6, label=f"{label} (n={len(values)})")
        ax.set_xlabel("latency (ms)")
        ax.set_title("Search latency, last 24 h")
        ax.legend(fontsize=8)

    return _png(draw)


def quality_page(settings: Settings) -> str:
    """The quality dashboard page."""
    with session_scope(settings) as session:
        latest = session.scalars(select(QualitySnapshot).order_by(QualitySnapshot.id.desc()).limit(1)).first()
        alerts = list(session.scalars(select(Alert).order_by(Alert.id.desc()).limit(10)))
        rows = []
        for name, label, target in METRICS:
            value = getattr(latest, name) if latest else None
            ok = value is not None and value >= target
            shown = f"{value:.3f}" if value is not None else "not measured yet"
            rows.append(f"<tr><td>{label}</td><td class={'ok' if ok else 'bad'}>{shown}</td><td>&gt; {target}</td></tr>")
        alert_rows = "".join(
            f"<tr><td>{a.created_at:%Y-%m-%d %H:%M}</td><td>{a.severity}</td><td>{html.escape(a.message)}</td>"
            f"<td>{a.status}</td></tr>"
            for a in alerts
        )
        when = f"{latest.created_at:%Y-%m-%d %H:%M:%S} UTC ({latest.trigger})" if latest else "none yet"
    return f"""<!doctype html><html><head><meta charset=utf-8><meta http-equiv=refresh content=30>
<title>DRA quality dashboard</title><style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:4px 12px}}
.ok{{color:#080}}.bad{{color:#b00}}table{{border-collapse:collapse}}tr:nth-child(even){{background:#f4f4f4}}</style></head>
<body><h1>Recommendation quality</h1><p>Latest snapshot: {when}. Judged on held-out query sets (see README, Metrics).</p>
<table><tr><th>metric</th><th>value</th><th>target</th></tr>{''.join(rows)}</table>
<h2>Trend</h2><img src="/quality-dashboard/trend.png" alt="quality trend">
<h2>Latency</h2><img src="/quality-dashboard/latency.png" alt="latency histogram">
<h2>Alerts</h2><table><tr><th>time</th><th>severity</th><th>message</th><th>status</th></tr>{alert_rows}</table>
<p><a href="/ab-testing-dashboard">A/B tests</a></p></body></html>"""


def ab_page(settings: Settings) -> str:
    """A/B tests and their per-arm figures."""
    with session_scope(settings) as session:
        tests = list(session.scalars(select(ABTest).order_by(ABTest.id.desc()).limit(20)))
        rows = "".join(
            f"<tr><td>{t.id}</td><td>{html.escape(t.model_a)}</td><td>{html.escape(t.model_b)}</td><td>{t.traffic_split}</td>"
            f"<td>{t.status}</td><td>{html.escape(str(t.metrics))}</td><td>{html.escape(t.winner or '')}</td></tr>"
            for t in tests
        )
    return f"""<!doctype html><html><head><meta charset=utf-8><meta http-equiv=refresh content=30><title>A/B tests</title>
</head><body style="font-family:sans-serif"><h1>A/B tests</h1><table><tr><th>id</th><th>model A</th><th>model B</th>
<th>split</th><th>status</th><th>metrics</th><th>winner</th></tr>{rows}</table></body></html>"""


def start_dashboard(settings: Settings) -> ThreadingHTTPServer | None:
    """Serve the dashboard on DASHBOARD_PORT in a background thread (None when disabled or the port is taken)."""
    if not settings.dashboard_port:
        return None
    routes = {
        "/quality-dashboard": ("text/html; charset=utf-8", lambda: quality_page(settings).encode()),
        "/": ("text/html; charset=utf-8", lambda: quality_page(settings).encode()),
        "/quality-dashboard/trend.png": ("image/png", lambda: trend_png(settings)),
        "/quality-dashboard/latency.png": ("image/png", lambda: latency_png(settings)),
        "/ab-testing-dashboard": ("text/html; charset=utf-8", lambda: ab_page(settings).encode()),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            route = routes.get(self.path.split("?")[0].rstrip("/") or "/")
            if route is None:
                self.send_error(404, "unknown page")
                return
            try:
                body = route[1]()
            except Exception:  # noqa: BLE001 - a dashboard error must not kill monitoring
                log.exception("dashboard page failed")
                self.send_error(503, "metrics store unavailable")
                return
            self.send_response(200)
            self.send_header("Content-Type", route[0])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            return

    try:
        server = ThreadingHTTPServer((settings.bind_host, settings.dashboard_port), Handler)
    except OSError as exc:
        log.warning("dashboard not started: port busy (set DASHBOARD_PORT)", extra={"error": str(exc)})
        return None
    threading.Thread(target=server.serve_forever, name="dashboard", daemon=True).start()
    log.info("dashboard", extra={"url": f"http://{settings.bind_host}:{settings.dashboard_port}/quality-dashboard"})
    return server
