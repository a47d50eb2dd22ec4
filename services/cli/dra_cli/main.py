"""`dra`: the operator command. Each sub-command group lives in its own module of this package."""

from __future__ import annotations

import typer

from dra_cli import cache, catalog, db, dev, model, quality, router

app = typer.Typer(help="Dataset Research Assistant operator tool.", no_args_is_help=True)
app.add_typer(db.app, name="db", help="Database schema (Alembic migrations).")
app.add_typer(catalog.app, name="catalog", help="Catalog: load, ingest, sync, stats.")
app.add_typer(model.app, name="model", help="Ranking model: train, validate, info, registry.")
app.add_typer(router.app, name="router", help="Router: validate, evaluate.")
app.add_typer(quality.app, name="quality", help="Quality checks, reports, alerts.")
app.add_typer(cache.app, name="cache", help="Cache statistics, invalidation, warming.")
app.command("dev", help="Run the whole stack as local processes (what `make dev` calls).")(dev.run)
app.command("eval", help="Offline evaluation of retrieval and ranking (IR metrics).")(model.evaluate)

if __name__ == "__main__":
    app()
