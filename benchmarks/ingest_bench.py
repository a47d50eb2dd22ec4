"""Ingest benchmark: generate N catalog records, ingest and index them end to end, report records/s and peak memory.

End to end means what `dra catalog ingest file.jsonl` does: read and parse the JSON Lines file, validate every
record, compute content hashes and quality, embed the records (MiniLM, batched), and upsert them into Postgres.
Generating the file is not timed. Runs against a scratch database created next to DATABASE_URL and dropped
afterwards (unless --keep-db), so it never touches a real catalog.

    .venv/bin/python benchmarks/ingest_bench.py --records 100000
    .venv/bin/python benchmarks/ingest_bench.py --records 5000 --no-embed
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import resource
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy.engine import make_url

from dra_common import migrate
from dra_common.catalog.embedding import PRECISIONS, CatalogEmbedder
from dra_common.catalog.formats import ParseOptions, read_items
from dra_common.catalog.store import Ingestor
from dra_common.settings import Settings

_VOCABULARY = (
    "population housing price index rental resale flat household income expenditure employment labour force wage "
    "education school enrolment university graduates literacy health hospital admissions mortality birth death rate "
    "disease vaccination dengue air quality rainfall temperature humidity carbon emissions energy electricity "
    "water consumption transport bus train passenger traffic road accidents taxi carpark cycling trade exports "
    "imports gdp growth inflation consumer retail tourism visitor arrivals hotel occupancy crime police court "
    "survey census annual monthly quarterly district region planning area subzone age sex ethnic group elderly "
    "youth students teachers emotion eeg experiment participants images text corpus sentiment classification"
)
WORDS = tuple(_VOCABULARY.split())
PUBLISHERS = ("Department of Statistics", "Land Transport Authority", "Ministry of Health", "World Bank",
              "National Environment Agency", "Housing and Development Board", "Example University Lab",
              "Ministry of Education", "Urban Redevelopment Authority", "Open Data Collective")
THEMES = ("psychology", "machine_learning", "climate_environment", "economics_finance", "health_medicine",
          "education", "transport_urban", "general")


def _landing(source: str, i: int) -> tuple[str, str]:
    """A source id and landing page following the source's real URL scheme."""
    if source == "data_gov_sg":
        sid = "d_" + hashlib.md5(f"bench-{i}".encode()).hexdigest()  # noqa: S324 - an id, not security
        return sid, f"https://data.gov.sg/datasets/{sid}/view"
    if source == "world_bank":
        sid = f"BENCH.GEN.{i}"
        return sid, f"https://data.worldbank.org/indicator/{sid}"
    if source == "zenodo":
        sid = str(10_000_000 + i)
        return sid, f"https://zenodo.org/records/{sid}"
    if source == "kaggle":
        sid = f"bench-owner/bench-dataset-{i}"
        return sid, f"https://www.kaggle.com/datasets/{sid}"
    sid = str(100_000 + i)
    return sid, f"https://archive.ics.uci.edu/dataset/{sid}/bench-{i}"


def generate(path: Path, count: int, seed: int = 7) -> None:
    """Write `count` synthetic records (realistic lengths, valid per-source URLs) as JSON Lines."""
    rng = random.Random(seed)
    sources = ("data_gov_sg", "world_bank", "zenodo", "kaggle", "uci_ml")
    with path.open("w", encoding="utf-8") as fh:
        for i in range(count):
            source = sources[i % len(sources)]
            sid, landing = _landing(source, i)
            title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 10))).capitalize()
            sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))).capitalize() + "."
                         for _ in range(rng.randint(2, 4))]
            start = rng.randint(1960, 2015)
            record: dict[str, Any] = {
                "source": source, "source_id": sid, "title": f"{title} {i}", "description": " ".join(sentences),
                "publisher": rng.choice(PUBLISHERS), "keywords": rng.sample(WORDS, rng.randint(3, 8)),
                "themes": rng.sample(THEMES, rng.randint(1, 2)), "geography": [rng.choice(["SG", "global", "US"])],
                "temporal_start": str(start), "temporal_end": str(rng.randint(start, 2024)),
                "update_frequency": rng.choice(["annual", "monthly", "irregular", "static"]),
                "formats": rng.sample(["CSV", "JSON", "API", "XLSX", "GEOJSON"], rng.randint(1, 3)),
                "license": "CC BY 4.0", "landing_page": landing,
                "source_modified": f"{rng.randint(2015, 2024)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T00:00:00Z",
            }
            fh.write(json.dumps(record) + "\n")


def scratch_settings(base: Settings, state_dir: Path) -> Settings:
    """Settings pointing at a new scratch database (created and migrated)."""
    url = make_url(base.sqlalchemy_url)
    name = f"dra_bench_{uuid.uuid4().hex[:8]}"
    database_url = url.set(database=name).render_as_string(hide_password=False)
    settings = base.model_copy(update={
        "database_url": database_url.replace("postgresql+psycopg2://", "postgresql://", 1),
        "redis_prefix": f"dra-bench-{name}:", "state_dir": state_dir,
    })
    migrate.upgrade(settings)
    return settings


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class TreeMemory:
    """Samples the resident memory of this process and its children (embedding workers) every 0.5 s."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
            self.peak_mb = max(self.peak_mb, total / 2**20)
            self._stop.wait(0.5)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    """Run the benchmark and print (and optionally save) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500, help="records per database transaction")
    parser.add_argument("--embed-batch", type=int, default=32, help="texts per forward pass")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="torch threads (in-process)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="embedding worker processes, one torch thread each (1 = in-process)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="auto: the fastest that agrees with fp32 (int8 ONNX model cached in MODEL_CACHE_DIR)")
    parser.add_argument("--no-embed", action="store_true")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    base = Settings()
    work = Path(tempfile.mkdtemp(prefix="dra-ingest-bench-"))
    data = work / "records.jsonl"
    started = time.perf_counter()
    generate(data, args.records)
    generation_s = time.perf_counter() - started
    settings = scratch_settings(base, work / "state")
    load_before = os.getloadavg()
    embedder = None
    model_load_s = 0.0
    embed_s = 0.0
    if not args.no_embed:
        started = time.perf_counter()
        embedder = CatalogEmbedder(threads=args.threads, batch_size=args.embed_batch, precision=args.precision,
                                   workers=args.workers, onnx_dir=Path(base.model_cache_dir))
        model_load_s = time.perf_counter() - started
        inner = embedder.embed

        def timed(texts: Any) -> Any:
            nonlocal embed_s
            t0 = time.perf_counter()
            try:
                return inner(texts)
            finally:
                embed_s += time.perf_counter() - t0

        embedder.embed = timed  # type: ignore[method-assign]
    done = 0
    last_print = time.perf_counter()

    def progress(n: int) -> None:
        nonlocal done, last_print
        done += n
        if time.perf_counter() - last_print > 30:
            last_print = time.perf_counter()
            print(f"  {done}/{args.records} records, {done / (last_print - t_start):.0f}/s, "
                  f"peak {memory.peak_mb:.0f} MB, load {os.getloadavg()[0]:.1f}", flush=True)

    memory = TreeMemory()
    try:
        with memory:
            t_start = time.perf_counter()
            cpu_start = cpu_seconds()
            fmt, items = read_items(data, None, ParseOptions())
            ingestor = Ingestor(settings, origin=str(data), fmt=fmt, embed=not args.no_embed, embedder=embedder,
                                batch_size=args.batch_size, on_progress=progress, publish=False)
            with ingestor:
                ingestor.add_many(items)
            total_s = time.perf_counter() - t_start
            if embedder is not None:
                embedder.close()  # workers' CPU time is counted once they have exited
            cpu_s = cpu_seconds() - cpu_start
        report = ingestor.report
        assert report is not None
    finally:
        if not args.keep_db:
            migrate.drop_database(settings)
    figures = {
        "records": args.records,
        "added": report.added,
        "rejected": report.rejected,
        "embedded": report.embedded,
        "seconds": round(total_s, 1),
        "records_per_s": round(args.records / total_s, 1),
        "embedding_s": round(embed_s, 1),
        "embedding_records_per_s": round(report.embedded / embed_s, 1) if embed_s else None,
        "rest_s": round(total_s - embed_s, 1),
        "model_load_s": round(model_load_s, 1),
        "precision": (",".join(sorted(embedder.worker_precisions)) or embedder.precision) if embedder else None,
        "torch_threads": args.threads if embedder else None,
        "embed_batch": args.embed_batch,
        "db_batch": args.batch_size,
        "peak_rss_mb": round(max(peak_rss_mb(), memory.peak_mb), 0),
        "peak_rss_main_mb": round(peak_rss_mb(), 0),
        "cpu_s": round(cpu_s, 1),
        "records_per_cpu_s": round(args.records / cpu_s, 1) if cpu_s else None,
        "workers": args.workers if embedder else None,
        "generation_s": round(generation_s, 1),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    print(json.dumps(figures, indent=2))
    target = "met" if figures["records_per_s"] >= 300 and figures["peak_rss_mb"] < 3072 else "NOT met"
    print(f"{figures['records_per_s']} records/s end to end, peak {figures['peak_rss_mb']:.0f} MB "
          f"(target >= 300 records/s and < 3 GB: {target})")
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
