"""`dra router ...`: the runbook's weekly validation, the offline evaluation, and the mappings check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from dra_common.settings import Settings

app = typer.Typer(no_args_is_help=True)
err = Console(stderr=True)
out = Console()

# The runbook's compliance expectations for its four validation queries: domain and a source in the top 3.
EXPECTED = {
    "psychology research data": ("psychology", ("kaggle", "zenodo")),
    "singapore housing prices": ("economics_finance", ("data_gov_sg", "singstat")),
    "climate change indicators": ("climate_environment", ("world_bank", "zenodo")),
    "machine learning datasets": ("machine_learning", ("kaggle",)),
}


def _quiet_logs() -> None:
    from dra_common.log import setup_logging

    setup_logging("cli", "WARNING")


def in_process_router(settings: Settings, with_feedback: bool, encoder: Any = None) -> Any:
    """A router trained exactly as the service trains it (train splits only), on `encoder` (default: the
    service's query encoder, loaded here)."""
    from threadpoolctl import threadpool_limits

    from dra_common import mappings
    from dra_common.encoder import query_encoder
    from dra_common.evalsets import load_labelled
    from dra_router import feedback
    from dra_router.routing import build_router

    threadpool_limits(1, user_api="blas")
    with err.status("loading the sentence encoder and training the router..."):
        encoder = encoder or query_encoder(settings)
        parsed = mappings.parse_file(settings.training_mappings_path)
        loader = feedback.loader(settings) if with_feedback else None
        return build_router(encoder, parsed, load_labelled(), loader)


def _classify_remote(addr: str, query: str, timeout: float) -> dict[str, Any]:
    from dra.v1 import router_pb2, router_pb2_grpc
    from dra_common.grpc_utils import channel

    stub = router_pb2_grpc.RouterServiceStub(channel(addr))
    response = stub.Classify(router_pb2.ClassifyRequest(query=query), timeout=timeout)
    return {
        "domain": response.domain,
        "confidence": response.confidence,
        "sources": [s.source for s in response.recommended_sources],
        "singapore_first": response.singapore_first_applied,
    }


@app.command()
def validate(
    addr: str = typer.Option("", help="Ask a running router (host:port) instead of training one in-process."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The runbook's weekly validation: domain, confidence and top sources of four key queries.

    Exits 1 when a query gets another domain than expected or none of its expected sources in the top 3.
    """
    settings = Settings()
    _quiet_logs()
    results: list[dict[str, Any]] = []
    if addr:
        for query in EXPECTED:
            results.append({"query": query, **_classify_remote(addr, query, settings.rpc_long_deadline_s)})
    else:
        router = in_process_router(settings, with_feedback=True)
        for query in EXPECTED:
            d = router.classify(query)
            results.append({"query": query, "domain": d.domain, "confidence": d.confidence,
                            "sources": d.recommended_sources, "singapore_first": d.singapore_first_applied})
    failures = 0
    for r in results:
        domain, sources = EXPECTED[r["query"]]
        r["ok"] = r["domain"] == domain and any(s in r["sources"][:3] for s in sources)
        failures += not r["ok"]
    if as_json:
        out.print_json(json.dumps(results))
    else:
        print("Validation Results:")
        for r in results:
            mark = "ok" if r["ok"] else "FAILED"
            print(f"  {r['query']}:  [{mark}]")
            print(f"    Domain: {r['domain']}")
            print(f"    Confidence: {r['confidence']:.3f}")
            print(f"    Top sources: {r['sources'][:3]}")
    if failures:
        raise typer.Exit(1)


@app.command()
def evaluate(
    queries: Path = typer.Option(None, help="CSV with query,domain,singapore columns (default: the held-out split)."),
    split: str = typer.Option("heldout", help="Split of the shipped labelled set: heldout, train or all."),
    rounds: int = typer.Option(3, min=1, help="Timed runs per query (median kept)."),
    cv: bool = typer.Option(False, "--cv", help="Also print 5-fold cross-validation accuracy on the train split."),
    show_misses: bool = typer.Option(False, "--misses", help="List the queries the router got wrong."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Held-out domain accuracy, Singapore-first precision/recall and Classify latency (p50/p99)."""
    from dra_common.evalsets import load_labelled
    from dra_router import evaluation

    settings = Settings()
    _quiet_logs()
    if split not in ("heldout", "train", "all"):
        raise typer.BadParameter("split must be heldout, train or all")
    router = in_process_router(settings, with_feedback=False)
    if queries is not None:
        chosen = evaluation.load_queries(queries)
        title = f"query set {queries}"
    else:
        labelled = load_labelled()
        chosen = labelled if split == "all" else [q for q in labelled if q.split == split]
        title = f"labelled queries, {split} split"
    report = evaluation.evaluate(router, chosen, timing_rounds=rounds)
    payload = report.as_dict()
    if cv:
        payload["cv_accuracy_train"] = _cross_validation(router, settings)
    if as_json:
        out.print_json(json.dumps(payload))
        return
    print(evaluation.format_report(report, title))
    if cv:
        print(f"  5-fold cross-validation accuracy (train split): {payload['cv_accuracy_train']:.3f}")
    if show_misses and report.misses:
        table = Table("query", "expected", "got", "confidence", "SG expected", "SG applied")
        for m in report.misses:
            table.add_row(m.query[:70], m.expected_domain, m.domain, f"{m.confidence:.2f}",
                          str(m.expected_singapore), str(m.singapore_first))
        out.print(table)


def _cross_validation(router: Any, settings: Settings) -> float:
    from dra_common import mappings
    from dra_router.classifier import cross_validate, load_labelled, training_examples

    texts, labels = training_examples(load_labelled(), mappings.parse_file(settings.training_mappings_path).split("train"))
    return cross_validate(texts, router.encoder.encode(texts), labels)


@app.command("mappings")
def check_mappings(
    input_file: Path = typer.Option(None, "--input", help="Mappings markdown (default: TRAINING_MAPPINGS_PATH)."),
    output_file: Path = typer.Option(None, "--output", help="Processed JSON (default: DATA_DIR/processed/...)."),
) -> None:
    """Check training_mappings.md and rebuild data/processed/enhanced_training_mappings.json.

    Valid lines are written even when others are rejected; rejected lines are listed with their line
    numbers and the command exits 1.
    """
    from collections import Counter

    from dra_common import mappings

    settings = Settings()
    source = input_file or settings.training_mappings_path
    result = mappings.parse_file(source)
    target = output_file or mappings.processed_path(settings)
    mappings.write_processed(result.records, target)
    queries = {m.query for m in result.records}
    heldout = {m.query for m in result.records if m.split == mappings.HELDOUT}
    print(f"{source}: {len(result.records)} mappings, {len(queries)} queries ({len(heldout)} held out)")
    high = sum(m.score >= 0.8 for m in result.records)
    low = sum(m.score < 0.5 for m in result.records)
    print(f"  high (0.8+): {high}   medium (0.5-0.79): {len(result.records) - high - low}   low (<0.5): {low}")
    for section, n in Counter(m.section for m in result.records).items():
        print(f"  {section}: {n}")
    print(f"written: {target}")
    if result.errors:
        err.print(f"[red]{len(result.errors)} line(s) rejected:[/red]")
        for e in result.errors:
            err.print(f"  {e}", markup=False)
        raise typer.Exit(1)
