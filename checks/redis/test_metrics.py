"""Redis Metrics (the manual's `redis-cli info stats | clients | persistence`), judged the way
redis_exporter and the Redis documentation read these fields.

The counters (keyspace_hits/misses, rejected_connections) are cumulative since the server
started or since CONFIG RESETSTAT, so each is recorded with the server's start time and judged
as its growth since the previous archived run of the same server (a rate over a day, not over
months of uptime); without one, since start. A hit rate is judged only past a minimum number
of lookups.
"""

from __future__ import annotations

import datetime as dt

import pytest
import redis as redis_py

from fixtures.history import EarlierLookup
from fixtures.measure import CheckRun, check
from probes.redis import ServerClock, clients, counter_growth, lookups, memory_info, persistence, server_clock
from sergas.status import Limit
from sergas.units import Unit, format_quantity

pytestmark = [pytest.mark.daily, pytest.mark.redis]


def _since_previous(
    check: CheckRun, earlier: EarlierLookup, clock: ServerClock, **counters: int
) -> tuple[dict[str, float], str] | None:
    """How much each of `counters` grew since the previous archived run, and since when; None
    without a previous run, or when the server restarted or reset its statistics since.
    Records the counters and the server's start time for the next run."""
    for name, value in counters.items():
        check.record(name, value)
    check.record("server_started", clock.started)
    before = earlier(check.spec.id, check.target, "server_started", *counters)
    if before is None:
        return None
    grown = {
        name: counter_growth(value, before.values[name], clock.started, before.values["server_started"])
        for name, value in counters.items()
    }
    if any(g is None for g in grown.values()):
        return None
    ago = format_quantity((dt.datetime.now(dt.UTC) - before.at).total_seconds(), Unit.SECONDS)
    return {k: float(v or 0) for k, v in grown.items()}, f"since the previous run {before.run_id}, {ago} ago"


@check(
    "redis.hit_rate",
    "Redis keyspace hit rate since the previous run (else since start), past a minimum number of lookups",
    rate=Limit(80, 50, Unit.PERCENT, below=True),
    # Not an alarm: the number of lookups (its `warning`) from which the rate means something.
    min_lookups=Limit(1000, None),
)
def test_hit_rate(redis: redis_py.Redis, check: CheckRun, earlier: EarlierLookup) -> None:
    counts = lookups(redis)
    clock = server_clock(redis)
    check.record("uptime", clock.uptime, Unit.SECONDS)
    minimum = check.limit("min_lookups").warning or 0
    interval = _since_previous(check, earlier, clock, keyspace_hits=counts.hits, keyspace_misses=counts.misses)
    if interval is not None:
        grown, since = interval
        hits, misses = grown["keyspace_hits"], grown["keyspace_misses"]
        if hits + misses >= minimum:
            detail = f"{hits:.0f} hits, {misses:.0f} misses {since}"
            check.measure("rate", 100.0 * hits / (hits + misses), label="keyspace hit rate", detail=detail)
            return
    since = f"since start or CONFIG RESETSTAT, {format_quantity(clock.uptime, Unit.SECONDS)} of uptime"
    if counts.hit_rate is None or counts.total < minimum:
        check.ok(f"hit rate not judged: {counts.total} lookups {since} < minimum {minimum:.0f}")
        return
    check.measure(
        "rate",
        counts.hit_rate,
        label="keyspace hit rate",
        detail=f"{counts.hits} hits, {counts.misses} misses {since}",
    )


@check(
    "redis.clients",
    "Redis connected clients against maxclients, and connections rejected since the previous run",
    used=Limit(80, 90, Unit.PERCENT),
    rejected=Limit(1, None),
)
def test_clients(redis: redis_py.Redis, check: CheckRun, earlier: EarlierLookup) -> None:
    found = clients(redis)
    check.record("connected_clients", found.connected)
    check.record("maxclients", found.maxclients)
    check.record("blocked_clients", found.blocked)
    check.attach("INFO clients, stats", repr(found))
    check.measure(
        "used",
        found.used_pct,
        label="clients connected",
        detail=f"{found.connected}/{found.maxclients} maxclients",
    )
    # A rejection of months ago would otherwise warn on every run until a restart.
    interval = _since_previous(check, earlier, server_clock(redis), rejected_connections=found.rejected)
    rejected, since = (
        (interval[0]["rejected_connections"], interval[1])
        if interval is not None
        else (found.rejected, "since start or CONFIG RESETSTAT")
    )
    check.measure("rejected", rejected, label="connections rejected at maxclients", detail=since)


@check(
    "redis.persistence",
    "Redis snapshots and AOF writes succeed where persistence is on",
    last_save_age=Limit(2 * 3600, 24 * 3600, Unit.SECONDS),
)
def test_persistence(redis: redis_py.Redis, check: CheckRun) -> None:
    state = persistence(redis)
    check.attach("INFO persistence", repr(state))
    if state.save_points is None and not state.aof_enabled:
        check.unknown("cannot tell whether RDB snapshots are configured: CONFIG GET save is refused")
        return
    if not state.is_on:
        # A cache may run without persistence: what it holds the app rebuilds, and under an
        # allkeys-* policy any key may be evicted at any moment anyway. Under a policy that
        # keeps keys (noeviction, volatile-*) they are data, and a restart loses them.
        policy = memory_info(redis).policy
        text = f'persistence off (save "", appendonly no), maxmemory-policy {policy}'
        if policy.startswith("allkeys-"):
            check.ok(f"{text}: a cache, keys are expendable by policy, a restart empties it")
        else:
            check.warning(f"{text} keeps keys as data: a restart loses them all")
        return
    if state.rdb_enabled:
        if state.rdb_last_bgsave_status != "ok":
            check.critical(
                f"last RDB snapshot failed (rdb_last_bgsave_status {state.rdb_last_bgsave_status},"
                f" save {state.save_points!r}); Redis refuses writes while stop-writes-on-bgsave-error is on"
            )
        if state.rdb_changes_since_last_save > 0:
            check.measure(
                "last_save_age",
                state.last_save_age,
                label="last successful RDB snapshot age",
                detail=f"{state.rdb_changes_since_last_save} changes not yet saved",
            )
        else:
            check.ok(f"RDB on (save {state.save_points!r}), no unsaved changes")
    if state.aof_enabled:
        if state.aof_last_write_status != "ok":
            check.critical(f"AOF writes fail (aof_last_write_status {state.aof_last_write_status})")
        if state.aof_last_bgrewrite_status != "ok":
            check.warning(f"last AOF rewrite failed (aof_last_bgrewrite_status {state.aof_last_bgrewrite_status})")
        if state.aof_last_write_status == "ok" and state.aof_last_bgrewrite_status == "ok":
            check.ok("AOF on, last write and rewrite ok")
