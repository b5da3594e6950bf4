"""Redis Optimization (the manual's `info memory | grep mem_fragmentation`, `--bigkeys`,
`CONFIG SET maxmemory-policy allkeys-lru`), as checks that read and never set anything: the
fixes are offered as remediations (redis_config, redis_active_defrag)."""

from __future__ import annotations

import pytest
import redis as redis_py

from actions.redis import RedisActiveDefrag, RedisConfig
from fixtures.measure import CheckRun, check
from fixtures.remediation import Remediation
from probes.redis import active_defrag, big_keys, memory_info
from sergas.config import Environment
from sergas.status import Limit, Status
from sergas.units import Unit, format_quantity

pytestmark = [pytest.mark.weekly, pytest.mark.redis]

# Keys sampled by redis.big_keys at most: a weekly check must stay cheap on a large cache.
BIG_KEYS_SCAN_LIMIT = 100_000


@check(
    "redis.fragmentation",
    "Redis memory fragmentation (rss / used), where used memory is large enough to matter",
    ratio=Limit(1.5, 2.0),
    # used > rss: part of the data set is swapped out.
    swapped=Limit(0.99, 0.9, below=True),
    # Not an alarm: below this much used memory (its `warning`) the ratio is noise (Redis's
    # own active defrag ignores fragmentation under active-defrag-ignore-bytes, 100mb).
    min_used=Limit(100 * 1024**2, None, Unit.BYTES),
    offers=(RedisActiveDefrag,),
)
def test_fragmentation(redis: redis_py.Redis, redis_target: str, check: CheckRun, remediation: Remediation) -> None:
    memory = memory_info(redis)
    check.record("used_memory", memory.used, Unit.BYTES)
    check.record("used_memory_rss", memory.rss, Unit.BYTES)
    check.attach("INFO memory", repr(memory))
    minimum = check.limit("min_used").warning or 0
    sizes = f"rss {format_quantity(memory.rss, Unit.BYTES)} / used {format_quantity(memory.used, Unit.BYTES)}"
    if memory.used < minimum:
        check.record("mem_fragmentation_ratio", memory.fragmentation_ratio)
        check.ok(
            f"mem_fragmentation_ratio {memory.fragmentation_ratio:.2f} not judged: used memory"
            f" {format_quantity(memory.used, Unit.BYTES)} < {format_quantity(minimum, Unit.BYTES)}"
        )
        return
    if memory.fragmentation_ratio < 1:
        detail = f"{sizes}: used exceeds RSS, swapping"
        check.measure("swapped", memory.fragmentation_ratio, label="mem_fragmentation_ratio", detail=detail)
        return
    status = check.measure("ratio", memory.fragmentation_ratio, label="mem_fragmentation_ratio", detail=sizes)
    if status in (Status.WARNING, Status.CRITICAL) and active_defrag(redis) == "no":
        remediation.offer(RedisActiveDefrag(url=redis_target, allocator=memory.allocator))


@check("redis.eviction_policy", "Redis maxmemory-policy is the environment's expected policy", offers=(RedisConfig,))
def test_eviction_policy(
    redis: redis_py.Redis, redis_target: str, check: CheckRun, remediation: Remediation, environment: Environment
) -> None:
    assert environment.redis is not None  # the redis fixture skipped otherwise
    expected = environment.redis.eviction_policy
    if expected is None:
        pytest.skip("no expected policy: set [redis] eviction_policy (the manual uses allkeys-lru for the cache)")
    actual = memory_info(redis).policy
    check.attach("maxmemory-policy", f"actual {actual}\nexpected {expected}")
    if actual != expected:
        check.critical(f"maxmemory-policy is {actual}, expected {expected} ([redis] eviction_policy)")
        remediation.offer(RedisConfig(url=redis_target, settings={"maxmemory-policy": expected}))
    else:
        check.ok(f"maxmemory-policy is {actual}")


@check(
    "redis.big_keys",
    "Redis keys above a size (MEMORY USAGE, sampled), over a bounded scan",
    size=Limit(1024**2, 10 * 1024**2, Unit.BYTES),
)
def test_big_keys(redis: redis_py.Redis, check: CheckRun) -> None:
    limit = check.limit("size")
    floor = min(t for t in (limit.warning, limit.critical) if t is not None)
    found = big_keys(redis, int(floor), limit=BIG_KEYS_SCAN_LIMIT)
    check.record("keys_scanned", found.scanned)
    check.record("big_keys", len(found.sizes))
    scope = f"{found.scanned} keys scanned" + ("" if found.complete else f", stopped at {BIG_KEYS_SCAN_LIMIT}")
    if not found.sizes:
        check.ok(f"no key >= {format_quantity(floor, Unit.BYTES)} ({scope}, MEMORY USAGE SAMPLES 5)")
        return
    check.attach("big keys (MEMORY USAGE SAMPLES 5)", "\n".join(f"{v}\t{k}" for k, v in found.sizes[:100]))
    key, size = found.sizes[0]
    others = f"; {len(found.sizes) - 1} more >= {format_quantity(floor, Unit.BYTES)}" if len(found.sizes) > 1 else ""
    check.measure("size", size, label=f"largest key {key!r}", detail=f"{scope}{others}", context={"key": key})
