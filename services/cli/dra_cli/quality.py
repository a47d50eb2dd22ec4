"""`dra quality ...`: the monitoring service's checks, metrics, reports and alerts from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import typer
from google.protobuf.json_format import MessageToDict
from rich.console import Console
from rich.table import Table

from dra.v1 import monitoring_pb2, monitoring_pb2_grpc
from dra_common.grpc_utils import channel
from dra_common.settings import Settings

app = typer.Typer(no_args_is_help=True)
console = Console()


def _stub(settings: Settings) -> monitoring_pb2_grpc.MonitoringServiceStub:
    return monitoring_pb2_grpc.MonitoringServiceStub(channel(settings.monitoring_addr))


def _call(method: object, request: object, timeout: float) -> object:
    try:
        return method(request, timeout=timeout)  # type: ignore[operator]
    except grpc.RpcError as exc:
        console.print(f"[red]monitoring service: {exc.code().name}: {exc.details()}[/red]")
        raise typer.Exit(1) from exc


@app.command()
def metrics(window: str = typer.Option("24h", help="Window of live counts, e.g. 24h, 7d")) -> None:
    """Print the current metrics against their targets, and live counts."""
    settings = Settings()
    response = _call(_stub(settings).GetQualityMetrics, monitoring_pb2.QualityMetricsRequest(window=window), 10)
    current, targets = MessageToDict(response.current_metrics), MessageToDict(response.targets)
    table = Table(title=f"Quality (snapshot {response.snapshot_time or 'none yet'})")
    for column in ("metric", "value", "target", ""):
        table.add_column(column)
    for name, target in targets.items():
        value = current.get(name)
        ok = value is not None and value >= target
        table.add_row(name, "—" if value is None else f"{value:.3f}", f"> {target}", "✅" if ok else "❌")
    console.print(table)
    console.print(MessageToDict(response.live))


@app.command()
def check() -> None:
    """Evaluate the judged query sets now and store a snapshot."""
    settings = Settings()
    with console.status("running the judged query sets through router and ranking ..."):
        response = _call(
            _stub(settings).RunQualityCheck, monitoring_pb2.QualityCheckRequest(trigger="manual"), settings.rpc_long_deadline_s
        )
    console.print_json(json.dumps(MessageToDict(response.snapshot)))
    for alert in response.alerts:
        console.print(f"[red]ALERT[/red] {MessageToDict(alert)['message']}")


@app.command()
def report(
    time_range: str = typer.Option("7d", help="e.g. 7d, 90d"),
    output: Path | None = typer.Option(None, help="Write the JSON report here"),
    markdown: bool = typer.Option(False, help="Print the Markdown rendering"),
) -> None:
    """Generate a quality report (what the weekly and quarterly procedures send)."""
    settings = Settings()
    response = _call(
        _stub(settings).GenerateReport,
        monitoring_pb2.ReportRequest(time_range=time_range, include_details=True, format="markdown" if markdown else "json"),
        settings.rpc_long_deadline_s,
    )
    data = MessageToDict(response.report)
    if output:
        output.write_text(json.dumps(data, indent=2))
        console.print(f"report {response.report_id} written to {output}")
    if markdown:
        console.print(data.get("markdown", ""))
    elif not output:
        console.print_json(json.dumps(data))


@app.command()
def alerts(open_only: bool = typer.Option(False, "--open", help="Only open alerts")) -> None:
    """List recent alerts."""
    settings = Settings()
    response = _call(_stub(settings).ListAlerts, monitoring_pb2.ListAlertsRequest(open_only=open_only, limit=50), 10)
    table = Table(title="Alerts")
    for column in ("id", "time", "severity", "message", "status"):
        table.add_column(column)
    for alert in response.alerts:
        a = MessageToDict(alert)
        table.add_row(str(int(a["id"])), a["created_at"][:19], a["severity"], a["message"], a["status"])
    console.print(table)
