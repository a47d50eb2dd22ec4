"""`dra catalog ...`: load the curated catalog, ingest metadata files, sync live portals, show statistics."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from dra_common.log import setup_logging
from dra_common.settings import Settings

app = typer.Typer(no_args_is_help=True)
err = Console(stderr=True)
out = Console()


@contextmanager
def _progress(label: str, total: int | None, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields the `on_progress(n)` callback the store calls."""
    if not enabled:
        yield lambda n: None
        return
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


def _print_report(report: object, as_json: bool) -> None:
    from dra_common.catalog.store import IngestReport

    assert isinstance(report, IngestReport)
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
        return
    table = Table(title=f"ingest {report.ingest_id}: {report.origin} ({report.format})", show_edge=False)
    for name in ("added", "updated", "unchanged", "rejected", "withdrawn"):
        table.add_column(name, justify="right")
    table.add_row(*(str(getattr(report, n)) for n in ("added", "updated", "unchanged", "rejected", "withdrawn")))
    out.print(table)
    for rejection in report.rejections:
        out.print(f"[red]rejected[/red] {rejection.location}: {rejection.reason}", markup=True, highlight=False,
                  soft_wrap=True)
    for note in report.notes:
        out.print(f"note: {note}", highlight=False, soft_wrap=True)
    seconds = max(report.seconds, 1e-9)
    out.print(f"{report.summary()} in {report.seconds:.1f}s ({report.processed / seconds:.0f} records/s); "
              f"{report.embedded} embedded", highlight=False)
    if report.changed:
        out.print(f"catalog version {report.ingest_id} " + ("published" if report.version_published else
                  "NOT published (Redis unavailable; ranking picks it up on its next check)"), highlight=False)


def _count_lines(path: Path) -> int | None:
    if path.suffix.lower() not in {".jsonl", ".ndjson", ".csv", ".tsv"}:
        return None
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip()) - (1 if path.suffix.lower() in {".csv", ".tsv"} else 0)


def _resolve_source(settings: Settings, source: str | None, home: str | None, kind: str, country: str) -> dict:
    """Known sources, registering a custom one when `--source-home` names a portal outside the registry."""
    from dra_common.catalog.store import custom_source, known_sources, register_source, sync_sources

    sync_sources(settings)
    sources = known_sources(settings)
    if source and source not in sources:
        if not home:
            raise typer.BadParameter(
                f"unknown source {source!r} (registered: {', '.join(sorted(sources))}); for a portal outside the "
                "registry also pass --source-home URL (its landing pages must be on that host)", param_hint="--source")
        try:
            info = custom_source(source, home, kind=kind, country=country)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--source") from None
        register_source(settings, info)
        sources[source] = info
        err.print(f"registered custom source {source!r} (landing pages must match {info.url_pattern})",
                  highlight=False)
    return sources


@app.command()
def ingest(
    path: Path = typer.Argument(..., help="File to ingest (data.json, JSON-LD, CKAN response/dump, HTML, CSV, JSONL)"),
    fmt: str | None = typer.Option(None, "--format", "-f",
                                   help="dcat-us, dcat-ap, ckan, schema-org, csv, jsonl (detected when omitted)"),
    source: str | None = typer.Option(None, "--source", "-s", help="Source of records that name none (registered)"),
    mapping: list[str] | None = typer.Option(None, "--map", help="FIELD=COLUMN for csv/jsonl, e.g. title=name"),
    full_sync: bool = typer.Option(False, "--full-sync", help="Mark records of the source absent from the file "
                                                               "withdrawn"),
    no_embed: bool = typer.Option(False, "--no-embed", help="Skip embeddings (fill later with `dra catalog embed`)"),
    base_url: str | None = typer.Option(None, "--base-url", help="Portal base URL for CKAN dumps (landing pages)"),
    encoding: str | None = typer.Option(None, "--encoding", help="Text encoding of the file (default UTF-8)"),
    source_home: str | None = typer.Option(None, "--source-home", help="Register --source as a custom source with "
                                                                       "this home page"),
    source_kind: str = typer.Option("government portal", "--source-kind", help="Kind of a custom source"),
    source_country: str = typer.Option("global", "--source-country", help="ISO code of a custom source's country"),
    batch_size: int = typer.Option(500, "--batch-size", min=1, help="Records per database transaction"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
) -> None:
    """Ingest a metadata file: upsert by (source, source_id), report every rejection with its location."""
    from dra_common.catalog.formats import InputError, ParseOptions, read_items
    from dra_common.catalog.records import FieldMapping
    from dra_common.catalog.store import Ingestor

    settings = Settings()
    setup_logging("dra-cli", "WARNING")
    try:
        field_mapping = FieldMapping.parse(mapping)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--map") from None
    sources = _resolve_source(settings, source, source_home, source_kind, source_country)
    portal = base_url or (sources[source].home_page if source else None)
    try:
        detected, items = read_items(path, fmt, ParseOptions(mapping=field_mapping, portal_url=portal,
                                                             encoding=encoding))
    except InputError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    ingestor = Ingestor(settings, origin=str(path), fmt=detected, default_source=source, full_sync=full_sync,
                        embed=not no_embed, batch_size=batch_size, sources=sources)
    try:
        with _progress(f"ingesting {path.name} ({detected})", _count_lines(path), not as_json) as advance:
            ingestor.on_progress = advance
            with ingestor:
                ingestor.add_many(items)
    except InputError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    assert ingestor.report is not None
    _print_report(ingestor.report, as_json)
    if any(r.fatal for r in ingestor.report.rejections):
        raise typer.Exit(1)


@app.command()
def sync(
    connector: str = typer.Argument(..., help="data_gov_sg, world_bank, zenodo or ckan"),
    base_url: str | None = typer.Option(None, "--base-url", help="API base URL (default: the live portal; "
                                                                 "required for ckan)"),
    max_pages: int | None = typer.Option(None, "--max-pages", min=1, help="Stop after N pages (resume later)"),
    page_size: int | None = typer.Option(None, "--page-size", min=1, help="Records per request"),
    query: str | None = typer.Option(None, "--query", "-q", help="Search query (zenodo, ckan)"),
    source: str | None = typer.Option(None, "--source", "-s", help="Catalog source of a CKAN portal"),
    source_kind: str = typer.Option("government portal", "--source-kind", help="Kind, when --source is new"),
    source_country: str = typer.Option("global", "--source-country", help="Country code, when --source is new"),
    min_interval: float | None = typer.Option(None, "--min-interval", min=0.0, help="Seconds between requests"),
    full_sync: bool | None = typer.Option(None, "--full-sync/--no-full-sync",
                                          help="Withdraw records the completed listing no longer has "
                                               "(default: on for complete listings)"),
    restart: bool = typer.Option(False, "--restart", help="Ignore a saved resume point"),
    no_embed: bool = typer.Option(False, "--no-embed", help="Skip embeddings"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
) -> None:
    """Sync a live portal into the catalog, page by page, resumable, rate-limited, with retries."""
    from dra_common.catalog.connectors import CONNECTORS, HttpFetcher, make_connector, run_sync

    settings = Settings()
    setup_logging("dra-cli", "WARNING")
    if connector not in CONNECTORS:
        raise typer.BadParameter(f"choose one of: {', '.join(CONNECTORS)}", param_hint="CONNECTOR")
    if connector == "ckan":
        if not base_url or not source:
            raise typer.BadParameter("ckan needs --base-url (the portal) and --source (catalog source name)")
        _resolve_source(settings, source, base_url, source_kind, source_country)
    elif source and source != connector:
        raise typer.BadParameter(f"{connector} always writes source {connector!r}", param_hint="--source")
    cls = CONNECTORS[connector]
    fetcher = HttpFetcher(min_interval=cls.default_min_interval if min_interval is None else min_interval)
    try:
        conn = make_connector(connector, base_url=base_url, fetcher=fetcher, page_size=page_size, query=query,
                              **({"source": source} if source else {}))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    with fetcher, _progress(f"syncing {connector}", None, not as_json) as advance:
        result = run_sync(settings, conn, max_pages=max_pages, embed=not no_embed, full_sync=full_sync,
                          resume=not restart, on_progress=advance)
    _print_report(result.report, as_json)
    if not as_json:
        out.print(f"{result.pages} page(s), {result.requests} request(s), {result.retries} retried; "
                  + ("listing complete" if result.completed else f"next run resumes at {result.next_cursor!r}"),
                  highlight=False)
    if result.error:
        err.print(f"[red]error:[/red] {result.error}", highlight=False)
        raise typer.Exit(1)


@app.command("load-default")
def load_default(
    if_empty: bool = typer.Option(False, "--if-empty", help="Only when the catalog holds no dataset yet"),
    no_embed: bool = typer.Option(False, "--no-embed", help="Skip embeddings"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
) -> None:
    """Load the curated catalog shipped with the code (dra_common/data/catalog/*.jsonl)."""
    from dra_common.catalog.default import default_catalog_files, default_catalog_size, load_default_catalog
    from dra_common.catalog.store import catalog_is_empty

    settings = Settings()
    setup_logging("dra-cli", "WARNING")
    if if_empty and not catalog_is_empty(settings):
        out.print("catalog already holds datasets; default catalog not loaded (--if-empty)")
        return
    files = default_catalog_files()
    with _progress("loading default catalog", default_catalog_size(files), not as_json) as advance:
        report = load_default_catalog(settings, embed=not no_embed, on_progress=advance)
    assert report is not None
    _print_report(report, as_json)


@app.command()
def embed(batch_size: int = typer.Option(512, "--batch-size", min=1, help="Records per batch")) -> None:
    """Compute embeddings of active records stored without one (after --no-embed ingests)."""
    from dra_common.catalog.store import embed_missing, publish_catalog_version

    settings = Settings()
    setup_logging("dra-cli", "WARNING")
    with _progress("embedding", None) as advance:
        done = embed_missing(settings, batch_size=batch_size, on_progress=advance)
    out.print(f"{done} record(s) embedded")
    if done:
        from sqlalchemy import func, select

        from dra_common.db import session_scope
        from dra_common.models import CatalogIngest

        with session_scope(settings) as session:
            version = session.scalar(select(func.max(CatalogIngest.id)))
        if version:
            publish_catalog_version(settings, int(version))


@app.command()
def stats(as_json: bool = typer.Option(False, "--json", help="Print as JSON")) -> None:
    """Totals per source and geography, and the last ingest."""
    from dra_common.catalog.store import catalog_stats
    from dra_common.db import session_scope

    settings = Settings()
    with session_scope(settings) as session:
        data = catalog_stats(session)
    if as_json:
        out.print_json(json.dumps(data))
        return
    out.print(f"active datasets: {data['total']}  (withdrawn {data['withdrawn']}, embedded {data['embedded']}, "
              f"Singapore public sector {data['singapore_public_sector']})", highlight=False)
    table = Table("source", "datasets", show_edge=False)
    for name, count in data["by_source"].items():
        table.add_row(name, str(count))
    out.print(table)
    geo = Table("geography", "datasets", show_edge=False)
    for code, count in list(data["by_geography"].items())[:15]:
        geo.add_row(code, str(count))
    out.print(geo)
    last = data["last_ingest"]
    if last:
        out.print(f"last ingest {last['id']} at {last['finished_at']}: {last['origin']} — added {last['added']}, "
                  f"updated {last['updated']}, unchanged {last['unchanged']}, rejected {last['rejected']}, "
                  f"withdrawn {last['withdrawn']}", highlight=False)
