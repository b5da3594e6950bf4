"""Remediation as an operator meets it: the plan without --remediate (nothing changes), the fix
with it (the check measures again and is ok, the audit log says what was done), and nothing to
do the next time; plus the safety rules (disruptive needs its name, concurrent runs act once)."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from probes.redis import connect_redis
from sandbox import Sandbox
from tests.conftest import ROOT, Run, RunChecks, environment_text

DISABLED_USER = "47"  # disabled in sandbox/schema.sql (id % 40 == 7)


def audit_lines(run: Run) -> list[dict[str, Any]]:
    path = run.archive / "actions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def stale_sessions(sandbox: Sandbox) -> Iterator[list[str]]:
    """Two live sessions of a disabled user: the access the manual's "Revoking Access" removes."""
    client = connect_redis(sandbox.require_state().redis_url, timeout=5)
    keys = [f"session:user:{DISABLED_USER}:{secrets.token_hex(6)}" for _ in range(2)]
    for key in keys:
        client.set(key, '{"user_id": 47}', ex=3600)
    yield keys
    client.delete(*keys)


def test_plan_then_apply_then_nothing_to_do(run_checks: RunChecks, sandbox: Sandbox, stale_sessions: list[str]) -> None:
    client = connect_redis(sandbox.require_state().redis_url, timeout=5)

    planned = run_checks("users")
    assert planned.status("users.disabled_sessions") == "critical"
    message = planned.message("users.disabled_sessions")
    assert f"sessions of disabled users = 2 (users {DISABLED_USER}) >= critical 1" in message
    target = planned.checks("users.disabled_sessions")[0]["target"]
    planned_line = f"PLANNED revoke_sessions (safe) for users.disabled_sessions on {target}: apply with --remediate="
    assert planned_line + "revoke_sessions" in planned.output
    assert f"would run UNLINK 2 session key(s) of disabled user {DISABLED_USER}" in planned.output
    assert client.exists(*stale_sessions) == 2, "without --remediate nothing changes"
    [line] = audit_lines(planned)
    assert line["decision"] == "planned" and line["steps"] == []

    applied = run_checks("users", args=("--remediate=revoke_sessions",))
    assert applied.result.ret == pytest.ExitCode.OK, applied.output
    record = applied.checks("users.disabled_sessions")[0]
    assert record["status"] == "ok"
    assert record["before"]["status"] == "critical"
    assert client.exists(*stale_sessions) == 0
    [line] = audit_lines(applied)
    assert line["decision"] == "applied"
    assert line["steps"] == [f"UNLINK 2 session key(s) of disabled user {DISABLED_USER}"]
    assert record["remediation"] == [line]
    assert "APPLIED revoke_sessions" in applied.output

    again = run_checks("users", args=("--remediate=revoke_sessions",))
    assert again.status("users.disabled_sessions") == "ok"
    assert audit_lines(again) == [], "a second run finds nothing to do"


def test_safe_applies_safe_actions(run_checks: RunChecks, sandbox: Sandbox, stale_sessions: list[str]) -> None:
    run = run_checks("users", args=("--remediate=safe",))
    assert run.status("users.disabled_sessions") == "ok"
    assert [line["decision"] for line in audit_lines(run)] == ["applied"]


def test_other_action_named_refuses(run_checks: RunChecks, sandbox: Sandbox, stale_sessions: list[str]) -> None:
    run = run_checks("users", args=("--remediate=vacuum_analyze",))
    assert run.status("users.disabled_sessions") == "critical"
    [line] = audit_lines(run)
    assert line["decision"] == "refused"
    assert line["result"] == "not selected (apply with --remediate=revoke_sessions)"


def test_concurrent_runs_apply_once(pytester: pytest.Pytester, sandbox: Sandbox, stale_sessions: list[str]) -> None:
    """Two runs at once both find the sessions; the lock and the re-check make one of them act."""
    env = pytester.path / "env.toml"
    env.write_text(environment_text(""))
    runs = []
    for n in range(2):
        command = [
            str(ROOT / ".venv" / "bin" / "pytest"),
            f"--rootdir={ROOT}",
            f"-c={ROOT / 'pyproject.toml'}",
            f"--env={env}",
            f"--report-dir={pytester.path / f'r{n}'}",
            "--remediate=revoke_sessions",
            "-q",
            str(ROOT / "checks" / "users"),
        ]
        runs.append(subprocess.Popen(command, cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    outputs = [p.communicate(timeout=120)[0].decode() for p in runs]
    logs = [
        p for n in range(2) for p in (pytester.path / f"r{n}").glob("*/*/actions.jsonl") if not p.parent.is_symlink()
    ]
    lines = [json.loads(line) for path in logs for line in path.read_text().splitlines()]
    steps = [step for line in lines for step in line["steps"]]
    assert steps == [f"UNLINK 2 session key(s) of disabled user {DISABLED_USER}"], (lines, outputs)


def test_xdist_run_applies_once(run_checks: RunChecks, sandbox: Sandbox, stale_sessions: list[str]) -> None:
    run = run_checks("users", "daily", args=("-n", "2", "--remediate=safe"))
    assert run.status("users.disabled_sessions") == "ok"
    assert [line["action"] for line in audit_lines(run)] == ["revoke_sessions"]


def aged(path: Path, days: float) -> Path:
    past = time.time() - days * 86400
    os.utime(path, (past, past))
    return path


@pytest.fixture
def old_logs(sandbox: Sandbox) -> Iterator[list[Path]]:
    log_dir = sandbox.require_state().log_dir
    files = []
    for name in ("worker.log", "app.log.7.gz"):
        (log_dir / name).write_text("old\n")
        files.append(aged(log_dir / name, 40))
    yield files
    for path in files:
        path.unlink(missing_ok=True)


def test_clean_old_logs(run_checks: RunChecks, old_logs: list[Path]) -> None:
    planned = run_checks("maintenance")
    assert planned.status("logs.retention") == "warning"
    message = planned.message("logs.retention")
    assert "log files in" in message and "older than 30d = 2" in message, message
    assert all(p.exists() for p in old_logs)
    assert f"would run rm {old_logs[0].parent}/worker.log on localhost (older than 30d)" in planned.output

    applied = run_checks("maintenance", args=("--remediate=clean_old_logs",))
    assert applied.status("logs.retention") == "ok"
    assert not any(p.exists() for p in old_logs)
    assert sorted(audit_lines(applied)[0]["steps"]) == sorted(f"rm {p.parent}/{p.name} on localhost" for p in old_logs)
    again = run_checks("maintenance", args=("--remediate=clean_old_logs",))
    assert again.status("logs.retention") == "ok" and audit_lines(again) == []


def test_clean_old_logs_spares_symlinks_and_open_files(run_checks: RunChecks, sandbox: Sandbox, tmp_path: Path) -> None:
    """A symlink to a file outside the folder, and a file a process still writes: both stay."""
    log_dir = sandbox.require_state().log_dir
    outside = tmp_path / "precious.log"
    outside.write_text("not ours\n")
    aged(outside, 40)
    link = log_dir / "link.log"
    link.symlink_to(outside)
    held = log_dir / "held.log"
    held.write_text("still written\n")
    aged(held, 40)
    with held.open("ab") as writer:  # open before the holder starts: no race with its shell
        holder = subprocess.Popen(["sleep", "120"], stdout=writer)
    try:
        run = run_checks("maintenance", args=("--remediate=clean_old_logs",))
        assert outside.exists() and link.is_symlink() and held.exists()
        [line] = audit_lines(run)
        assert line["steps"] == []
        assert run.status("logs.retention") == "warning", "the open file is still there, and still old"
        assert re.search(r"older than 30d = 1 \(.*oldest held\.log ", run.message("logs.retention")), run.message(
            "logs.retention"
        )
    finally:
        holder.kill()
        link.unlink()
        held.unlink()


def pg_stat(sandbox: Sandbox, sql: str, *params: object) -> tuple[Any, ...] | None:
    with psycopg.connect(sandbox.require_state().pg_superuser_dsn, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchone()


def test_vacuum_analyze(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.dead_tuples_table() as table:
        args = ("-k", "dead_tuples")
        planned = run_checks("postgres/test_postgres_maintenance.py", args=args)
        assert planned.status("postgres.dead_tuples") == "critical"
        assert f"would run VACUUM (ANALYZE) {table} on " in planned.output
        stats = "SELECT n_dead_tup, last_vacuum FROM pg_stat_user_tables WHERE relid = %s::regclass"
        dead, vacuumed = pg_stat(sandbox, stats, table) or (0, None)
        assert dead > 0 and vacuumed is None, "without --remediate nothing changes"

        applied = run_checks("postgres/test_postgres_maintenance.py", args=(*args, "--remediate=vacuum_analyze"))
        assert applied.status("postgres.dead_tuples") == "ok", applied.output
        assert applied.checks("postgres.dead_tuples")[0]["before"]["status"] == "critical"
        [line] = audit_lines(applied)
        assert line["decision"] == "applied" and line["steps"] == [f"VACUUM (ANALYZE) {table} on {line['target']}"]
        dead, vacuumed = pg_stat(sandbox, stats, table) or (1, None)
        assert dead == 0 and vacuumed is not None

        again = run_checks("postgres/test_postgres_maintenance.py", args=(*args, "--remediate=vacuum_analyze"))
        assert again.status("postgres.dead_tuples") == "ok" and audit_lines(again) == []


def test_cancel_long_queries_only_when_named(run_checks: RunChecks, sandbox: Sandbox) -> None:
    """A real pg_sleep held by a session; the thresholds come down to seconds so the test need not wait 15 min."""
    env = environment_text('[thresholds."postgres.long_running_queries"]\nwarning = "1s"\ncritical = "2s"\n')
    active = "SELECT state FROM pg_stat_activity WHERE pid = %s"
    with sandbox.faults.long_running_query() as pid:
        time.sleep(2.5)
        planned = run_checks("postgres/test_postgres_activity.py", env=env, args=("-k", "long_running"))
        assert planned.status("postgres.long_running_queries") == "critical"
        assert f"would run SELECT pg_cancel_backend({pid}) on " in planned.output

        safe = run_checks(
            "postgres/test_postgres_activity.py", env=env, args=("-k", "long_running", "--remediate=safe")
        )
        assert safe.status("postgres.long_running_queries") == "critical"
        [line] = audit_lines(safe)
        assert line["decision"] == "refused"
        assert "cancel_long_queries is disruptive: it runs only when named" in line["result"]
        assert (pg_stat(sandbox, active, pid) or ("",))[0] == "active", "--remediate=safe cancels nothing"

        named = ("-k", "long_running", "--remediate=cancel_long_queries")
        applied = run_checks("postgres/test_postgres_activity.py", env=env, args=named)
        assert applied.status("postgres.long_running_queries") == "ok", applied.output
        [line] = audit_lines(applied)
        assert line["steps"] == [f"SELECT pg_cancel_backend({pid}) on {line['target']} -- sergas"]
        assert (pg_stat(sandbox, active, pid) or ("",))[0] != "active"

        again = run_checks("postgres/test_postgres_activity.py", env=env, args=named)
        assert again.status("postgres.long_running_queries") == "ok" and audit_lines(again) == []


def test_run_backup_when_the_newest_is_too_old(run_checks: RunChecks, sandbox: Sandbox) -> None:
    check = ("backups/test_backups.py",)
    args = ("-k", "latest_age")
    created: list[Path] = []
    with sandbox.faults.backup_too_old(48):
        planned = run_checks(*check, args=args)
        assert planned.status("backups.latest_age") == "critical"
        assert "would run " in planned.output and "pg_dump" in planned.output
        applied = run_checks(*check, args=(*args, "--remediate=run_backup"))
        try:
            assert applied.status("backups.latest_age") == "ok", applied.output
            [line] = audit_lines(applied)
            assert line["decision"] == "applied", line
            created = [
                Path(w) for step in line["steps"] for w in step.split() if w.startswith("/") and w.endswith(".dump")
            ]
            assert created and all(p.exists() for p in created), line["steps"]
        finally:
            for path in created:
                path.unlink(missing_ok=True)


def test_rotate_backups_when_retention_was_not_applied(run_checks: RunChecks, sandbox: Sandbox) -> None:
    args = ("-k", "retention")
    with sandbox.faults.retention_not_applied():
        planned = run_checks("backups/test_backups.py", args=args)
        assert planned.status("backups.local_retention") == "warning"
        assert planned.status("backups.s3_retention") == "warning"
        applied = run_checks("backups/test_backups.py", args=(*args, "--remediate=rotate_backups"))
        assert applied.status("backups.local_retention") == "ok", applied.output
        assert applied.status("backups.s3_retention") == "ok", applied.output
        deleted = [step for line in audit_lines(applied) for step in line["steps"]]
        assert len(deleted) == 20, deleted
        again = run_checks("backups/test_backups.py", args=(*args, "--remediate=rotate_backups"))
        assert audit_lines(again) == []


def test_expire_sessions_and_delete_only_when_named(run_checks: RunChecks, sandbox: Sandbox) -> None:
    client = connect_redis(sandbox.require_state().redis_url, timeout=5)
    check = "redis/test_maintenance.py"
    with sandbox.faults.redis_keys_without_ttl(5) as keys:
        planned = run_checks(check)
        assert planned.status("redis.sessions_without_ttl") == "warning"
        assert "would run EXPIRE <key> 3600 on " in planned.output
        assert [client.ttl(k) for k in keys] == [-1] * 5, "the audit changes nothing"

        safe = run_checks(check, args=("--remediate=safe",))
        assert safe.status("redis.sessions_without_ttl") == "ok", safe.output
        decisions = {line["action"]: line["decision"] for line in audit_lines(safe)}
        assert decisions == {"expire_sessions": "applied", "delete_stale_sessions": "refused"}
        assert all(0 < client.ttl(k) <= 3600 for k in keys), "given the session TTL, not deleted"
        assert client.exists(*keys) == 5

        again = run_checks(check, args=("--remediate=safe",))
        assert again.status("redis.sessions_without_ttl") == "ok" and audit_lines(again) == []


def test_redis_config_is_disruptive(run_checks: RunChecks, sandbox: Sandbox) -> None:
    client = connect_redis(sandbox.require_state().redis_url, timeout=5)
    check = ("redis/test_optimization.py",)
    with sandbox.faults.redis_eviction_policy("noeviction"):
        safe = run_checks(*check, args=("-k", "eviction", "--remediate=safe"))
        assert safe.status("redis.eviction_policy") == "critical"
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
        named = run_checks(*check, args=("-k", "eviction", "--remediate=redis_config"))
        assert named.status("redis.eviction_policy") == "ok", named.output
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
        [line] = audit_lines(named)
        assert line["steps"] == ["CONFIG SET maxmemory-policy allkeys-lru"]


def test_failed_action_leaves_the_check_critical_with_the_cause(run_checks: RunChecks, sandbox: Sandbox) -> None:
    """An expected policy Redis does not know: CONFIG SET is refused, and the run says so."""
    client = connect_redis(sandbox.require_state().redis_url, timeout=5)
    env = environment_text().replace('eviction_policy = "allkeys-lru"', 'eviction_policy = "allkeys-lru-typo"')
    run = run_checks("redis/test_optimization.py", env=env, args=("-k", "eviction", "--remediate=redis_config"))
    assert run.status("redis.eviction_policy") == "critical"
    assert "remediation redis_config failed: ResponseError" in run.message("redis.eviction_policy")
    [line] = audit_lines(run)
    assert line["decision"] == "failed" and line["steps"] == []
    assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
