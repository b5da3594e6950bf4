"""What the Redis checks read: INFO sections, parsed by redis-py."""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sergas.status import unknown

if TYPE_CHECKING:  # redis is imported where it is used: the plugins load this module at start
    import redis as redis_py


def ping_latency(client: redis_py.Redis) -> float:
    """Seconds for one PING round trip."""
    started = time.perf_counter()
    client.ping()
    return time.perf_counter() - started


@dataclass(frozen=True)
class MemoryInfo:
    """INFO memory, the fields the checks judge. `policy` is maxmemory-policy read here, so it
    is known where CONFIG is renamed away."""

    used: int
    rss: int
    maxmemory: int
    policy: str
    fragmentation_ratio: float  # mem_fragmentation_ratio as Redis computes it: rss / used
    allocator_ratio: float | None
    allocator: str = ""  # mem_allocator: "jemalloc-5.3.0", "libc"

    @property
    def used_pct(self) -> float | None:
        """Share of maxmemory in use; None when maxmemory is 0 (no limit)."""
        return 100.0 * self.used / self.maxmemory if self.maxmemory else None


def memory_info(client: redis_py.Redis) -> MemoryInfo:
    """INFO memory; unknown (CheckOutcome) when used_memory or used_memory_rss is not a number."""
    return _memory(client.info("memory"))


def memory_and_keyspace(client: redis_py.Redis) -> tuple[MemoryInfo, int, KeyspaceDb]:
    """INFO memory and the connected db's line of INFO keyspace, from one INFO (its default
    sections hold both): (memory, db, keyspace)."""
    info = client.info()
    db = _db_of(client)
    return _memory(info), db, _keyspace_entry(info, db)


def _memory(info: Mapping[Any, object]) -> MemoryInfo:
    used, rss = _int(info, "used_memory", -1), _int(info, "used_memory_rss", -1)
    if used < 0 or rss < 0:
        found = f"{info.get('used_memory')!r:.30}, {info.get('used_memory_rss')!r:.30}"
        raise unknown(f"INFO memory has no usable used_memory, used_memory_rss ({found})")
    ratio = _float(info, "mem_fragmentation_ratio")
    return MemoryInfo(
        used=used,
        rss=rss,
        maxmemory=_int(info, "maxmemory"),
        policy=str(info.get("maxmemory_policy", "")),
        fragmentation_ratio=ratio if ratio is not None else (rss / used if used else 0.0),
        allocator_ratio=_float(info, "allocator_frag_ratio"),
        allocator=str(info.get("mem_allocator", "")),
    )


def active_defrag(client: redis_py.Redis) -> str | None:
    """CONFIG GET activedefrag ("yes" or "no"); None where CONFIG is renamed or denied."""
    import redis as redis_py

    try:
        return str(client.config_get("activedefrag").get("activedefrag", "")) or None
    except redis_py.ResponseError:
        return None


# --- INFO fields the Redis checks judge ------------------------------------------------------

_INTEGER = re.compile(r"-?[0-9]{1,20}")  # INFO's numbers are 64-bit (str.isdigit() also takes `²`)


def _int(info: Mapping[Any, object], name: str, default: int = 0) -> int:
    value = info.get(name, default)
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    return int(text) if _INTEGER.fullmatch(text) else default


def _float(info: Mapping[Any, object], name: str) -> float | None:
    """A ratio of INFO (redis-py reads `1.20` as a float, `1` as an int); None unless a finite number."""
    value = info.get(name)
    number = value if isinstance(value, float) else float(_int(info, name, -1))
    return number if math.isfinite(number) and number >= 0 else None


def connect_redis(url: str, timeout: float, client_name: str = "sergas-checks") -> redis_py.Redis:
    """A client of `url` that answered PING, with timeouts and no retries (a check retries nothing)."""
    import redis as redis_py
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis_py.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
        client_name=client_name,
    )
    try:
        client.ping()
    except redis_py.ResponseError as exc:
        # After a failed snapshot Redis refuses PING with writes (MISCONF) but still answers
        # reads: the server is reachable, and redis.persistence says what is wrong.
        if not str(exc).startswith("MISCONF"):
            raise
    return client


# Two readings of one server's start time (its clock less its uptime) differ by rounding only.
SAME_START_S = 5.0


@dataclass(frozen=True)
class ServerClock:
    uptime: int  # uptime_in_seconds
    started: float  # when the server started, in epoch seconds of its own clock (TIME less uptime)


def server_clock(client: redis_py.Redis) -> ServerClock:
    uptime = _int(client.info("server"), "uptime_in_seconds")
    seconds, micros = client.time()
    return ServerClock(uptime, seconds + micros / 1e6 - uptime)


def counter_growth(now: float, before: float, started: float, started_before: float) -> float | None:
    """How much a cumulative INFO stats counter grew since an earlier reading of it; None when
    the server restarted in between (another start time) or CONFIG RESETSTAT ran (it went down).
    A RESETSTAT after which the counter climbed past its earlier value again goes unnoticed:
    Redis does not say when its statistics were reset."""
    if abs(started - started_before) > SAME_START_S or now < before:
        return None
    return now - before


@dataclass(frozen=True)
class Lookups:
    """keyspace_hits and keyspace_misses: cumulative since the server started (or CONFIG RESETSTAT)."""

    hits: int
    misses: int

    @property
    def total(self) -> int:
        return self.hits + self.misses

    @property
    def hit_rate(self) -> float | None:
        """Percent of lookups that found their key; None before the first lookup."""
        return 100.0 * self.hits / self.total if self.total else None


def lookups(client: redis_py.Redis) -> Lookups:
    stats = client.info("stats")
    return Lookups(_int(stats, "keyspace_hits"), _int(stats, "keyspace_misses"))


@dataclass(frozen=True)
class Clients:
    connected: int
    maxclients: int
    rejected: int
    blocked: int

    @property
    def used_pct(self) -> float | None:
        return 100.0 * self.connected / self.maxclients if self.maxclients else None


def clients(client: redis_py.Redis) -> Clients:
    """connected_clients against maxclients (INFO clients has it since Redis 7; else CONFIG GET)."""
    info = client.info("clients")
    maxclients = _int(info, "maxclients", -1)
    if maxclients < 0:
        maxclients = _int(client.config_get("maxclients"), "maxclients")
    stats = client.info("stats")
    return Clients(
        connected=_int(info, "connected_clients"),
        maxclients=maxclients,
        rejected=_int(stats, "rejected_connections"),
        blocked=_int(info, "blocked_clients"),
    )


@dataclass(frozen=True)
class Persistence:
    """INFO persistence, and whether snapshots or the AOF are configured at all."""

    save_points: str | None  # CONFIG GET save; None when CONFIG is not allowed
    aof_enabled: bool
    rdb_last_bgsave_status: str
    rdb_last_save_time: int
    rdb_changes_since_last_save: int
    aof_last_write_status: str
    aof_last_bgrewrite_status: str
    now: int

    @property
    def rdb_enabled(self) -> bool:
        return bool(self.save_points and self.save_points.strip())

    @property
    def is_on(self) -> bool:
        return self.rdb_enabled or self.aof_enabled

    @property
    def last_save_age(self) -> int:
        return max(0, self.now - self.rdb_last_save_time)


def persistence(client: redis_py.Redis) -> Persistence:
    import redis as redis_py

    info = client.info("persistence")
    try:
        save: str | None = str(client.config_get("save").get("save", ""))
    except redis_py.ResponseError:  # CONFIG renamed or denied (managed services)
        save = None
    return Persistence(
        save_points=save,
        aof_enabled=bool(_int(info, "aof_enabled")),
        rdb_last_bgsave_status=str(info.get("rdb_last_bgsave_status", "")),
        rdb_last_save_time=_int(info, "rdb_last_save_time"),
        rdb_changes_since_last_save=_int(info, "rdb_changes_since_last_save"),
        aof_last_write_status=str(info.get("aof_last_write_status", "")),
        aof_last_bgrewrite_status=str(info.get("aof_last_bgrewrite_status", "")),
        now=int(client.time()[0]),
    )


@dataclass(frozen=True)
class KeyspaceDb:
    keys: int
    expires: int

    @property
    def without_ttl(self) -> int:
        """Keys with no expiry in the whole db: an upper bound for any pattern, at no cost."""
        return self.keys - self.expires

    @property
    def with_ttl_pct(self) -> float | None:
        """Share of the db's keys that expire; None for an empty db."""
        return 100.0 * self.expires / self.keys if self.keys > 0 else None


def keyspace_db(client: redis_py.Redis) -> tuple[int, KeyspaceDb]:
    """The connected db's line of INFO keyspace (an empty db has no line: 0 keys)."""
    db = _db_of(client)
    return db, _keyspace_entry(client.info("keyspace"), db)


def _db_of(client: redis_py.Redis) -> int:
    return int(client.connection_pool.connection_kwargs.get("db", 0) or 0)


def _keyspace_entry(info: Mapping[Any, object], db: int) -> KeyspaceDb:
    """`db<N>:keys=..,expires=..` of INFO keyspace: its `keys` is DBSIZE of that db."""
    entry = info.get(f"db{db}", {})
    if not isinstance(entry, dict):
        entry = {}
    return KeyspaceDb(_int(entry, "keys"), _int(entry, "expires"))


# --- SCAN audits: redis-py's public API only ---------------------------------------------------
#
# Keys come back as bytes (NEVER_DECODE, redis-py's documented per-command option) whatever the
# client's decode_responses: a key that is not UTF-8 stays exact. Nothing here writes or blocks
# the server for long: SCAN's COUNT bounds each page, no MULTI, never KEYS.

SCAN_COUNT = 1000  # a hint to the server, as redis_exporter uses it
# A script's page: the server spends ~2-4 us per key in it (SCAN + TTL), and blocks meanwhile;
# 250 keys keep a call near 1 ms (bench/redis_ttl_audit.py), at a few percent of throughput.
SCRIPT_SCAN_COUNT = 250


def raw() -> dict[str, object]:
    """The execute_command option by which the reply's bulk strings stay bytes."""
    from redis.client import NEVER_DECODE

    return {NEVER_DECODE: []}


# One SCAN page and the TTL of each of its keys, run in the server: only the names of the keys
# without expiry (TTL -1) cross the wire, not a million TTL replies. Read-only (SCAN, TTL), so
# EVAL_RO accepts it and it runs on a replica; its work is one page (COUNT).
NO_TTL_PAGE_SCRIPT = """
local page = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local found = {}
for _, key in ipairs(page[2]) do
  if redis.call('TTL', key) == -1 then found[#found + 1] = key end
end
return {page[1], #page[2], found}
"""


def scan_page(client: redis_py.Redis, cursor: int, pattern: str, count: int) -> tuple[int, list[bytes]]:
    """One SCAN MATCH page: (next cursor, 0 at the end; the keys, as bytes). Pages may be empty."""
    cursor, keys = client.execute_command("SCAN", cursor, "MATCH", pattern, "COUNT", count, **raw())  # type: ignore[no-untyped-call]
    return int(cursor), list(keys)


@dataclass(frozen=True)
class TtlPage:
    """One SCAN page of an audit: how many keys it named, and those of them with TTL -1."""

    cursor: int  # 0 when the iteration is complete
    keys: int
    without_ttl: list[bytes]


def no_ttl_page_pipelined(client: redis_py.Redis, cursor: int, pattern: str, count: int) -> TtlPage:
    """SCAN one page, then the TTL of each of its keys in one pipeline (no MULTI): 2 round trips."""
    cursor, keys = scan_page(client, cursor, pattern, count)
    if not keys:
        return TtlPage(cursor, 0, [])
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.ttl(key)
    ttls = pipe.execute()
    return TtlPage(cursor, len(keys), [key for key, ttl in zip(keys, ttls, strict=True) if ttl == -1])


def no_ttl_page_scripted(
    client: redis_py.Redis, cursor: int, pattern: str, count: int, command: str = "EVAL_RO"
) -> TtlPage:
    """The same page in one round trip: NO_TTL_PAGE_SCRIPT under `command` (EVAL_RO or EVAL)."""
    import redis as redis_py

    reply = client.execute_command(command, NO_TTL_PAGE_SCRIPT, 0, cursor, pattern, count, **raw())  # type: ignore[no-untyped-call]
    if isinstance(reply, list) and len(reply) == 3 and isinstance(reply[2], list):
        with contextlib.suppress(TypeError, ValueError):  # int() of what is not a number
            if all(isinstance(key, bytes) for key in reply[2]):
                return TtlPage(int(reply[0]), int(reply[1]), list(reply[2]))
    raise redis_py.DataError(f"unexpected reply of the TTL page script: {reply!r:.80}")


def _script_refused(error: redis_py.ResponseError) -> bool:
    """EVAL_RO unknown (Redis < 7), or scripting renamed away or denied by an ACL."""
    import redis as redis_py

    return isinstance(error, redis_py.exceptions.NoPermissionError) or "unknown command" in str(error).lower()


def _decode(key: bytes) -> str:
    # surrogateescape keeps a non-UTF-8 key exact: key.encode(errors="surrogateescape") gives it back
    return key.decode(errors="surrogateescape")


@dataclass(frozen=True)
class TtlAudit:
    """Keys matching a pattern that have no expiry (TTL -1): every one, for a remediation to act on."""

    pattern: str
    scanned: int  # keys SCAN named (a key SCAN repeats during a rehash counts twice)
    without_ttl: list[str]  # distinct, sorted
    seconds: float
    method: str  # "EVAL_RO", "EVAL" (Redis < 7) or "pipeline"
    calls: int  # pages: script calls, or SCAN + pipeline round-trip pairs

    @property
    def keys_per_second(self) -> float:
        return self.scanned / self.seconds if self.seconds else 0.0


def keys_without_ttl(
    client: redis_py.Redis, pattern: str, *, count: int | None = None, server_side: bool = True
) -> TtlAudit:
    """What the manual's weekly `--scan | xargs -L 1 redis-cli ttl | awk` meant: the key names
    (not the TTL values it prints) of keys with TTL -1, read-only. TTL -2 (expired or deleted
    since the SCAN) is not counted.

    Server-side (the default) each page is one EVAL_RO of NO_TTL_PAGE_SCRIPT (EVAL before Redis 7);
    where scripts are refused, and with `server_side=False`, SCAN + a pipeline of TTL per page.
    SCAN runs from cursor 0 back to 0; a key it names twice is listed once. `count`: SCAN's COUNT,
    by default SCRIPT_SCAN_COUNT for a script (bounds each call) and SCAN_COUNT for pipelines.
    """
    import redis as redis_py

    methods = ["EVAL_RO", "EVAL", "pipeline"] if server_side else ["pipeline"]
    started = time.perf_counter()
    cursor, scanned, calls = 0, 0, 0
    found: set[bytes] = set()
    while True:
        try:
            if methods[0] == "pipeline":
                page = no_ttl_page_pipelined(client, cursor, pattern, count or SCAN_COUNT)
            else:
                page = no_ttl_page_scripted(client, cursor, pattern, count or SCRIPT_SCAN_COUNT, methods[0])
        except redis_py.ResponseError as error:
            if calls or methods[0] == "pipeline" or not _script_refused(error):
                raise
            methods.pop(0)  # first page only: the server lacks EVAL_RO, or scripts are not allowed
            continue
        calls += 1
        scanned += page.keys
        found.update(page.without_ttl)
        cursor = page.cursor
        if cursor == 0:
            break
    seconds = time.perf_counter() - started
    return TtlAudit(pattern, scanned, sorted(_decode(k) for k in found), seconds, methods[0], calls)


@dataclass(frozen=True)
class BigKeys:
    scanned: int
    complete: bool  # False when the scan stopped at its bound
    sizes: list[tuple[str, int]]  # keys at or above the floor, largest first


def big_keys(client: redis_py.Redis, floor: int, *, limit: int, samples: int = 5, count: int = SCAN_COUNT) -> BigKeys:
    """Keys whose MEMORY USAGE (SAMPLES `samples`) is at least `floor` bytes, over at most `limit`
    keys: SCAN pages, each page's MEMORY USAGE in one pipeline (no MULTI)."""
    seen: set[bytes] = set()
    sizes: dict[bytes, int] = {}
    cursor = 0
    while True:
        cursor, keys = scan_page(client, cursor, "*", count)
        if keys:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.memory_usage(key, samples=samples)
            for key, usage in zip(keys, pipe.execute(), strict=True):
                seen.add(key)
                if isinstance(usage, int) and usage >= floor:
                    sizes[key] = usage
        if cursor == 0 or len(seen) >= limit:
            break
    ranked = sorted(((_decode(k), v) for k, v in sizes.items()), key=lambda kv: -kv[1])
    return BigKeys(len(seen), len(seen) < limit, ranked)
