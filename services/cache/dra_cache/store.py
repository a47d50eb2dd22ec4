"""The quality-aware cache over Redis: entries, secondary indexes, counters, and degraded mode.

Redis layout (every key under `settings.key("cache", ...)`, so a per-run prefix isolates tests):

    cache:e:<h>                 HASH  p=payload q=quality t=created_ms h=hits; TTL from the quality tier
    cache:idx:quality           ZSET  h -> quality         (threshold invalidation, distribution, average)
    cache:idx:expiry            ZSET  h -> expires_at_ms   (the sweeper drops expired entries from every index)
    cache:idx:lru               ZSET  h -> last_used_ms    (entry cap and maxmemory relief evict the oldest)
    cache:idx:size              ZSET  h -> bytes           (MEMORY USAGE at write time; memory_used_bytes)
    cache:idx:meta              HASH  h -> {"k": key, "s": sources}   (rebuilds keys; what to unindex)
    cache:idx:query             HASH  "<normalised query>\\x1f<h>" -> h   (HSCAN MATCH for pattern invalidation)
    cache:idx:source:<name>     SET   of h;  cache:idx:sources  SET of names with a set
    cache:idx:model:<version>   SET   of h;  cache:idx:models   SET of versions with a set
    cache:stat:hits|misses      counters since the cache started counting (cache:stat:since = first lookup, ms)
    cache:stat:min:<minute>     HASH  h=hits m=misses of one minute (expires after the window)
    cache:freq:<YYYYMMDD>       ZSET  normalised query -> lookups that UTC day (for warming)

`<h>` is the digest of the normalised key (see policy.NormalisedKey). Writes that touch several keys run as
Lua scripts, so an entry and its indexes never disagree. Scripts build key names from the prefix argument,
which is fine on a single Redis (the deployment here), not on Redis Cluster.

Memory: every entry has a TTL, the entry count is capped (LRU by our own index), and when Redis refuses a
write with OOM (maxmemory + noeviction) the store evicts its least recently used entries and retries once.
Removal uses only commands Redis allows under OOM, so invalidation and eviction still work when memory is full.

Degraded mode: connection errors and timeouts raise RedisUnavailableError; for `retry_s` afterwards calls fail
fast without touching the network, then the next call tries again, so the cache resumes by itself.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from dra_cache import metrics
from dra_cache.config import CacheSettings
from dra_cache.policy import (
    BANDS,
    NormalisedKey,
    TtlTier,
    key_from_json,
    parse_tiers,
    quality_band,
    ttl_for,
)
from dra_common.text import normalize_query

log = logging.getLogger(__name__)

T = TypeVar("T")
OOM_ATTEMPTS = 3
"""Puts refused with OOM: each attempt first evicts a tenth of the entries (least recently used)."""
SEP = "\x1f"
"""Separates query and digest in the query index; normalised queries never contain it (it is whitespace)."""

_LUA_COMMON = r"""
local function unindex(base, h, meta)
  if meta then
    local ok, m = pcall(cjson.decode, meta)
    if ok and type(m) == 'table' then
      if type(m.s) == 'table' then
        for _, s in ipairs(m.s) do
          local sk = base .. 'idx:source:' .. s
          redis.call('SREM', sk, h)
          if redis.call('SCARD', sk) == 0 then redis.call('SREM', base .. 'idx:sources', s) end
        end
      end
      if type(m.k) == 'table' then
        if type(m.k.m) == 'string' and m.k.m ~= '' then
          local mk = base .. 'idx:model:' .. m.k.m
          redis.call('SREM', mk, h)
          if redis.call('SCARD', mk) == 0 then redis.call('SREM', base .. 'idx:models', m.k.m) end
        end
        if type(m.k.q) == 'string' then redis.call('HDEL', base .. 'idx:query', m.k.q .. '\31' .. h) end
      end
    end
  end
  redis.call('HDEL', base .. 'idx:meta', h)
  redis.call('ZREM', base .. 'idx:quality', h)
  redis.call('ZREM', base .. 'idx:expiry', h)
  redis.call('ZREM', base .. 'idx:lru', h)
  redis.call('ZREM', base .. 'idx:size', h)
end

local function remove(base, h)
  local ek = base .. 'e:' .. h
  local hits = redis.call('HGET', ek, 'h') or '0'
  local existed = redis.call('DEL', ek)
  local meta = redis.call('HGET', base .. 'idx:meta', h)
  unindex(base, h, meta)
  return existed, hits, meta
end
"""

# ARGV: base, h, now_ms, minute, day, query, bucket_ttl_s, freq_ttl_s
# Reads first; the counter writes use pcall so that a Redis at maxmemory still answers lookups.
_GET_LUA = r"""
local base, h = ARGV[1], ARGV[2]
local ek = base .. 'e:' .. h
local vals = redis.call('HMGET', ek, 'p', 'q')
local hit = vals[1] ~= false
local ttl = -2
if hit then
  ttl = redis.call('PTTL', ek)
  redis.pcall('HINCRBY', ek, 'h', 1)
  redis.pcall('ZADD', base .. 'idx:lru', 'XX', ARGV[3], h)
end
local bucket = base .. 'stat:min:' .. ARGV[4]
redis.pcall('HINCRBY', bucket, hit and 'h' or 'm', 1)
redis.pcall('EXPIRE', bucket, ARGV[7])
redis.pcall('INCR', base .. (hit and 'stat:hits' or 'stat:misses'))
redis.pcall('SET', base .. 'stat:since', ARGV[3], 'NX')
local fk = base .. 'freq:' .. ARGV[5]
redis.pcall('ZINCRBY', fk, 1, ARGV[6])
redis.pcall('EXPIRE', fk, ARGV[8])
if hit then return {vals[1], vals[2], ttl} end
return false
"""

# ARGV: base, h, payload, quality, ttl_s, now_ms, meta, query_member, model, max_entries, sources...
# The first write is the entry itself: under OOM it fails before anything else changed.
_PUT_LUA = r"""
local base, h = ARGV[1], ARGV[2]
local ek = base .. 'e:' .. h
local old = redis.call('HGET', base .. 'idx:meta', h)
redis.call('HSET', ek, 'p', ARGV[3], 'q', ARGV[4], 't', ARGV[6])
redis.call('EXPIRE', ek, ARGV[5])
if old then unindex(base, h, old) end
local now = tonumber(ARGV[6])
redis.call('ZADD', base .. 'idx:quality', ARGV[4], h)
redis.call('ZADD', base .. 'idx:expiry', now + 1000 * tonumber(ARGV[5]), h)
redis.call('ZADD', base .. 'idx:lru', now, h)
redis.call('ZADD', base .. 'idx:size', redis.call('MEMORY', 'USAGE', ek) or 0, h)
redis.call('HSET', base .. 'idx:meta', h, ARGV[7])
redis.call('HSET', base .. 'idx:query', ARGV[8], h)
if ARGV[9] ~= '' then
  redis.call('SADD', base .. 'idx:model:' .. ARGV[9], h)
  redis.call('SADD', base .. 'idx:models', ARGV[9])
end
for i = 11, #ARGV do
  redis.call('SADD', base .. 'idx:source:' .. ARGV[i], h)
  redis.call('SADD', base .. 'idx:sources', ARGV[i])
end
local evicted = 0
local over = redis.call('ZCARD', base .. 'idx:quality') - tonumber(ARGV[10])
if over > 0 then
  for _, v in ipairs(redis.call('ZRANGE', base .. 'idx:lru', 0, over)) do
    if v ~= h and evicted < over then
      remove(base, v)
      evicted = evicted + 1
    end
  end
end
return evicted
"""

# ARGV: base, min_hits (-1: report nothing), h...
# Returns {removed, {h, hits, meta, ...}} where the triples are removed entries with >= min_hits hits.
_REMOVE_LUA = r"""
local base, min_hits = ARGV[1], tonumber(ARGV[2])
local removed, out = 0, {}
for i = 3, #ARGV do
  local existed, hits, meta = remove(base, ARGV[i])
  if existed == 1 then
    removed = removed + 1
    if min_hits >= 0 and meta and tonumber(hits) >= min_hits then
      table.insert(out, ARGV[i])
      table.insert(out, hits)
      table.insert(out, meta)
    end
  end
end
return {removed, out}
"""

# ARGV: base, now_ms, limit. Drops index entries whose key expired; re-dates ones still alive.
_SWEEP_LUA = r"""
local base, now = ARGV[1], tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', base .. 'idx:expiry', '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local cleaned = 0
for _, h in ipairs(due) do
  local pttl = redis.call('PTTL', base .. 'e:' .. h)
  if pttl > 0 then
    redis.pcall('ZADD', base .. 'idx:expiry', now + pttl, h)
  else
    remove(base, h)
    cleaned = cleaned + 1
  end
end
return {cleaned, #due}
"""


class RedisUnavailableError(Exception):
    """Redis cannot be reached right now; callers degrade (miss, not stored, redis_available=false)."""


@dataclass(frozen=True)
class Entry:
    """A cached answer."""

    payload: bytes
    quality: float
    ttl_seconds: int


@dataclass(frozen=True)
class PutResult:
    """Outcome of a put; `reason` says why nothing was stored."""

    stored: bool
    ttl_seconds: int = 0
    reason: str = ""


@dataclass
class Stats:
    """Cache statistics, every number counted in Redis."""

    hit_rate: float = 0.0
    hit_rate_since_start: float = 0.0
    avg_quality_score: float = 0.0
    total_entries: int = 0
    memory_used_bytes: int = 0
    distribution: dict[str, int] = field(default_factory=lambda: {name: 0 for name, _ in BANDS})
    hits: int = 0
    misses: int = 0
    window_seconds: int = 0
    window_lookups: int = 0
    redis_available: bool = True


@dataclass(frozen=True)
class Dropped:
    """A dropped entry that had traffic, for force_refresh."""

    key: NormalisedKey
    hits: int


def make_client(settings: CacheSettings) -> redis.Redis:
    """A Redis client with short timeouts and a single immediate retry.

    The retry covers a pooled connection that died with a restarted Redis; more retries (redis-py's default
    is 10 with backoff, seconds in total) would stall every lookup while Redis is down.
    """
    timeout = settings.cache_redis_timeout_s
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=0,
    )


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _glob_escape(text: str) -> str:
    """Escape Redis glob metacharacters so a key prefix matches literally."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class CacheStore:
    """Quality-aware answer cache over one Redis; thread-safe (redis-py pools connections)."""

    def __init__(self, client: redis.Redis, settings: CacheSettings) -> None:
        self.client = client
        self.settings = settings
        self.base = settings.key("cache") + ":"
        self.tiers: tuple[TtlTier, ...] = parse_tiers(settings.cache_ttl_tiers)
        self._get = client.register_script(_GET_LUA)
        self._put = client.register_script(_LUA_COMMON + _PUT_LUA)
        self._remove = client.register_script(_LUA_COMMON + _REMOVE_LUA)
        self._sweep = client.register_script(_LUA_COMMON + _SWEEP_LUA)
        self._down_until = 0.0
        self._available = True
        self._state_lock = threading.Lock()
        self._reconcile_cursor = 0

    # ---- keys -------------------------------------------------------------------------------------------

    def k(self, *parts: str) -> str:
        """A key of this cache (under the stack prefix)."""
        return self.base + ":".join(parts)

    # ---- availability ------------------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """Whether the last Redis call succeeded."""
        return self._available

    def _run(self, op: str, fn: Callable[[], T]) -> T:
        """Call Redis, turning connection failures into RedisUnavailableError and tracking up/down state."""
        if time.monotonic() < self._down_until:
            raise RedisUnavailableError("redis unreachable; retrying shortly")
        try:
            result = fn()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            metrics.REDIS_ERRORS.labels("connection").inc()
            self._mark(False, op, exc)
            raise RedisUnavailableError(f"redis unreachable: {exc}") from exc
        self._mark(True, op, None)
        return result

    def _mark(self, up: bool, op: str, exc: Exception | None) -> None:
        with self._state_lock:
            changed = up != self._available
            self._available = up
            self._down_until = 0.0 if up else time.monotonic() + self.settings.cache_redis_retry_s
        metrics.REDIS_UP.set(1 if up else 0)
        if changed and up:
            log.info("redis reachable again; cache resumed", extra={"op": op})
        elif changed:
            log.warning("redis unreachable; serving misses until it returns", extra={"op": op, "error": str(exc)})

    def ping(self) -> bool:
        """Probe Redis (also ends the fail-fast window early when Redis is back)."""
        with self._state_lock:
            self._down_until = 0.0
        try:
            return bool(self._run("ping", self.client.ping))
        except RedisUnavailableError:
            return False

    # ---- lookups -----------------------------------------------------------------------------------------

    def get(self, key: NormalisedKey) -> Entry | None:
        """The cached answer, or None; counts the lookup (hit/miss per minute, query per day)."""
        now = time.time()
        args = [
            self.base,
            key.digest(),
            int(now * 1000),
            int(now // 60),
            time.strftime("%Y%m%d", time.gmtime(now)),
            key.query,
            self.settings.cache_window_seconds + 120,
            (self.settings.cache_freq_retention_days + 1) * 86400,
        ]
        found = self._run("get", lambda: self._get(keys=[], args=args))
        if not found:
            return None
        payload, quality, pttl = found
        return Entry(bytes(payload), float(quality), max(0, int(pttl) // 1000))

    # ---- writes ------------------------------------------------------------------------------------------

    def put(self, key: NormalisedKey, payload: bytes, quality: float, sources: Iterable[str]) -> PutResult:
        """Store an answer with the TTL of its quality tier; below the minimum quality nothing is stored.

        Raises:
            RedisUnavailableError: Redis cannot be reached.
        """
        ttl = ttl_for(quality, self.tiers, self.settings.cache_min_quality)
        if ttl is None:
            metrics.PUTS_REJECTED.labels("low_quality").inc()
            return PutResult(False, 0, f"quality {quality:.3f} is below the minimum {self.settings.cache_min_quality}")
        if len(payload) > self.settings.cache_max_payload_bytes:
            metrics.PUTS_REJECTED.labels("too_large").inc()
            return PutResult(False, 0, f"payload of {len(payload)} bytes exceeds {self.settings.cache_max_payload_bytes}")
        source_list = sorted({s.strip() for s in sources if s.strip()})
        h = key.digest()
        meta = json.dumps({"k": key.to_json(), "s": source_list}, ensure_ascii=False, separators=(",", ":"))
        args = [
            self.base,
            h,
            payload,
            f"{quality:.6f}",
            ttl,
            int(time.time() * 1000),
            meta,
            key.query + SEP + h,
            key.model_version,
            self.settings.cache_max_entries,
            *source_list,
        ]
        evicted = 0
        for attempt in range(1, OOM_ATTEMPTS + 1):
            try:
                evicted = int(self._run("put", lambda: self._put(keys=[], args=args)))
                break
            except redis.OutOfMemoryError:
                metrics.REDIS_ERRORS.labels("oom").inc()
                entries = int(self._run("put", lambda: self.client.zcard(self.k("idx", "quality"))))
                freed = self.evict_lru(max(1, entries // 10))
                log.warning("redis out of memory on put", extra={"attempt": attempt, "evicted": freed})
                if attempt == OOM_ATTEMPTS or freed == 0:
                    metrics.PUTS_REJECTED.labels("redis_oom").inc()
                    return PutResult(False, 0, "redis is out of memory (maxmemory reached)")
        if evicted:
            metrics.EVICTED.inc(evicted)
        metrics.PUTS_STORED.labels(quality_band(quality)).inc()
        return PutResult(True, ttl, "")

    def _remove_hashes(self, hashes: list[str], min_hits: int) -> tuple[int, list[Dropped]]:
        """Remove entries and their index memberships in batches; report dropped ones with traffic."""
        removed, dropped = 0, []
        for start in range(0, len(hashes), 500):
            batch = hashes[start : start + 500]
            count, triples = self._run("remove", lambda b=batch: self._remove(keys=[], args=[self.base, min_hits, *b]))
            removed += int(count)
            for i in range(0, len(triples), 3):
                try:
                    meta = json.loads(_text(triples[i + 2]))
                    dropped.append(Dropped(key_from_json(meta["k"]), int(triples[i + 1])))
                except (ValueError, KeyError, TypeError):
                    log.warning("unreadable entry metadata", extra={"entry": _text(triples[i])})
        return removed, dropped

    def evict_lru(self, count: int) -> int:
        """Drop the `count` least recently used entries (to relieve memory); returns how many existed."""
        victims = [_text(v) for v in self._run("evict", lambda: self.client.zrange(self.k("idx", "lru"), 0, count - 1))]
        removed, _ = self._remove_hashes(victims, -1)
        metrics.EVICTED.inc(removed)
        return removed

    def invalidate(
        self,
        *,
        quality_threshold: float = 0.0,
        source: str = "",
        model_version: str = "",
        query_pattern: str = "",
        drop_all: bool = False,
        force_refresh: bool = False,
    ) -> tuple[int, list[Dropped]]:
        """Drop entries matching every given criterion (criteria combine with AND).

        Returns the number of entries removed and, with force_refresh, the dropped entries that had at least
        CACHE_REFRESH_MIN_HITS hits, most used first (at most CACHE_REFRESH_LIMIT), for the caller to recompute.

        Raises:
            RedisUnavailableError: Redis cannot be reached (batches removed before the failure stay removed).
        """
        candidates: set[str] | None = None

        def narrow(found: Iterable[bytes | str]) -> None:
            nonlocal candidates
            values = {_text(v) for v in found}
            candidates = values if candidates is None else candidates & values

        if drop_all:
            indexed = self._run("invalidate", lambda: self.client.zrange(self.k("idx", "quality"), 0, -1))
            prefix = self.k("e", "")
            orphans = self._run("invalidate", lambda: list(self.client.scan_iter(match=_glob_escape(prefix) + "*", count=1000)))
            narrow([*indexed, *(_text(o)[len(prefix) :] for o in orphans)])
        if quality_threshold > 0:
            narrow(
                self._run(
                    "invalidate",
                    lambda: self.client.zrangebyscore(self.k("idx", "quality"), "-inf", f"({quality_threshold:.6f}"),
                )
            )
        if source:
            narrow(self._run("invalidate", lambda: self.client.smembers(self.k("idx", "source", source.strip()))))
        if model_version:
            narrow(self._run("invalidate", lambda: self.client.smembers(self.k("idx", "model", model_version.strip()))))
        if query_pattern:
            match = normalize_query(query_pattern) + SEP + "*"
            narrow(
                v
                for _, v in self._run(
                    "invalidate",
                    lambda: list(self.client.hscan_iter(self.k("idx", "query"), match=match, count=1000)),
                )
            )
        if not candidates:
            return 0, []
        min_hits = self.settings.cache_refresh_min_hits if force_refresh else -1
        removed, dropped = self._remove_hashes(sorted(candidates), min_hits)
        metrics.INVALIDATED.inc(removed)
        dropped.sort(key=lambda d: d.hits, reverse=True)
        log.info("invalidated", extra={"removed": removed, "refresh": len(dropped)})
        return removed, dropped[: self.settings.cache_refresh_limit]

    # ---- statistics --------------------------------------------------------------------------------------

    def _sum_scores(self, key: str) -> tuple[int, float]:
        """Count and sum of a sorted set's scores, read in chunks."""
        count, total, start, chunk = 0, 0.0, 0, 5000
        while True:
            part = self.client.zrange(key, start, start + chunk - 1, withscores=True)
            count += len(part)
            total += sum(score for _, score in part)
            if len(part) < chunk:
                return count, total
            start += chunk

    def stats(self) -> Stats:
        """Hit rates, entries, average quality, memory and the quality distribution.

        Raises:
            RedisUnavailableError: Redis cannot be reached.
        """
        self.sweep_expired()
        now = time.time()
        minute = int(now // 60)
        minutes = max(1, self.settings.cache_window_seconds // 60)
        quality_key = self.k("idx", "quality")

        def read() -> list[object]:
            pipe = self.client.pipeline(transaction=False)
            pipe.zcount(quality_key, 0.9, "+inf")
            pipe.zcount(quality_key, 0.7, "(0.9")
            pipe.zcount(quality_key, 0.5, "(0.7")
            pipe.zcount(quality_key, "-inf", "(0.5")
            pipe.get(self.k("stat", "hits"))
            pipe.get(self.k("stat", "misses"))
            for m in range(minute - minutes + 1, minute + 1):
                pipe.hmget(self.k("stat", "min", str(m)), "h", "m")
            return list(pipe.execute())

        values = self._run("stats", read)
        count, quality_sum = self._run("stats", lambda: self._sum_scores(quality_key))
        _, size_sum = self._run("stats", lambda: self._sum_scores(self.k("idx", "size")))
        excellent, good, fair, poor = (int(v) for v in values[:4])  # type: ignore[call-overload]
        hits, misses = int(values[4] or 0), int(values[5] or 0)  # type: ignore[call-overload]
        window_hits = window_misses = 0
        for bucket_hits, bucket_misses in values[6:]:  # type: ignore[misc]
            window_hits += int(bucket_hits or 0)
            window_misses += int(bucket_misses or 0)
        window_lookups = window_hits + window_misses
        stats = Stats(
            hit_rate=window_hits / window_lookups if window_lookups else 0.0,
            hit_rate_since_start=hits / (hits + misses) if hits + misses else 0.0,
            avg_quality_score=quality_sum / count if count else 0.0,
            total_entries=count,
            memory_used_bytes=int(size_sum),
            distribution={"excellent": excellent, "good": good, "fair": fair, "poor": poor},
            hits=hits,
            misses=misses,
            window_seconds=minutes * 60,
            window_lookups=window_lookups,
            redis_available=True,
        )
        metrics.ENTRIES.set(count)
        metrics.MEMORY.set(stats.memory_used_bytes)
        return stats

    # ---- warming -----------------------------------------------------------------------------------------

    def frequent_queries(self, days: int, limit: int) -> list[tuple[str, float]]:
        """The most frequent normalised queries of the last `days` UTC days (today included), most frequent first.

        Raises:
            RedisUnavailableError: Redis cannot be reached.
        """
        if days <= 0 or limit <= 0:
            return []
        now = time.time()
        keys = [self.k("freq", time.strftime("%Y%m%d", time.gmtime(now - d * 86400))) for d in range(days)]
        # ZUNION is read-only (works at maxmemory); per-day sets are trimmed, so the union stays small.
        merged = self._run("warm", lambda: self.client.zunion(keys, withscores=True))
        ranked = sorted(((_text(q), float(s)) for q, s in merged), key=lambda item: (-item[1], item[0]))
        return ranked[:limit]

    # ---- housekeeping ------------------------------------------------------------------------------------

    def sweep_expired(self, limit: int = 1000) -> int:
        """Remove expired entries from every index (Redis expires the entry keys themselves)."""
        cleaned_total = 0
        for _ in range(100):
            cleaned, seen = self._run("sweep", lambda: self._sweep(keys=[], args=[self.base, int(time.time() * 1000), limit]))
            cleaned_total += int(cleaned)
            if int(seen) < limit:
                break
        if cleaned_total:
            metrics.EXPIRED.inc(cleaned_total)
        return cleaned_total

    def reconcile(self, chunk: int = 500) -> int:
        """Unindex entries Redis dropped on its own (e.g. maxmemory-policy allkeys-lru), a chunk per call."""
        quality_key = self.k("idx", "quality")

        def scan() -> tuple[int, list[str], list[int]]:
            cursor, members = self.client.zscan(quality_key, self._reconcile_cursor, count=chunk)
            hashes = [_text(m) for m, _ in members]
            pipe = self.client.pipeline(transaction=False)
            for h in hashes:
                pipe.exists(self.k("e", h))
            return int(cursor), hashes, list(pipe.execute())

        cursor, hashes, exists = self._run("reconcile", scan)
        self._reconcile_cursor = cursor
        dangling = [h for h, e in zip(hashes, exists, strict=True) if not e]
        if not dangling:
            return 0
        self._remove_hashes(dangling, -1)
        log.info("unindexed entries redis evicted", extra={"count": len(dangling)})
        return len(dangling)

    def trim_frequencies(self) -> None:
        """Keep only the most frequent CACHE_FREQ_MAX_QUERIES queries of today and yesterday."""
        now = time.time()
        keep = self.settings.cache_freq_max_queries
        keys = [self.k("freq", time.strftime("%Y%m%d", time.gmtime(now - d * 86400))) for d in (0, 1)]

        def trim() -> None:
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.zremrangebyrank(key, 0, -(keep + 1))
            pipe.execute()

        self._run("trim", trim)

    def maintenance(self) -> None:
        """One housekeeping pass (the server runs it every CACHE_SWEEP_INTERVAL_S)."""
        self.ping()
        if not self.available:
            return
        self.sweep_expired()
        self.reconcile()
        self.trim_frequencies()
        metrics.ENTRIES.set(self._run("entries", lambda: self.client.zcard(self.k("idx", "quality"))))
