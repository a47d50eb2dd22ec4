"""Benchmark of the cache service itself (gRPC + Redis), without the gateway.

1. Latency: Get hits / misses and Put through gRPC, sequential calls, client-side wall time (p50, p99).
2. Hit rate after warming: a "yesterday" query log with Zipf-like popularity is replayed like the gateway does
   (Get; on a miss, compute and Put), the cache is then emptied, warmed from WarmPlan (the runbook's
   high-quality queries + the most frequent queries of the last day), and a fresh "today" log drawn from the
   same popularity is replayed. The hit rate is read from the service's own hit/miss counters.

Answers get a fixed per-query quality drawn from Beta(6, 2) (about 6% fall below the 0.5 minimum and are never
cached); 30% of lookups vary case/whitespace/width (normalisation must merge them); 10% ask for another
max_results (a different key).

Usage:
    .venv/bin/python benchmarks/cache_bench.py                 # starts its own cache process (REDIS_URL)
    .venv/bin/python benchmarks/cache_bench.py --addr HOST:PORT  # uses a running cache (its data is cleared!)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
import zlib
from pathlib import Path

import grpc
import numpy as np
import redis

from dra.v1 import cache_pb2 as pb
from dra.v1 import cache_pb2_grpc
from dra_common.domain import SOURCES
from dra_common.grpc_utils import wait_until_serving
from dra_common.settings import Settings

RUNBOOK_WARM_QUERIES = [
    "singapore housing data",
    "psychology research datasets",
    "climate change indicators",
    "machine learning competitions",
    "world bank economic data",
]
TOPICS = [
    "housing prices",
    "hdb resale flats",
    "population census",
    "household income",
    "unemployment rate",
    "gdp growth",
    "inflation",
    "exchange rates",
    "stock prices",
    "government debt",
    "trade balance",
    "air quality",
    "rainfall",
    "temperature",
    "carbon emissions",
    "climate change indicators",
    "sea level",
    "electricity consumption",
    "renewable energy",
    "waste recycling",
    "covid cases",
    "hospital admissions",
    "life expectancy",
    "mental health survey",
    "eeg emotion recognition",
    "fmri resting state",
    "personality questionnaire",
    "reaction time experiments",
    "student performance",
    "school enrolment",
    "university rankings",
    "literacy rates",
    "bus ridership",
    "traffic accidents",
    "taxi availability",
    "mrt passenger volume",
    "car park availability",
    "land use",
    "image classification",
    "sentiment analysis",
    "machine learning competitions",
    "credit card fraud",
    "house price prediction",
    "time series forecasting",
]
PLACES = ["", "singapore", "global", "asia", "us", "uk", "china", "india", "europe", "world bank"]
KINDS = ["", "data", "dataset", "datasets", "statistics", "2023", "by region", "monthly", "open data"]


def query_universe(size: int, rng: np.random.Generator) -> list[str]:
    """Distinct plausible queries, popularity order decided by a shuffle."""
    combos = {" ".join(p for p in (place, topic, kind) if p) for place, topic, kind in itertools.product(PLACES, TOPICS, KINDS)}
    queries = sorted(combos)
    rng.shuffle(queries)
    head = [q for q in RUNBOOK_WARM_QUERIES if q not in queries[:size]]
    return (head + queries)[:size]


def zipf_log(n_queries: int, length: int, s: float, rng: np.random.Generator) -> np.ndarray:
    """Indices into the query universe with popularity ~ 1 / rank**s."""
    weights = 1.0 / np.arange(1, n_queries + 1) ** s
    return rng.choice(n_queries, size=length, p=weights / weights.sum())


def surface_variant(query: str, rng: np.random.Generator) -> str:
    """How people type the same query differently (the cache must normalise these)."""
    roll = rng.random()
    if roll < 0.1:
        return query.upper()
    if roll < 0.2:
        return "  " + query.replace(" ", "  ") + " "
    if roll < 0.3:
        return query.title().replace(" ", "\u3000")
    return query


def payload_for(query: str, quality: float, n: int = 10) -> bytes:
    """A search answer of realistic size (about 4 KB for 10 results)."""
    results = [
        {
            "dataset_id": f"{SOURCES[i % len(SOURCES)].name}:{zlib.crc32(f'{query}/{i}'.encode())}",
            "title": f"{query.title()} dataset {i}",
            "source": SOURCES[i % len(SOURCES)].name,
            "url": f"{SOURCES[i % len(SOURCES)].home_page}/datasets/{i}",
            "snippet": ("Records of " + query + " collected by the publisher. ") * 3,
            "relevance_score": round(1 - i * 0.05, 3),
        }
        for i in range(n)
    ]
    return json.dumps({"query": query, "results": results, "quality_summary": {"score": quality}}).encode()


def ckey(query: str, max_results: int = 10) -> pb.CacheKey:
    return pb.CacheKey(query=query, max_results=max_results, model_version="bench-v1", ab_arm="")


def percentile(values: list[float], p: float) -> float:
    return float(np.percentile(np.array(values), p))


def measure_latency(stub: cache_pb2_grpc.CacheServiceStub, calls: int) -> dict[str, dict[str, float]]:
    """Sequential Get/Put latencies in milliseconds."""
    out: dict[str, dict[str, float]] = {}
    puts: list[float] = []
    for i in range(200):
        request = pb.CachePutRequest(key=ckey(f"latency query {i}"), payload=payload_for(f"q{i}", 0.9), quality_score=0.9)
        start = time.perf_counter()
        stub.Put(request)
        puts.append((time.perf_counter() - start) * 1000)
    for name, query in (("get_hit", "latency query {}"), ("get_miss", "never stored {}")):
        samples: list[float] = []
        for i in range(calls):
            request = pb.CacheGetRequest(key=ckey(query.format(i % 200)))
            start = time.perf_counter()
            response = stub.Get(request)
            samples.append((time.perf_counter() - start) * 1000)
            assert response.hit == (name == "get_hit")
        out[name] = {"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99), "mean_ms": statistics.mean(samples)}
    out["put"] = {"p50_ms": percentile(puts, 50), "p99_ms": percentile(puts, 99), "mean_ms": statistics.mean(puts)}
    return out


def replay(
    stub: cache_pb2_grpc.CacheServiceStub,
    universe: list[str],
    log: np.ndarray,
    quality: np.ndarray,
    rng: np.random.Generator,
) -> int:
    """Replay a log like the gateway: Get, and on a miss compute the answer and Put it. Returns client-seen hits."""
    hits = 0
    for idx in log:
        query = universe[idx]
        max_results = 10 if rng.random() < 0.9 else int(rng.choice([3, 5, 20]))
        key = ckey(surface_variant(query, rng), max_results)
        if stub.Get(pb.CacheGetRequest(key=key)).hit:
            hits += 1
            continue
        stub.Put(pb.CachePutRequest(key=key, payload=payload_for(query, float(quality[idx])), quality_score=float(quality[idx])))
    return hits


def measure_hit_rate(stub: cache_pb2_grpc.CacheServiceStub, args: argparse.Namespace) -> dict[str, float]:
    """Hit rate of a fresh Zipf log after warming from WarmPlan (counted by the service)."""
    rng = np.random.default_rng(args.seed)
    universe = query_universe(args.queries, rng)
    quality = rng.beta(6, 2, size=len(universe))
    for q in RUNBOOK_WARM_QUERIES:  # the runbook calls these high-quality queries
        quality[universe.index(q)] = max(quality[universe.index(q)], 0.9)
    yesterday = zipf_log(len(universe), args.lookups, args.zipf_s, rng)
    replay(stub, universe, yesterday, quality, rng)

    stub.Invalidate(pb.InvalidateRequest(all=True))
    started = time.perf_counter()
    plan = stub.WarmPlan(pb.WarmPlanRequest(queries=RUNBOOK_WARM_QUERIES, recent_days=1, limit=args.warm_limit)).queries
    warmed = 0
    for query in plan:
        idx = universe.index(query) if query in universe else None
        q = float(quality[idx]) if idx is not None else 0.9
        warmed += stub.Put(pb.CachePutRequest(key=ckey(query), payload=payload_for(query, q), quality_score=q)).stored
    warm_seconds = time.perf_counter() - started

    before = stub.Stats(pb.CacheStatsRequest())
    today = zipf_log(len(universe), args.lookups, args.zipf_s, rng)
    client_hits = replay(stub, universe, today, quality, rng)
    after = stub.Stats(pb.CacheStatsRequest())
    hits, misses = after.hits - before.hits, after.misses - before.misses
    assert hits == client_hits, (hits, client_hits)
    cold_rng = np.random.default_rng(args.seed + 1)
    stub.Invalidate(pb.InvalidateRequest(all=True))
    before_cold = stub.Stats(pb.CacheStatsRequest())
    replay(stub, universe, today, quality, cold_rng)
    after_cold = stub.Stats(pb.CacheStatsRequest())
    cold_hits = after_cold.hits - before_cold.hits
    cold_lookups = cold_hits + after_cold.misses - before_cold.misses
    return {
        "distinct_queries": len(universe),
        "lookups": int(hits + misses),
        "distinct_in_today_log": int(len(set(today.tolist()))),
        "below_min_quality_share_of_lookups": float(np.mean(quality[today] < 0.5)),
        "warm_plan_size": len(plan),
        "warm_stored": int(warmed),
        "warm_seconds": warm_seconds,
        "hit_rate_after_warming": hits / (hits + misses),
        "hit_rate_cold_start_same_log": cold_hits / cold_lookups,
        "entries_after": int(after.total_entries),
        "avg_quality_after": float(after.avg_quality_score),
    }


def start_cache(prefix: str) -> tuple[subprocess.Popen[bytes], str]:
    """A cache process on free ports with its own Redis prefix."""
    import socket

    def free() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    port = free()
    env = {
        **os.environ,
        "REDIS_PREFIX": prefix,
        "CACHE_PORT": str(port),
        "CACHE_METRICS_PORT": str(free()),
        "LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen([sys.executable, "-m", "dra_cache"], env=env, stdout=subprocess.DEVNULL)
    addr = f"127.0.0.1:{port}"
    if not wait_until_serving(addr, timeout=60):
        proc.kill()
        raise SystemExit("cache service did not start")
    return proc, addr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--addr", help="a running cache service (default: start one); its cache is cleared")
    parser.add_argument("--calls", type=int, default=2000, help="Get calls per latency measurement")
    parser.add_argument("--queries", type=int, default=2000, help="distinct queries in the universe")
    parser.add_argument("--lookups", type=int, default=10000, help="lookups per replayed day")
    parser.add_argument("--zipf-s", type=float, default=1.1, help="Zipf exponent of query popularity")
    parser.add_argument("--warm-limit", type=int, default=500, help="recent queries WarmPlan returns")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    settings = Settings()
    prefix = f"{settings.redis_prefix}bench-{uuid.uuid4().hex[:8]}:"
    proc = None
    if args.addr:
        addr = args.addr
    else:
        proc, addr = start_cache(prefix)
    stub = cache_pb2_grpc.CacheServiceStub(grpc.insecure_channel(addr))
    try:
        stub.Invalidate(pb.InvalidateRequest(all=True))
        latency = measure_latency(stub, args.calls)
        stub.Invalidate(pb.InvalidateRequest(all=True))
        hit_rate = measure_hit_rate(stub, args)
        stub.Invalidate(pb.InvalidateRequest(all=True))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=15)
            client = redis.Redis.from_url(settings.redis_url)
            for key in client.scan_iter(match=f"{prefix}*", count=1000):
                client.delete(key)

    print(f"cache service at {addr}  (sequential gRPC calls, client wall time)")
    for name, figures in latency.items():
        print(f"  {name:9s} p50 {figures['p50_ms']:.3f} ms   p99 {figures['p99_ms']:.3f} ms   mean {figures['mean_ms']:.3f} ms")
    print(
        f"Zipf replay (s={args.zipf_s}, {hit_rate['distinct_queries']} queries, {hit_rate['lookups']} lookups, "
        f"{hit_rate['distinct_in_today_log']} distinct today, "
        f"{hit_rate['below_min_quality_share_of_lookups']:.1%} of lookups below min quality)"
    )
    print(f"  warmed {hit_rate['warm_stored']}/{hit_rate['warm_plan_size']} planned queries in {hit_rate['warm_seconds']:.2f} s")
    print(f"  hit rate after warming:        {hit_rate['hit_rate_after_warming']:.3f}   (target >= 0.80)")
    print(f"  hit rate from cold, same log:  {hit_rate['hit_rate_cold_start_same_log']:.3f}")
    print(f"  entries {hit_rate['entries_after']}, average quality {hit_rate['avg_quality_after']:.3f}")
    if args.json:
        figures = {"latency": latency, "hit_rate": hit_rate, "args": {**vars(args), "json": str(args.json)}}
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
