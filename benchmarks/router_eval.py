"""Router evaluation: domain accuracy, Singapore-first precision/recall, and Classify latency.

1. In-process, on the held-out split of the labelled queries (or `--queries FILE.csv` with columns
   query,domain,singapore, e.g. an unseen judge set): accuracy, per-domain accuracy, Singapore-first
   precision and recall, and latency per query with the encoding timed separately.
2. Over gRPC (unless `--no-grpc`): starts `python -m dra_router` on free ports and times Classify for
   each query twice: the first call includes encoding the query, the second hits the encoder's cache, so
   it is the router's own work plus the RPC.

    .venv/bin/python benchmarks/router_eval.py [--queries FILE] [--no-grpc] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _in_process(queries_path: str | None, rounds: int) -> tuple[dict, str, list]:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    from dra_common import mappings
    from dra_common.encoder import query_encoder
    from dra_common.evalsets import load_labelled
    from dra_common.settings import Settings
    from dra_router import evaluation
    from dra_router.routing import build_router

    settings = Settings()
    encoder = query_encoder(settings)
    started = time.perf_counter()
    router = build_router(encoder, mappings.parse_file(settings.training_mappings_path), load_labelled())
    train_s = time.perf_counter() - started
    if queries_path:
        queries = evaluation.load_queries(queries_path)
        title = f"query set {queries_path}"
    else:
        queries = evaluation.heldout(load_labelled())
        title = "held-out labelled queries"
    report = evaluation.evaluate(router, queries, timing_rounds=rounds)
    payload = report.as_dict()
    payload["training_seconds"] = train_s
    payload["training_examples"] = router.classifier.n_train
    return payload, evaluation.format_report(report, title), queries


def _grpc(queries: list) -> dict:
    import grpc

    from dra.v1 import router_pb2, router_pb2_grpc
    from dra_common.grpc_utils import wait_until_serving

    port, metrics_port = _free_port(), _free_port()
    env = dict(os.environ, ROUTER_PORT=str(port), ROUTER_METRICS_PORT=str(metrics_port), LOG_LEVEL="WARNING",
               DATA_DIR=tempfile.mkdtemp(prefix="router-bench-"))
    log = open(Path(env["DATA_DIR"]) / "router.log", "wb")  # noqa: SIM115 - open for the child's lifetime
    proc = subprocess.Popen([sys.executable, "-m", "dra_router"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    addr = f"127.0.0.1:{port}"
    try:
        started = time.perf_counter()
        if not wait_until_serving(addr, timeout=120):
            raise RuntimeError(f"router did not become SERVING; see {log.name}")
        startup_s = time.perf_counter() - started
        stub = router_pb2_grpc.RouterServiceStub(grpc.insecure_channel(addr))
        stub.Classify(router_pb2.ClassifyRequest(query="warm up"), timeout=10)
        cold, warm = [], []
        for q in queries:
            request = router_pb2.ClassifyRequest(query=q.query, return_embedding=True)
            for bucket in (cold, warm):
                t = time.perf_counter()
                stub.Classify(request, timeout=10)
                bucket.append((time.perf_counter() - t) * 1000)
        return {
            "startup_seconds": startup_s,
            "rpc_with_encoding_p50_ms": float(np.percentile(cold, 50)),
            "rpc_with_encoding_p99_ms": float(np.percentile(cold, 99)),
            "rpc_cached_embedding_p50_ms": float(np.percentile(warm, 50)),
            "rpc_cached_embedding_p99_ms": float(np.percentile(warm, 99)),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", help="CSV with query,domain,singapore (default: held-out split)")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per query in-process (median kept)")
    parser.add_argument("--no-grpc", action="store_true", help="skip the gRPC measurement")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import logging

    logging.basicConfig(level=logging.ERROR)
    payload, text, queries = _in_process(args.queries, args.rounds)
    if not args.no_grpc:
        payload["grpc"] = _grpc(queries)
    if args.json:
        print(json.dumps(payload, indent=1))
        return 0
    print(text)
    print(f"  trained on {payload['training_examples']} examples in {payload['training_seconds']:.1f} s")
    if "grpc" in payload:
        g = payload["grpc"]
        print(f"  gRPC Classify, query encoded:      p50 {g['rpc_with_encoding_p50_ms']:.2f} ms, "
              f"p99 {g['rpc_with_encoding_p99_ms']:.2f} ms")
        print(f"  gRPC Classify, embedding cached:   p50 {g['rpc_cached_embedding_p50_ms']:.2f} ms, "
              f"p99 {g['rpc_cached_embedding_p99_ms']:.2f} ms")
        print(f"  service start to SERVING: {g['startup_seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
