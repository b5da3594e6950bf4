"""Redis remediation and measurements against the sandbox: redis.fragmentation offers
redis_active_defrag (safe), and redis.memory counts the configured db's keys from its one INFO.

Fragmentation cannot be made in minutes: its thresholds come down until the sandbox's healthy
ratio is a warning. Debian's redis-server uses the system jemalloc, without the defrag support
Redis bundles: such a server refuses `CONFIG SET activedefrag yes`, and the action says so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_py

from sandbox import Sandbox
from sandbox.redis import connect as redis_connect
from tests.conftest import Run, RunChecks, environment_text

FRAGMENTED = environment_text(
    '[thresholds."redis.fragmentation"]\nwarning = 1.01\ncritical = 1000\n'
    '[thresholds."redis.fragmentation.min_used"]\nwarning = "1KB"\n'
)
RUNTIME_ONLY = "(runtime only: persist it in redis.conf)"


def audit_lines(run: Run) -> list[dict[str, Any]]:
    path = run.archive / "actions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def admin(sandbox: Sandbox) -> Iterator[redis_py.Redis]:
    """A client of the sandbox's Redis; activedefrag is back to no afterwards, whatever a test did."""
    with redis_connect(sandbox.require_state().redis_port, timeout=5) as client:
        try:
            yield client
        finally:
            client.config_set("activedefrag", "no")


def defrag_supported(client: redis_py.Redis) -> bool:
    """Whether this redis-server build accepts activedefrag (left off either way)."""
    try:
        client.config_set("activedefrag", "yes")
    except redis_py.ResponseError:
        return False
    client.config_set("activedefrag", "no")
    return True


def test_active_defrag_planned_then_applied_once(
    run_checks: RunChecks, sandbox: Sandbox, admin: redis_py.Redis
) -> None:
    port = sandbox.require_state().redis_port
    assert str(admin.info("memory")["mem_allocator"]).startswith("jemalloc")
    supported = defrag_supported(admin)
    check = ("redis/test_optimization.py",)
    args = ("-k", "fragmentation")

    planned = run_checks(*check, env=FRAGMENTED, args=args)
    assert planned.status("redis.fragmentation") == "warning", planned.output
    assert "PLANNED redis_active_defrag (safe) for redis.fragmentation" in planned.output
    assert f"would run CONFIG SET activedefrag yes on 127.0.0.1:{port} {RUNTIME_ONLY}" in planned.output
    [line] = audit_lines(planned)
    assert line["decision"] == "planned" and line["risk"] == "safe" and line["steps"] == []
    assert admin.config_get("activedefrag")["activedefrag"] == "no", "without --remediate nothing changes"

    applied = run_checks(*check, env=FRAGMENTED, args=(*args, "--remediate=redis_active_defrag"))
    [line] = audit_lines(applied)
    if not supported:  # Debian's build: the server refused it, nothing changed, and the result says why
        assert line["decision"] == "refused" and line["steps"] == []
        assert line["result"].startswith(
            f"refused by the target: 127.0.0.1:{port} refused activedefrag: Active defragmentation cannot be enabled"
        ), line
        assert admin.config_get("activedefrag")["activedefrag"] == "no"
        return
    assert line["decision"] == "applied" and line["steps"] == [f"CONFIG SET activedefrag yes {RUNTIME_ONLY}"]
    assert admin.config_get("activedefrag")["activedefrag"] == "yes"
    # The ratio itself is what it was: the check stays a warning, with nothing more to offer.
    assert applied.status("redis.fragmentation") == "warning"
    again = run_checks(*check, env=FRAGMENTED, args=(*args, "--remediate=redis_active_defrag"))
    assert audit_lines(again) == [], "a second run plans nothing: activedefrag is on"
    assert "redis_active_defrag" not in again.output


def test_no_offer_below_warning(run_checks: RunChecks, admin: redis_py.Redis) -> None:
    """The demo thresholds: the healthy sandbox's ratio is not judged, nothing is offered."""
    run = run_checks("redis/test_optimization.py", args=("-k", "fragmentation", "--remediate=redis_active_defrag"))
    assert run.status("redis.fragmentation") == "ok", run.output
    assert audit_lines(run) == []


def test_memory_counts_keys_from_one_info(run_checks: RunChecks, admin: redis_py.Redis) -> None:
    admin.set("sandbox:fault:no-ttl", "1")  # one key without expiry: the share is below 100%
    try:
        before = admin.info("commandstats")
        run = run_checks("daily/test_redis.py", args=("-k", "memory"))
        after = admin.info("commandstats")
        keys, expires = admin.dbsize(), admin.info("keyspace")["db0"]["expires"]
    finally:
        admin.unlink("sandbox:fault:no-ttl")
    assert run.status("redis.memory") == "ok", run.output
    measured = {m["name"]: m for m in run.checks("redis.memory")[0]["measurements"]}
    assert measured["keys"]["value"] == keys and measured["keys"]["label"] == "keys in db0"
    share = measured["keys_with_ttl"]
    assert share["value"] == pytest.approx(100.0 * expires / keys) and 0 < share["value"] < 100
    assert share["unit"] == "%" and share["warning"] is None and share["critical"] is None, share

    def calls(stats: dict[str, Any], command: str) -> int:
        return int(stats.get(f"cmdstat_{command}", {"calls": 0})["calls"])

    # One INFO by the check (plus this test's own first INFO commandstats); no DBSIZE, no SCAN.
    assert calls(after, "info") - calls(before, "info") == 2
    assert calls(after, "dbsize") == calls(before, "dbsize")
    assert calls(after, "scan") == calls(before, "scan")
