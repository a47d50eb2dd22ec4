"""Ranking latency and memory benchmark.

Builds a catalog of N datasets (the curated catalog, grown to N with perturbed copies: shuffled titles
and descriptions, new ids, embeddings = real embedding + noise, re-normalised, because encoding 100,000
texts would take an hour on this machine), serves it with the real RankingService over gRPC on
localhost, and times Rank for top-10 with query encoding included (each query text is new to the
encoder's cache). Prints p50/p95/p99, the bare query-encoding time and their ratio, and the process RSS.

    .venv/bin/python benchmarks/ranking_bench.py --sizes 10000 100000 --requests 300
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def grow_catalog(base: list, size: int, seed: int = 5) -> list:
    """`size` records: the curated ones, then perturbed copies of them."""
    from dra_ranking.catalog import DatasetRecord

    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    out = list(base[:size])
    i = 0
    while len(out) < size:
        src = base[i % len(base)]
        i += 1
        words = src.title.split()
        rng.shuffle(words)
        desc = src.description.split()
        cut = rng.randint(len(desc) // 2, len(desc)) if desc else 0
        vec = src.embedding + nrng.normal(scale=0.02, size=src.embedding.shape).astype(np.float32)
        out.append(DatasetRecord(
            id=f"{src.id}-syn{i}", source=src.source, title=" ".join(words) + f" {rng.randint(1990, 2025)}",
            description=" ".join(desc[:cut]), publisher=src.publisher, keywords=rng.sample(src.keywords,
                                                                                             len(src.keywords)),
            themes=src.themes, geography=src.geography, landing_page=src.landing_page,
            metadata_quality=max(0.0, min(1.0, src.metadata_quality + rng.uniform(-0.1, 0.1))),
            content_hash="", embedding=(vec / np.linalg.norm(vec)).astype(np.float32),
        ))
    return out


def queries(n: int) -> list[str]:
    """n distinct realistic queries (held-out and train mapping/judgment queries with suffixes)."""
    from dra_common import mappings
    from dra_ranking import evaluation

    base = sorted({m.query for m in mappings.parse_file().records} | {j.query for j in evaluation.load_judgments()})
    suffixes = ["", " data", " dataset", " statistics", " records", " time series", " by country", " open data"]
    out: list[str] = []
    for suffix in suffixes:
        for q in base:
            out.append(q + suffix)
            if len(out) >= n:
                return out
    return out


def _serve_child(size: int, threads: int, port: int, ready: Any, stop: Any) -> None:
    """Child process: build the catalog of `size`, serve it with the shipped model until told to stop."""
    import gc as _gc
    import logging

    import torch
    from threadpoolctl import threadpool_limits

    from dra_common.encoder import query_encoder
    from dra_common.grpc_utils import serve
    from dra_common.log import setup_logging
    from dra_common.settings import Settings
    from dra_ranking import registry
    from dra_ranking.catalog import load_curated
    from dra_ranking.encoding import QueryEncoder
    from dra_ranking.index import CatalogIndex
    from dra_ranking.pipeline import cached_embeddings
    from dra_ranking.server import RankingService, ServingState, register_servicer

    setup_logging("bench", "WARNING")
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    torch.set_num_threads(threads)
    threadpool_limits(1, user_api="blas")
    settings = Settings()
    encoder = QueryEncoder(query_encoder(settings, threads))
    precision = encoder.calibrate()
    loaded = registry.load_version(settings, registry.shipped_manifest(settings))
    loaded.model.attach_encoder(encoder)
    base = load_curated()
    cached_embeddings(settings, base, encoder)
    records = grow_catalog(base, size)
    del base
    start = time.perf_counter()
    index = CatalogIndex(records, version=1)
    build = time.perf_counter() - start
    del records
    _gc.collect()
    service = RankingService(settings, encoder)
    service.state = ServingState(index=index, current=loaded)
    running = serve("bench", register_servicer(service), host="127.0.0.1", port=port)
    running.set_serving(True)
    ready.put({"build_s": build, "index_mb": index.memory_bytes() / 2**20, "version": loaded.version,
               "precision": precision, "runtime": encoder.encoder.runtime})
    stop.wait()
    running.stop(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runtime", choices=("onnx", "torch"), default=None,
                        help="Query encoder runtime (default: QUERY_RUNTIME, else onnx)")
    parser.add_argument("--query-threads", type=int, default=None,
                        help="ONNX Runtime threads per query (default: QUERY_THREADS, else 2)")
    args = parser.parse_args()
    # Read by the server child's Settings too.
    if args.runtime:
        os.environ["QUERY_RUNTIME"] = args.runtime
    if args.query_threads:
        os.environ["QUERY_THREADS"] = str(args.query_threads)

    import multiprocessing as mp

    import grpc
    import psutil
    import torch

    from dra.v1 import ranking_pb2, ranking_pb2_grpc
    from dra_common.encoder import query_encoder
    from dra_common.settings import Settings
    from dra_ranking.encoding import QueryEncoder
    from tests.utils.stores import free_port

    torch.set_num_threads(args.threads)
    texts = queries(args.requests * len(args.sizes) + 20)
    encoder = QueryEncoder(query_encoder(Settings(), args.threads), precision="fp32")
    ctx = mp.get_context("spawn")
    print(f"torch threads {args.threads}, query threads {Settings().query_threads}; server in its own process; "
          "client here")
    for n, size in enumerate(args.sizes):
        port = free_port()
        ready, stop = ctx.Queue(), ctx.Event()
        child = ctx.Process(target=_serve_child, args=(size, args.threads, port, ready, stop), daemon=True)
        child.start()
        info = ready.get(timeout=1800)
        stub = ranking_pb2_grpc.RankingServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        for q in ("warm up one", "warm up two", "warm up three"):
            stub.Rank(ranking_pb2.RankRequest(query=q, max_results=10), timeout=30)
        batch = texts[n * args.requests : (n + 1) * args.requests]
        latencies: list[float] = []
        for q in batch:
            t0 = time.perf_counter()
            reply = stub.Rank(ranking_pb2.RankRequest(query=q, max_results=10), timeout=30)
            latencies.append((time.perf_counter() - t0) * 1000)
            assert len(reply.recommendations) == 10 and not reply.degraded
        embedded: list[float] = []
        vectors = encoder.encode([q + " (router)" for q in batch])
        for q, vec in zip(batch, vectors, strict=True):
            request = ranking_pb2.RankRequest(query=q + " (router)", max_results=10, query_embedding=vec.tolist(),
                                              embedding_model=encoder.name)
            t0 = time.perf_counter()
            stub.Rank(request, timeout=30)
            embedded.append((time.perf_counter() - t0) * 1000)
        rss = psutil.Process(child.pid).memory_info().rss / 1024 / 1024
        stop.set()
        child.join(timeout=60)
        encoder.precision = info["precision"]
        encode: list[float] = []
        for q in batch:
            t0 = time.perf_counter()
            encoder.encode_query(q)
            encode.append((time.perf_counter() - t0) * 1000)
        p50, p95, p99 = (_percentile(latencies, q) for q in (50, 95, 99))
        e50 = statistics.median(encode)
        print(f"\n== {size:,} datasets, model {info['version']} (index built in {info['build_s']:.1f}s, "
              f"numeric index {info['index_mb']:.0f} MB)")
        print(f"Rank top-10 over gRPC, query encoding included, {len(latencies)} distinct queries:")
        print(f"  p50 {p50:.1f} ms   p95 {p95:.1f} ms   p99 {p99:.1f} ms   mean {statistics.fmean(latencies):.1f} ms")
        precision = f"{info['runtime']} {info['precision']}"
        print(f"bare query encoding (MiniLM {precision}, same queries): p50 {e50:.1f} ms   "
              f"p99 {_percentile(encode, 99):.1f} ms")
        print(f"ratio Rank p50 / encoding p50: {p50 / e50:.2f}")
        print(f"Rank with the router's query embedding (no encoding): p50 {_percentile(embedded, 50):.1f} ms   "
              f"p99 {_percentile(embedded, 99):.1f} ms")
        print(f"ranking server RSS: {rss:.0f} MB (encoder + model + index)")
        gc.collect()


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
