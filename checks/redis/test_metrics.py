"""Redis Metrics (the manual's `redis-cli info stats | clients | persistence`), judged the way
redis_exporter and the Redis documentation read these fields.

The counters (keyspace_hits/misses, rejected_connections) are cumulative since the server
started or since CONFIG RESETSTAT: a hit rate is judged only past a minimum number of lookups,
and every counter is recorded with the server's uptime so that runs can be compared.
"""

from __future__ import annotations

import pytest
import redis as redis_py

from fixtures.measure import CheckRun, check
from fixtures.status import Limit
from fixtures.units import format_quantity
from probes.redis import clients, lookups, memory_info, persistence

pytestmark = [pytest.mark.daily, pytest.mark.redis]


@check(
    "redis.hit_rate",
    "Redis keyspace hit rate, past a minimum number of lookups",
    rate=Limit(80, 50, "%", below=True),
    # Not an alarm: the number of lookups (its `warning`) from which the rate means something.
    min_lookups=Limit(1000, None),
)
def test_hit_rate(redis: redis_py.Redis, check: CheckRun) -> None:
    counts = lookups(redis)
    check.record("keyspace_hits", counts.hits)
    check.record("keyspace_misses", counts.misses)
    check.record("uptime", counts.uptime, "s")
    minimum = check.limit("min_lookups").warning or 0
    since = f"since start or CONFIG RESETSTAT, {format_quantity(counts.uptime, 's')} of uptime"
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
    "Redis connected clients against maxclients, and rejected connections",
    used=Limit(80, 90, "%"),
    rejected=Limit(1, None),
)
def test_clients(redis: redis_py.Redis, check: CheckRun) -> None:
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
    check.measure(
        "rejected",
        found.rejected,
        label="rejected_connections",
        detail="refused at maxclients since start or CONFIG RESETSTAT",
    )


@check(
    "redis.persistence",
    "Redis snapshots and AOF writes succeed where persistence is on",
    last_save_age=Limit(2 * 3600, 24 * 3600, "s"),
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
