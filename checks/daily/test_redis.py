"""Morning health check, step 4: Redis answers, and its memory."""

from __future__ import annotations

import pytest
import redis as redis_py

from fixtures.measure import CheckRun, check
from fixtures.redis import redis_client
from probes.redis import memory_and_keyspace, ping_latency
from sergas.status import CheckOutcome, Limit
from sergas.targets import short_reason
from sergas.units import Unit, format_quantity

pytestmark = [pytest.mark.daily, pytest.mark.redis]


@pytest.mark.gate
@check("redis.ping", "Redis answers PING", latency=Limit(0.1, 1.0, Unit.SECONDS))
def test_ping(redis_target: str, check: CheckRun, request: pytest.FixtureRequest) -> None:
    # Reachability is this check's finding: no answer is critical here, unknown elsewhere.
    try:
        latency = ping_latency(redis_client(request.config, redis_target))
    except CheckOutcome as outcome:
        check.critical(f"no answer to PING: {outcome.message.split(': ', 1)[-1]}")
        return
    except redis_py.RedisError as exc:
        check.critical(f"no answer to PING: {short_reason(exc)}")
        return
    check.measure("latency", latency, label="PING round trip")


@check(
    "redis.memory",
    "Redis memory used against maxmemory; the configured db's keys, and the share that expire",
    used=Limit(90, 95, Unit.PERCENT),
)
def test_memory(redis: redis_py.Redis, check: CheckRun) -> None:
    memory, db, space = memory_and_keyspace(redis)
    check.record("used_memory", memory.used, Unit.BYTES)
    check.record("used_memory_rss", memory.rss, Unit.BYTES)
    check.record("maxmemory", memory.maxmemory, Unit.BYTES)
    # INFO keyspace's count is DBSIZE of the configured db: no command more, no scan.
    check.record("keys", space.keys, label=f"keys in db{db}")
    if space.with_ttl_pct is not None:
        check.record("keys_with_ttl", space.with_ttl_pct, Unit.PERCENT, label=f"keys with a TTL in db{db}")
    check.attach("INFO memory", repr(memory))
    if memory.used_pct is None:
        check.warning(
            f"no maxmemory set ({format_quantity(memory.used, Unit.BYTES)} used): Redis grows until the host runs out"
        )
        return
    check.measure(
        "used",
        memory.used_pct,
        label="memory used",
        detail=f"{format_quantity(memory.used, Unit.BYTES)} of maxmemory "
        f"{format_quantity(memory.maxmemory, Unit.BYTES)},"
        f" policy {memory.policy}",
    )
