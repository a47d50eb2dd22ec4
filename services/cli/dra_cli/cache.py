"""`dra cache ...` commands: statistics, invalidation and warming through the cache gRPC service (CACHE_ADDR)."""

from __future__ import annotations

import json
from typing import Annotated

import grpc
import httpx
import typer
from google.protobuf.json_format import MessageToDict
from rich.console import Console
from rich.table import Table

from dra.v1 import cache_pb2, cache_pb2_grpc
from dra_common.grpc_utils import channel
from dra_common.settings import Settings

app = typer.Typer(no_args_is_help=True)
console = Console()


def _stub(settings: Settings) -> cache_pb2_grpc.CacheServiceStub:
    return cache_pb2_grpc.CacheServiceStub(channel(settings.cache_addr))


def _fail(settings: Settings, exc: grpc.RpcError) -> typer.Exit:
    console.print(f"[red]cache service at {settings.cache_addr}: {exc.code().name}: {exc.details()}[/red]")
    return typer.Exit(1)


def _as_dict(message: cache_pb2.CacheStatsResponse) -> dict[str, object]:
    return MessageToDict(
        message,
        always_print_fields_with_no_presence=True,
        preserving_proto_field_name=True,
        unquote_int64_if_possible=True,
    )


@app.command()
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw statistics as JSON.")] = False,
) -> None:
    """Hit rates, entries, average quality, memory and the quality distribution."""
    settings = Settings()
    try:
        response = _stub(settings).Stats(cache_pb2.CacheStatsRequest(), timeout=settings.rpc_deadline_s)
    except grpc.RpcError as exc:
        raise _fail(settings, exc) from exc
    if as_json:
        print(json.dumps(_as_dict(response), indent=2))
        return
    if not response.redis_available:
        console.print("[yellow]Redis is unreachable: the cache is degraded (every lookup is a miss).[/yellow]")
        return
    table = Table(title="Cache statistics", show_header=False)
    table.add_row(f"hit rate (last {response.window_seconds // 60} min)", f"{response.hit_rate:.3f}")
    table.add_row("lookups in window", str(response.window_lookups))
    table.add_row("hit rate since start", f"{response.hit_rate_since_start:.3f}")
    table.add_row("hits / misses", f"{response.hits} / {response.misses}")
    table.add_row("entries", str(response.total_entries))
    table.add_row("average quality", f"{response.avg_quality_score:.3f}")
    table.add_row("memory used", f"{response.memory_used_bytes / 1024:.1f} KiB")
    dist = response.quality_distribution
    table.add_row("excellent (>= 0.9)", str(dist.excellent))
    table.add_row("good (0.7-0.9)", str(dist.good))
    table.add_row("fair (0.5-0.7)", str(dist.fair))
    table.add_row("poor (< 0.5)", str(dist.poor))
    console.print(table)


@app.command()
def invalidate(
    threshold: Annotated[float, typer.Option("--threshold", help="Drop entries with quality below this.")] = 0.0,
    source: Annotated[str, typer.Option(help="Drop entries containing this source.")] = "",
    model_version: Annotated[str, typer.Option(help="Drop entries made by this model version.")] = "",
    pattern: Annotated[str, typer.Option(help="Drop entries whose normalised query matches this glob.")] = "",
    drop_all: Annotated[bool, typer.Option("--all", help="Drop every entry.")] = False,
    force_refresh: Annotated[
        bool, typer.Option("--force-refresh", help="List dropped entries that had traffic, to recompute.")
    ] = False,
) -> None:
    """Drop cache entries matching every given criterion."""
    settings = Settings()
    request = cache_pb2.InvalidateRequest(
        quality_threshold=threshold,
        source=source,
        model_version=model_version,
        query_pattern=pattern,
        all=drop_all,
        force_refresh=force_refresh,
    )
    try:
        response = _stub(settings).Invalidate(request, timeout=settings.rpc_long_deadline_s)
    except grpc.RpcError as exc:
        raise _fail(settings, exc) from exc
    console.print(f"removed {response.removed} entries")
    for key in response.refresh:
        console.print(f"  to refresh: {key.query!r} (max_results={key.max_results}, model={key.model_version or '-'})")


def _plan(settings: Settings, queries: list[str], recent_days: int, limit: int) -> list[str]:
    request = cache_pb2.WarmPlanRequest(queries=queries, recent_days=recent_days, limit=limit)
    try:
        return list(_stub(settings).WarmPlan(request, timeout=settings.rpc_deadline_s).queries)
    except grpc.RpcError as exc:
        raise _fail(settings, exc) from exc


@app.command("warm-plan")
def warm_plan(
    query: Annotated[list[str] | None, typer.Option("--query", "-q", help="A query to warm (repeatable).")] = None,
    recent_days: Annotated[int, typer.Option(help="Add the most frequent queries of the last N days.")] = 7,
    limit: Annotated[int, typer.Option(help="At most this many recent queries.")] = 50,
) -> None:
    """Show which queries a warm-up would run."""
    for item in _plan(Settings(), query or [], recent_days, limit):
        print(item)


@app.command()
def warm(
    query: Annotated[list[str] | None, typer.Option("--query", "-q", help="A query to warm (repeatable).")] = None,
    recent_days: Annotated[int, typer.Option(help="Add the most frequent queries of the last N days.")] = 7,
    limit: Annotated[int, typer.Option(help="At most this many recent queries.")] = 50,
) -> None:
    """Warm the cache: plan the queries here, then let the gateway run them (POST /api/v2/cache/warm)."""
    settings = Settings()
    queries = _plan(settings, query or [], recent_days, limit)
    if not queries:
        console.print("nothing to warm")
        return
    url = settings.gateway_url.rstrip("/") + "/api/v2/cache/warm"
    try:
        response = httpx.post(url, json={"queries": queries}, timeout=max(60.0, 5.0 * len(queries)))
    except httpx.HTTPError as exc:
        console.print(f"[red]gateway at {url}: {exc}[/red]")
        raise typer.Exit(1) from exc
    if response.status_code != 200:
        console.print(f"[red]gateway answered {response.status_code}: {response.text[:500]}[/red]")
        raise typer.Exit(1)
    print(json.dumps(response.json(), indent=2))
