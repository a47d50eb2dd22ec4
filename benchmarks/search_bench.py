"""End-to-end search latency through the gateway, against the floor of one query encoding.

Run against a running stack (`make dev` in another terminal):
    .venv/bin/python benchmarks/search_bench.py [--url http://127.0.0.1:8000] [--n 200]

Prints: bare query-encoding time (the floor), uncached search p50/p99 and its ratio to the floor,
cached search p50/p99, the CPU each local service process spent per uncached search (read from /proc, where
the stack runs on this machine), the cache hit rate when replaying a Zipf-distributed query log after
warming, and uncached searches per second with `--clients` concurrent clients (the machine's throughput).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time

import httpx
import numpy as np

TOPICS = [
    "singapore housing prices", "hdb resale flat prices", "mrt ridership", "dengue cases singapore",
    "psychology research data", "eeg emotion recognition", "mental health survey", "personality test responses",
    "machine learning image classification", "sentiment analysis reviews", "speech recognition audio",
    "climate change indicators", "co2 emissions per capita", "rainfall singapore", "air quality pm2.5",
    "gdp growth", "inflation consumer prices", "foreign direct investment", "unemployment rate",
    "hospital readmission", "diabetes prediction", "covid-19 cases", "life expectancy", "child mortality",
    "student performance", "school enrolment", "literacy rate", "university rankings",
    "taxi trip records", "bus arrival times", "traffic accidents", "carpark availability",
    "population census", "household income", "tourism arrivals", "electricity consumption",
]


def percentiles(values: list[float]) -> str:
    arr = np.array(values)
    return f"p50 {np.percentile(arr, 50):6.2f} ms  p99 {np.percentile(arr, 99):6.2f} ms  (n={len(arr)})"


def encode_floor(n: int) -> float:
    """Median time of one bare query encoding with the shared encoder, in ms."""
    from dra_common.encoder import query_encoder
    from dra_common.settings import Settings

    encoder = query_encoder(Settings(), threads=1, cache_size=0)
    queries = [f"{random.choice(TOPICS)} {i}" for i in range(n)]
    for q in queries[:5]:
        encoder.encode([q])
    times = []
    for q in queries:
        start = time.perf_counter()
        encoder.encode([q])
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def process_cpu_ms() -> dict[str, float]:
    """CPU time (user + system, ms) of each local `python -m dra_*` process and of Postgres (summed), by name;
    empty where /proc does not exist."""
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 10.0
    out: dict[str, float] = {}
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = next((a for a in args if a.startswith("dra_")), None) if "-m" in args else None
        if name is None and args[0].startswith("postgres"):
            name = "postgres"
        if name is not None:
            out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) * tick_ms
    return out


def throughput(url: str, clients: int, n: int) -> tuple[float, list[float]]:
    """Uncached searches per second with `clients` concurrent clients sending `n` searches in all, and their
    latencies at the client."""
    latencies: list[float] = []

    def client(number: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for i in range(n // clients):
                start = time.perf_counter()
                http.post("/api/v2/search", json={"query": f"{TOPICS[i % len(TOPICS)]} load {number} {i}",
                                                  "use_cache": False}).raise_for_status()
                latencies.append((time.perf_counter() - start) * 1000)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / (time.perf_counter() - start), latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--n", type=int, default=200, help="searches per measurement")
    parser.add_argument("--replay", type=int, default=2000, help="searches in the Zipf replay")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients for the throughput run (0: skip)")
    args = parser.parse_args()
    random.seed(7)
    floor = encode_floor(args.n)
    print(f"query encoding floor (median, 1 thread): {floor:.2f} ms")

    with httpx.Client(base_url=args.url, timeout=30) as http:
        def search(query: str, use_cache: bool = True) -> dict:
            response = http.post("/api/v2/search", json={"query": query, "max_results": 10, "use_cache": use_cache})
            response.raise_for_status()
            return response.json()

        for q in TOPICS[:5]:
            search(q, use_cache=False)
        uncached, server_uncached = [], []
        cpu_before = process_cpu_ms()
        for i in range(args.n):
            query = f"{random.choice(TOPICS)} variant {i}"
            start = time.perf_counter()
            body = search(query, use_cache=False)
            uncached.append((time.perf_counter() - start) * 1000)
            server_uncached.append(body["performance"]["latency_ms"])
        print(f"uncached search (client):  {percentiles(uncached)}")
        print(f"uncached search (gateway): {percentiles(server_uncached)}")
        cpu = {name: (ms - cpu_before.get(name, 0.0)) / args.n for name, ms in process_cpu_ms().items()}
        if cpu:
            print("CPU per uncached search: " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in
                                                          sorted(cpu.items(), key=lambda kv: -kv[1])))
        print(f"ratio uncached p50 / encoding floor: {np.percentile(uncached, 50) / floor:.2f}x")

        for q in TOPICS:
            search(q)
        time.sleep(0.5)
        cached, server_cached = [], []
        for _ in range(args.n):
            query = random.choice(TOPICS)
            start = time.perf_counter()
            body = search(query)
            cached.append((time.perf_counter() - start) * 1000)
            if body["performance"]["cache_hit"]:
                server_cached.append(body["performance"]["latency_ms"])
        print(f"cached search (client):    {percentiles(cached)}")
        print(f"cached search (gateway):   {percentiles(server_cached)}")

        # Zipf replay: popular queries repeat, a long tail appears once or twice.
        vocabulary = [f"{a} {b}" for a in TOPICS for b in ("data", "dataset", "statistics", "trends")]
        weights = np.array([1.0 / (rank + 1) ** 1.1 for rank in range(len(vocabulary))])
        log = list(np.random.default_rng(7).choice(vocabulary, size=args.replay, p=weights / weights.sum()))
        warm = [q for q, _ in sorted({q: log.count(q) for q in set(log)}.items(), key=lambda kv: -kv[1])[:40]]
        http.post("/api/v2/cache/warm", json={"queries": warm, "rate_per_second": 200}, timeout=300)
        hits = 0
        for query in log:
            hits += search(query)["performance"]["cache_hit"]
        print(f"Zipf replay after warming {len(warm)} queries: hit rate {hits / len(log):.3f} over {len(log)} searches")

    if args.clients > 0:
        rate, latencies = throughput(args.url, args.clients, max(args.n, args.clients))
        print(f"throughput, {args.clients} concurrent clients, uncached: {rate:.1f} searches/s, {percentiles(latencies)}")


if __name__ == "__main__":
    main()
