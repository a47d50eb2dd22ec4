"""`dra model ...` (train, validate, info, registry) and `dra eval` (offline IR evaluation)."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from dra_common.log import setup_logging
from dra_common.settings import Settings

app = typer.Typer(no_args_is_help=True)
# Wide enough for the metric tables when the output is a file or a pipe.
out = Console(width=None if os.isatty(1) else 150)
err = Console(stderr=True)

RUNBOOK_CASES = (
    ("psychology research data", "kaggle"),
    ("singapore housing prices", "data_gov_sg"),
    ("climate change data", "world_bank"),
)


def _setup(settings: Settings) -> None:
    setup_logging("cli", os.environ.get("DRA_CLI_LOG_LEVEL", "WARNING"))
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(max(1, settings.torch_threads))
    threadpool_limits(1, user_api="blas")


def serving_encoder(settings: Settings) -> Any:
    """The query encoder the ranking service uses (runtime, threads and calibrated precision)."""
    from dra_common.encoder import query_encoder
    from dra_ranking.encoding import QueryEncoder

    encoder = QueryEncoder(query_encoder(settings, max(1, settings.torch_threads)))
    encoder.calibrate()
    return encoder


def serving_route(settings: Settings, encoder: Any) -> Any:
    """The router's answer for a query (domain, confidence, geography) from a router trained in-process as
    the service trains it, on the already loaded query encoder, so training and evaluation give the model
    what it gets when serving; None (no domains) when the router cannot be built."""
    from dra_cli.router import in_process_router

    try:
        router = in_process_router(settings, with_feedback=False, encoder=encoder.encoder)
    except Exception as exc:  # noqa: BLE001 - evaluation still works, only without the router's domains
        err.print(f"[yellow]router unavailable ({exc}); queries carry no domain[/yellow]")
        return None

    def route(text: str, embedding: Any) -> tuple[str, float, tuple[str, ...]]:
        decision = router.route(text, embedding)
        return decision.domain, decision.confidence, decision.geography

    return route


def _resolve_model(settings: Settings, model_path: Path | None, version: str | None) -> tuple[Any, str]:
    """A model to evaluate: a file, a registry version, the registry's active one, or the shipped one."""
    from dra_ranking import registry

    if model_path is not None:
        model, meta = registry.load_checkpoint(model_path)
        return model, str(meta.get("version") or model_path)
    try:
        row = registry.get_version(settings, version) if version else registry.active_version(settings)
    except Exception:  # noqa: BLE001 - no database: fall back to the shipped model
        row = None
        if version:
            raise typer.BadParameter(f"model version {version!r}: the registry (Postgres) is unreachable") from None
    if version and row is None:
        raise typer.BadParameter(f"model version {version!r} is not registered")
    if row is None:
        row = registry.shipped_manifest(settings)
        if row is None:
            raise typer.BadParameter("no model: pass --model-path, or ship models/manifest.json")
    loaded = registry.load_version(settings, row)
    return loaded.model, loaded.version


def _announce(settings: Settings) -> str:
    """Tell running ranking services that the registry changed (they reload the active/candidate versions)."""
    from dra_common.catalog_version import model_channel
    from dra_common.redis_client import redis_client

    try:
        receivers = redis_client(settings).publish(model_channel(settings), "changed")
        return f"{receivers} ranking service(s) notified"
    except Exception as exc:  # noqa: BLE001
        return f"ranking services not notified ({type(exc).__name__}); use the Reload RPC or restart them"


def _print_results(results: list[Any], title: str) -> None:
    from dra_ranking import evaluation

    for res in results:
        header, rows = evaluation.table_rows(res)
        table = Table(title=f"{title}: {res.name} ({res.level} level, {res.queries} queries)", show_edge=False)
        for h in header:
            table.add_column(h, justify="left" if h == "system" else "right")
        for row in rows:
            table.add_row(*row)
        out.print(table)
        for note in res.notes:
            out.print(note, highlight=False)


def _bad_input(exc: Exception) -> typer.Exit:
    """Exit status 2 after saying what is wrong with a file or option the user gave."""
    err.print(f"[red]error:[/red] {exc}", highlight=False)
    return typer.Exit(2)


def _corpus_index(settings: Settings, encoder: Any, path: Path, fmt: str | None, mapping: list[str]) -> Any:
    """The index over a test collection's documents: unusable input records listed (the first ten), then a
    progress bar while the documents are embedded (once: later runs read the cache)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dra_common.catalog.formats import InputError
    from dra_ranking import pipeline
    from dra_ranking.catalog import load_corpus

    try:
        corpus = load_corpus(path, fmt, mapping)
    except InputError as exc:
        raise _bad_input(exc) from None
    for line in corpus.rejected[:10]:
        err.print(f"[yellow]skipped[/yellow] {line}", highlight=False)
    if len(corpus.rejected) > 10:
        err.print(f"… and {len(corpus.rejected) - 10} more records skipped", highlight=False)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    try:
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task(f"embedding {path.name}", total=len(corpus.records))
            index, origin = pipeline.corpus_index(settings, encoder, corpus, path.name,
                                                  on_progress=lambda n: progress.advance(task, n))
    except ValueError as exc:
        raise _bad_input(exc) from None
    err.print(f"test collection: {origin.size} documents ({corpus.fmt}), {len(corpus.rejected)} skipped",
              highlight=False)
    return index, origin


def _write_per_query(results: list[Any], path: Path | None) -> None:
    from dra_ranking import evaluation

    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(row) + "\n" for row in evaluation.per_query_rows(results)), encoding="utf-8")
    out.print(f"wrote per-query metrics to {path}", highlight=False)


def _targets_summary(results: list[Any]) -> list[str]:
    """One line per target of the issue, computed from the results."""
    from dra_ranking import evaluation

    lines: list[str] = []
    for res in results:
        model = res.metrics.get("model")
        fused = res.metrics.get("fused")
        if not model:
            continue
        if res.level == "source" and "heldout" in res.name:
            v = model.get("ndcg@3", 0.0)
            lines.append(f"source-level NDCG@3 on {res.name}: {v:.3f} (target >= 0.90: {'met' if v >= 0.9 else 'NOT met'})")
        if res.level == "dataset" and "heldout" in res.name:
            gain = evaluation.improvement(res, "ndcg@10")
            if gain is not None:
                lines.append(f"dataset-level NDCG@10 on {res.name}: {gain * 100:+.1f}% vs BM25 "
                             f"(target >= +15%: {'met' if gain >= 0.15 else 'NOT met'})")
        if fused:
            worse = [m for m in ("ndcg@3", "ndcg@10") if m in model and model[m] + 1e-9 < fused.get(m, 0.0)]
            lines.append(f"full model vs fused candidates on {res.name}: "
                         + ("never below" if not worse else "BELOW on " + ", ".join(worse)))
    return lines


@app.command("train")
def train(
    quick: bool = typer.Option(False, "--quick", help="At most 20 epochs (about 2 minutes) instead of 100."),
    mode: str = typer.Option("train", "--mode", help="train, or validate a checkpoint given by --model-path."),
    model_path: Path | None = typer.Option(None, "--model-path", "--model_path", help="Checkpoint to validate."),
    output_dir: Path | None = typer.Option(None, "--output-dir", help="Where the version folder goes "
                                           "(default DATA_DIR/models)."),
    catalog: str = typer.Option("auto", "--catalog", help="auto (Postgres, else curated files), db or curated."),
    epochs: int | None = typer.Option(None, "--epochs", help="Override the maximum number of epochs."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (default 13): compare runs across seeds."),
    uncurated: bool = typer.Option(True, "--uncurated-groups/--curated-groups", help="Build the dataset groups on "
                                   "the catalog without keywords and themes (default), or on the catalog as it is."),
    mappings: Path | None = typer.Option(None, "--mappings", help="Training mappings file (default: repo root)."),
    judgments: Path | None = typer.Option(None, "--judgments", help="Judgments JSONL (default: shipped eval set)."),
    register: bool = typer.Option(True, "--register/--no-register", help="Add the new version to the registry."),
    activate: bool = typer.Option(False, "--activate", help="Make the new version the active one."),
    candidate: bool = typer.Option(False, "--candidate", help="Make the new version the A/B-test candidate."),
    ship: bool = typer.Option(False, "--ship", help="Write to MODELS_DIR/ranking and make it the shipped default "
                              "(models/manifest.json)."),
) -> None:
    """Train the ranking model (curriculum, early stopping, best checkpoint) or validate one (--mode validate)."""
    settings = Settings()
    _setup(settings)
    if mode == "validate":
        if model_path is None:
            raise typer.BadParameter("--mode validate needs --model-path")
        evaluate(markdown=None, model_path=model_path, version=None, catalog=catalog, trec_run=None, trec_qrels=None,
                 trec_topics=None, corpus=None, corpus_format=None, corpus_map=None, write_runs=None, per_query=None,
                 mappings=mappings, judgments=judgments, include_train=False, no_router=False)
        return
    if mode != "train":
        raise typer.BadParameter(f"--mode must be train or validate, not {mode!r}")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dra_common import mappings as mapping_parser
    from dra_ranking import evaluation, pipeline, registry, training

    started = time.monotonic()
    cfg = training.TrainConfig.for_mode("quick" if quick else "full", max_epochs=epochs, seed=seed, uncurated=uncurated)
    encoder = serving_encoder(settings)
    err.print("loading the catalog …")
    index, origin = pipeline.build_index(settings, encoder, prefer=catalog)
    mappings = mappings or getattr(settings, "training_mappings_path", None)
    parsed = mapping_parser.parse_file(mappings)
    for e in parsed.errors:
        err.print(f"[yellow]mapping rejected[/yellow] {e}", highlight=False)
    try:
        mapping_parser.write_processed(parsed.records, mapping_parser.processed_path(settings))
    except OSError as exc:
        err.print(f"could not write processed mappings: {exc}")
    judged_train = evaluation.load_judgments(judgments, "train")
    feedback = training.load_feedback(settings)
    err.print(f"catalog: {origin.size} datasets ({origin.origin}); mappings: {len(parsed.split('train'))} train / "
              f"{len(parsed.split('heldout'))} held out (not used); judged queries: {len(judged_train)} train; "
              f"feedback rows: {len(feedback)}")
    err.print("building training data (pseudo-queries, augmentation, hard negatives) …")
    route = serving_route(settings, encoder)
    data = training.build_training_data(index, encoder, parsed.split("train"), judged_train, feedback, cfg, route)
    err.print(f"training data: {json.dumps(data.counts)}")
    folder = output_dir or (Path(settings.models_dir) / "ranking" if ship else Path(settings.data_dir) / "models")
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[status]}")]
    with Progress(*columns, console=err) as progress:
        task = progress.add_task(f"{cfg.mode} training", total=cfg.max_epochs, status="")

        def on_epoch(epoch: int, stats: dict[str, float]) -> None:
            status = " ".join(f"{k.replace('val_', '')}={v:.3f}" for k, v in stats.items()
                              if k.startswith("val_") and v is not None)
            progress.update(task, completed=epoch, status=f"loss={stats['train_loss']:.3f} {status}"
                            + (" *" if stats.get("best") else ""))

        result = training.train(index, encoder, data, cfg, folder, on_epoch=on_epoch)
    out.print(f"best checkpoint: {result.path} (version {result.version}, sha256 {result.manifest['sha256'][:12]}…)")
    if result.plot_path:
        out.print(f"learning curves: {result.plot_path}")
    model, _ = registry.load_checkpoint(result.path)
    results = pipeline.evaluate_sets(index, encoder, model, mappings_path=mappings, judgments_path=judgments,
                                     route=route)
    _print_results(results, "held-out evaluation")
    result.manifest["metrics"]["heldout"] = {r.name: r.metrics for r in results}
    registry.atomic_write_json(result.path.parent / registry.MANIFEST, result.manifest)
    for line in _targets_summary(results):
        out.print(line, highlight=False)
    if ship:
        entry = {**result.manifest, "path": registry.relative_path(settings, result.path)}
        registry.atomic_write_json(Path(settings.models_dir) / registry.SHIPPED_MANIFEST, {"ranking": entry})
        out.print(f"shipped as the default model: {Path(settings.models_dir) / registry.SHIPPED_MANIFEST}")
    if register:
        try:
            registry.register(settings, result.manifest, result.path)
            note = "registered"
            if activate:
                registry.activate(settings, result.version)
                note += ", activated"
            elif candidate:
                registry.set_candidate(settings, result.version)
                note += ", candidate"
            if activate or candidate:
                note += "; " + _announce(settings)
            out.print(f"{result.version}: {note}")
        except Exception as exc:  # noqa: BLE001 - training output stays usable without a database
            err.print(f"[yellow]not registered[/yellow] ({type(exc).__name__}: {exc})")
    out.print(f"total time {time.monotonic() - started:.0f}s")


@app.command("info")
def info(
    model_path: Path | None = typer.Option(None, "--model-path", help="Checkpoint (default: the active/shipped one)."),
    version: str | None = typer.Option(None, "--version", help="A registered version."),
) -> None:
    """The runbook's model checks: parameters, memory, inference time, predictions for its test cases."""
    settings = Settings()
    _setup(settings)
    import psutil

    encoder = serving_encoder(settings)
    encoder.encode_query("warm up")
    before = psutil.Process().memory_info().rss / 1024 / 1024
    model, name = _resolve_model(settings, model_path, version)
    after = psutil.Process().memory_info().rss / 1024 / 1024
    model.attach_encoder(encoder)
    model.predict_relevance("warm up", "kaggle")
    param_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 1024 / 1024
    out.print(f"Model version: {name}")
    out.print(f"Model memory usage: {after - before:.1f} MB (RSS after loading; parameters {param_mb:.1f} MB)")
    out.print(f"Model parameters: {model.count_parameters():,}")
    queries = [f"test query {i}" for i in range(10)]
    start = time.perf_counter()
    for q in queries:
        model.predict_relevance(q, "kaggle")
    avg = (time.perf_counter() - start) / len(queries) * 1000
    out.print(f"Average inference time: {avg:.1f} ms (predict_relevance, query encoding included)")
    out.print("\nTest case predictions:")
    for query, source in RUNBOOK_CASES:
        out.print(f"  {query} → {source}: {model.predict_relevance(query, source):.3f}")


@app.command("list")
def list_versions() -> None:
    """Registered model versions."""
    from dra_ranking import registry

    settings = Settings()
    rows = registry.list_versions(settings)
    table = Table(title="model versions", show_edge=False)
    for col in ("version", "status", "created", "activated", "sha256", "path"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["version"], r["status"], (r["created_at"] or "")[:19], (r["activated_at"] or "")[:19],
                      r["sha256"][:12], r["path"])
    out.print(table)


@app.command("register")
def register_cmd(
    path: Path = typer.Argument(..., help="A model folder (with manifest.json) or its model.pt."),
) -> None:
    """Add a trained checkpoint to the registry."""
    from dra_ranking import registry

    settings = Settings()
    folder = path if path.is_dir() else path.parent
    manifest = registry.read_manifest(folder / registry.MANIFEST)
    ckpt = folder / manifest.get("file", registry.CHECKPOINT)
    actual = registry.sha256_file(ckpt)
    if manifest.get("sha256") and manifest["sha256"] != actual:
        raise typer.BadParameter(f"{ckpt} has sha256 {actual}, the manifest says {manifest['sha256']}")
    row = registry.register(settings, manifest, ckpt)
    out.print(f"{row['version']}: {row['status']}")


@app.command("activate")
def activate_cmd(version: str = typer.Argument(..., help="Registered version to make active.")) -> None:
    """Make a version the active one and tell the ranking services to load it."""
    from dra_ranking import registry

    settings = Settings()
    try:
        row = registry.activate(settings, version)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from None
    out.print(f"{row['version']} active; {_announce(settings)}")


@app.command("candidate")
def candidate_cmd(
    version: str = typer.Argument(..., help="Registered version to load as the A/B candidate ('none' clears)."),
) -> None:
    """Set (or clear) the A/B-test candidate version."""
    from dra_ranking import registry

    settings = Settings()
    try:
        row = registry.set_candidate(settings, None if version == "none" else version)
    except (KeyError, ValueError) as exc:
        raise typer.BadParameter(str(exc.args[0])) from None
    out.print(f"candidate: {row['version'] if row else 'none'}; {_announce(settings)}")


@app.command("rollback")
def rollback_cmd() -> None:
    """Re-activate the previously active version."""
    from dra_ranking import registry

    settings = Settings()
    try:
        row = registry.rollback(settings)
    except LookupError as exc:
        raise typer.BadParameter(str(exc)) from None
    out.print(f"rolled back to {row['version']}; {_announce(settings)}")


def evaluate(
    markdown: Path | None = typer.Option(None, "--markdown", help="Also write the tables as Markdown here."),
    model_path: Path | None = typer.Option(None, "--model-path", help="Checkpoint (default: active/shipped)."),
    version: str | None = typer.Option(None, "--version", help="A registered version."),
    catalog: str = typer.Option("auto", "--catalog", help="auto (Postgres, else curated files), db or curated."),
    trec_run: Path | None = typer.Option(None, "--trec-run", exists=True, dir_okay=False,
                                         help="Score this TREC run file (needs --trec-qrels)."),
    trec_qrels: Path | None = typer.Option(None, "--trec-qrels", exists=True, dir_okay=False,
                                           help="Qrels for --trec-run/--trec-topics (TREC, or BEIR's qrels TSV)."),
    trec_topics: Path | None = typer.Option(None, "--trec-topics", exists=True, dir_okay=False,
                                            help="Topics to run every system on (qid<TAB>query, JSONL such as BEIR's "
                                                 "queries.jsonl, or TREC <top> topics; needs --trec-qrels)."),
    corpus: Path | None = typer.Option(None, "--corpus", exists=True, dir_okay=False,
                                       help="Rank this test collection's documents instead of the catalog (BEIR / "
                                            "ir_datasets corpus.jsonl, CSV, DCAT, CKAN …; with --trec-topics)."),
    corpus_format: str | None = typer.Option(None, "--corpus-format", help="Format of --corpus (as `dra catalog "
                                             "ingest --format`; detected when omitted)."),
    corpus_map: list[str] | None = typer.Option(None, "--corpus-map", help="FIELD=COLUMN for --corpus, e.g. "
                                                "description=abstract."),
    write_runs: Path | None = typer.Option(None, "--write-runs", help="Write each system's TREC run here."),
    per_query: Path | None = typer.Option(None, "--per-query", help="Also write every query's metrics per system "
                                          "here (TSV, as trec_eval -q)."),
    mappings: Path | None = typer.Option(None, "--mappings", help="Training mappings file (default: repo root)."),
    judgments: Path | None = typer.Option(None, "--judgments", help="Judgments JSONL (default: shipped eval set)."),
    include_train: bool = typer.Option(False, "--include-train", help="Also score the train splits."),
    no_router: bool = typer.Option(False, "--no-router", help="Queries carry no domain (default: the domain a "
                                   "router trained in-process gives them, as when serving)."),
) -> None:
    """Offline evaluation (trec_eval): BM25, dense, fused candidates and the full model on held-out sets and TREC files."""
    settings = Settings()
    _setup(settings)
    from dra_ranking import evaluation, pipeline

    results: list[Any] = []
    if trec_run is not None:
        if trec_qrels is None:
            raise typer.BadParameter("--trec-run needs --trec-qrels")
        try:
            results.append(evaluation.score_trec_files(trec_run, trec_qrels))
        except ValueError as exc:
            raise _bad_input(exc) from None
        if trec_topics is None and model_path is None and version is None and markdown is None:
            _print_results(results, "TREC")
            _write_per_query(results, per_query)
            return
    if trec_topics is not None and trec_qrels is None:
        raise typer.BadParameter("--trec-topics needs --trec-qrels")
    if corpus is not None and trec_topics is None:
        raise typer.BadParameter("--corpus needs --trec-topics and --trec-qrels (its queries and judgments)")
    mappings = mappings or getattr(settings, "training_mappings_path", None)
    encoder = serving_encoder(settings)
    model, name = _resolve_model(settings, model_path, version)
    if corpus is not None:
        index, origin = _corpus_index(settings, encoder, corpus, corpus_format, corpus_map or [])
    else:
        index, origin = pipeline.build_index(settings, encoder, prefer=catalog)
    route = None if no_router else serving_route(settings, encoder)
    if trec_topics is not None:
        assert trec_qrels is not None
        try:
            results.append(pipeline.evaluate_topics(index, encoder, model, trec_topics, trec_qrels, write_runs, route))
        except ValueError as exc:
            raise _bad_input(exc) from None
    if corpus is None and (trec_topics is None or include_train or markdown is not None):
        results.extend(pipeline.evaluate_sets(index, encoder, model, mappings_path=mappings, judgments_path=judgments,
                                              include_train=include_train, route=route))
    if not results:
        err.print("nothing to evaluate: no held-out mappings or judgments found")
        raise typer.Exit(1)
    _print_results(results, f"model {name}")
    _write_per_query(results, per_query)
    summary = _targets_summary(results)
    for line in summary:
        out.print(line, highlight=False)
    if markdown is not None:
        options = [("--catalog", catalog if catalog != "auto" and corpus is None else None),
                   ("--corpus", corpus), ("--corpus-format", corpus_format),
                   *(("--corpus-map", m) for m in corpus_map or []), ("--trec-topics", trec_topics),
                   ("--trec-qrels", trec_qrels), ("--model-path", model_path), ("--version", version),
                   ("--include-train", include_train and corpus is None), ("--no-router", no_router),
                   ("--markdown", markdown)]
        command = " ".join(["dra eval"] + [flag if value is True else f"{flag} {value}" for flag, value in options
                                           if value])
        preface = (
            "# Offline evaluation\n\n"
            f"Generated by `{command}` with model `{name}` over the {origin.origin} "
            f"{'' if corpus is not None else 'catalog '}"
            f"({origin.size} datasets). Metrics by trec_eval (pytrec_eval). Source-level gains are 100 × the mapping relevance; "
            "binary source metrics count relevance >= 0.5. Dataset-level grades are 0–3.\n\n"
            "Systems: BM25 alone (bm25s, stemmed, title weighted ×2), dense alone (all-MiniLM-L6-v2 cosine), "
            "fused candidates (reciprocal rank fusion, k=60, top 100 of each), full model "
            "(QualityAwareRankingModel re-ranking the best 50 of the fused top 100; the rest keep the fused order). "
            + ("Each query carries the domain, confidence and geography the router (trained in-process on the train "
               "splits, as the service trains it) gives it, as when serving.\n\n" if route is not None
               else "No router: queries carry no domain.\n\n")
            + "\n".join(f"- {line}" for line in summary) + "\n"
        )
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(evaluation.to_markdown(results, preface), encoding="utf-8")
        out.print(f"wrote {markdown}")
