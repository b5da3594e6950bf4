"""The Redis checks (checks/redis/): ok on the healthy sandbox, and the right status and message
under real faults: session keys without TTL, a big key, a wrong eviction policy, misses, clients
at maxclients, a failing snapshot. Fragmentation cannot be made in minutes: its thresholds come
down instead. Faults are grouped so that one run of the suite serves several checks."""

from __future__ import annotations

import contextlib
import re

import pytest

from sandbox import Sandbox
from sandbox.redis import connect as redis_connect
from tests.conftest import DEMO_ENV, RunChecks, environment_text

REDIS_IDS = {
    "redis.hit_rate",
    "redis.clients",
    "redis.fragmentation",
    "redis.eviction_policy",
    "redis.persistence",
    "redis.sessions_without_ttl",
    "redis.big_keys",
}


def test_healthy_sandbox_is_all_ok(run_checks: RunChecks) -> None:
    run = run_checks("redis")
    assert run.result.ret == pytest.ExitCode.OK, run.output
    statuses = {c["id"]: c["status"] for c in run.summary["checks"]}
    assert set(statuses) == REDIS_IDS, statuses
    assert set(statuses.values()) == {"ok"}, statuses
    # Each healthy verdict says why it is ok, not just "ok".
    assert re.search(r"hit rate not judged: \d+ lookups .* < minimum 1000", run.message("redis.hit_rate"))
    assert re.search(
        r"mem_fragmentation_ratio [\d.]+ not judged: used memory [\d.]+ MiB < 100\.0 MiB",
        run.message("redis.fragmentation"),
    )
    assert "persistence off" in run.message("redis.persistence")
    assert "a cache, keys are expendable by policy" in run.message("redis.persistence")
    assert re.search(r"without TTL = 0 \(db0: all \d+ keys expire\)", run.message("redis.sessions_without_ttl"))
    assert re.search(r"no key >= 1\.0 MiB \(\d+ keys scanned", run.message("redis.big_keys"))


def test_weekly_faults(run_checks: RunChecks, sandbox: Sandbox) -> None:
    """Session keys without TTL, a 12 MiB key and noeviction, in one run; fragmentation by thresholds."""
    env = environment_text(
        '[thresholds."redis.fragmentation"]\nwarning = 1.01\ncritical = 1.02\n'
        '[thresholds."redis.fragmentation.min_used"]\nwarning = "1MB"\n'
    )
    port = sandbox.require_state().redis_port
    with redis_connect(port) as admin, contextlib.ExitStack() as faults:
        no_ttl = faults.enter_context(sandbox.faults.redis_keys_without_ttl(10))
        big = faults.enter_context(sandbox.faults.redis_big_key(12 << 20))
        faults.enter_context(sandbox.faults.redis_eviction_policy("noeviction"))
        before = admin.info("commandstats")
        run = run_checks("redis/test_optimization.py", "redis/test_maintenance.py", env=env)
        after = admin.info("commandstats")
        ttls = {admin.ttl(key) for key in no_ttl}
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED, run.output

    assert run.status("redis.sessions_without_ttl") == "warning"
    assert re.fullmatch(
        rf"127\.0\.0\.1:{port}: keys matching 'session:\*' without TTL = 10 \(of \d+ scanned in db0:"
        r" session:user:900:sandbox-fault-0, session:user:901:sandbox-fault-1, session:user:902:sandbox-fault-2,"
        r" \.\.\.\) >= warning 1",
        run.message("redis.sessions_without_ttl"),
    ), run.message("redis.sessions_without_ttl")
    assert ttls == {-1}, "the audit is read-only: the keys it found still have no TTL"

    assert run.status("redis.big_keys") == "critical"
    assert re.fullmatch(
        rf"127\.0\.0\.1:{port}: largest key '{big}' = 1[2-6]\.\d MiB \(\d+ keys scanned\) >= critical 10\.0 MiB",
        run.message("redis.big_keys"),
    ), run.message("redis.big_keys")

    assert run.status("redis.eviction_policy") == "critical"
    assert run.message("redis.eviction_policy") == (
        f"127.0.0.1:{port}: maxmemory-policy is noeviction, expected allkeys-lru ([redis] eviction_policy)"
    )

    assert run.status("redis.fragmentation") == "critical"
    assert re.fullmatch(
        rf"127\.0\.0\.1:{port}: mem_fragmentation_ratio = [\d.]+ \(rss [\d.]+ MiB / used [\d.]+ MiB\)"
        r" >= critical 1\.02",
        run.message("redis.fragmentation"),
    ), run.message("redis.fragmentation")

    # SCAN and pipelines, never KEYS; one TTL per key, batched (not a round trip each: see bench/).
    assert "cmdstat_keys" not in after or after["cmdstat_keys"] == before.get("cmdstat_keys")
    assert after["cmdstat_scan"]["calls"] > before.get("cmdstat_scan", {"calls": 0})["calls"]


def test_daily_faults(run_checks: RunChecks, sandbox: Sandbox) -> None:
    """Misses, clients at maxclients and a failing snapshot, in one run; no expected policy set."""
    env = environment_text(base=DEMO_ENV.replace('eviction_policy = "allkeys-lru"\n', ""))
    assert env != environment_text()
    port = sandbox.require_state().redis_port
    with contextlib.ExitStack() as faults:
        rate = faults.enter_context(sandbox.faults.redis_misses(misses=3000, hits=1000))
        # Persistence before the clients fault: both need connections, and a failed snapshot
        # refuses writes (the misses fault writes a key).
        dump = faults.enter_context(sandbox.faults.redis_bgsave_failing())
        held = faults.enter_context(sandbox.faults.redis_clients_near_max(maxclients=20, free=2))
        run = run_checks(
            "redis/test_metrics.py",
            "redis/test_optimization.py",
            env=env,
            args=("-k", "not big_keys and not fragmentation"),
        )
    assert rate == 25.0 and held >= 10
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED, run.output

    assert run.status("redis.hit_rate") == "critical"
    assert re.fullmatch(
        rf"127\.0\.0\.1:{port}: keyspace hit rate = 2\d(\.\d+)?% \(1\d\d\d hits, 3\d\d\d misses since start or"
        r" CONFIG RESETSTAT, .* of uptime\) <= critical 50%",
        run.message("redis.hit_rate"),
    ), run.message("redis.hit_rate")

    assert run.status("redis.clients") == "critical"
    assert re.fullmatch(
        rf"127\.0\.0\.1:{port}: clients connected = 95% \(19/20 maxclients\) >= critical 90%",
        run.message("redis.clients"),
    ), run.message("redis.clients")
    measurements = run.checks("redis.clients")[0]["measurements"]
    rejected = next(m for m in measurements if m["name"] == "rejected")
    assert rejected["value"] >= 1 and rejected["status"] == "warning", rejected

    assert run.status("redis.persistence") == "critical"
    assert run.message("redis.persistence") == (
        f"127.0.0.1:{port}: last RDB snapshot failed (rdb_last_bgsave_status err, save '3600 1');"
        " Redis refuses writes while stop-writes-on-bgsave-error is on"
    )
    assert dump.endswith("dump.rdb")

    assert run.status("redis.eviction_policy") == "skipped"
    assert "set [redis] eviction_policy" in run.message("redis.eviction_policy")


def test_counters_are_judged_since_the_previous_run(run_checks: RunChecks, sandbox: Sandbox) -> None:
    """The counters are cumulative: a second run against the same archive judges what they did
    since the first. 2,000 hits after a 25% start: since start that is 50% (critical), since the
    previous run about 100% (ok)."""
    args = ("-k", "hit_rate or clients")
    with sandbox.faults.redis_misses(misses=3000, hits=1000):
        first = run_checks("redis/test_metrics.py", args=args)
        assert first.status("redis.hit_rate") == "critical", first.output
        assert "misses since start or CONFIG RESETSTAT" in first.message("redis.hit_rate")
        first_run = first.archive.name  # read now: the second run archives into the same folder
        with redis_connect(sandbox.require_state().redis_port) as client:
            client.set("sandbox:fault:hit", "1")
            pipe = client.pipeline(transaction=False)
            for _ in range(2000):
                pipe.get("sandbox:fault:hit")
            pipe.execute()
            client.unlink("sandbox:fault:hit")
        second = run_checks("redis/test_metrics.py", args=args, report_dir=first.report_dir)
    assert second.archive.name != first_run
    assert second.status("redis.hit_rate") == "ok", second.output
    since = rf"since the previous run {first_run}, \S+ ago"
    message = second.message("redis.hit_rate")
    assert re.search(rf"keyspace hit rate = (9\d|100)(\.\d+)?% \(2\d\d\d hits, \d+ misses {since}\)", message), message
    message = second.message("redis.clients")
    assert re.search(rf"connections rejected at maxclients = 0 \({since}\)", message), message


def test_faults_clean_up(sandbox: Sandbox) -> None:
    """After the faults: policy, maxclients, persistence and counters are as the sandbox started."""
    with redis_connect(sandbox.require_state().redis_port) as client:
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
        assert client.config_get("save")["save"] == ""
        assert int(client.config_get("maxclients")["maxclients"]) > 20
        persistence = client.info("persistence")
        stats = client.info("stats")
        assert persistence["rdb_last_bgsave_status"] == "ok"
        assert stats["rejected_connections"] == 0
        assert client.exists("cache:report:sandbox-fault", "session:user:900:sandbox-fault-0") == 0
