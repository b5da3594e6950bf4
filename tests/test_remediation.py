"""Remediation as an operator meets it: the plan without --remediate (nothing changes), the fix
with it (the check measures again and is ok, the audit log says what was done), and nothing to
do the next time; plus the safety rules (disruptive needs its name, concurrent runs act once)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py

from sandbox import Sandbox
from tests.conftest import ROOT, Run, RunChecks, environment_text

DISABLED_USER = "47"  # disabled in sandbox/schema.sql (id % 40 == 7)


def audit_lines(run: Run) -> list[dict[str, Any]]:
    path = run.archive / "actions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def stale_sessions(sandbox: Sandbox) -> Iterator[list[str]]:
    """Two live sessions of a disabled user: the access the manual's "Revoking Access" removes."""
    client = redis_py.Redis.from_url(sandbox.require_state().redis_url, decode_responses=True)
    keys = [f"session:user:{DISABLED_USER}:{secrets.token_hex(6)}" for _ in range(2)]
    for key in keys:
        client.set(key, '{"user_id": 47}', ex=3600)
    yield keys
    client.delete(*keys)


def test_plan_then_apply_then_nothing_to_do(run_checks: RunChecks, sandbox: Sandbox, stale_sessions: list[str]) -> None:
    client = redis_py.Redis.from_url(sandbox.require_state().redis_url, decode_responses=True)

    planned = run_checks("users")
    assert planned.status("users.disabled_sessions") == "critical"
    assert f"sessions of disabled users = 2 (users {DISABLED_USER}) >= critical 1" in planned.message("users.disabled_sessions")
    assert f"PLANNED revoke_sessions (safe) for users.disabled_sessions on {planned.checks('users.disabled_sessions')[0]['target']}: apply with --remediate=revoke_sessions" in planned.output
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
            str(ROOT / ".venv" / "bin" / "pytest"), f"--rootdir={ROOT}", f"-c={ROOT / 'pyproject.toml'}",
            f"--env={env}", f"--report-dir={pytester.path / f'r{n}'}", "--remediate=revoke_sessions", "-q",
            str(ROOT / "checks" / "users"),
        ]
        runs.append(subprocess.Popen(command, cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    outputs = [p.communicate(timeout=120)[0].decode() for p in runs]
    logs = [p for n in range(2) for p in (pytester.path / f"r{n}").glob("*/*/actions.jsonl") if not p.parent.is_symlink()]
    lines = [json.loads(line) for path in logs for line in path.read_text().splitlines()]
    steps = [step for line in lines for step in line["steps"]]
    assert steps == [f"UNLINK 2 session key(s) of disabled user {DISABLED_USER}"], (lines, outputs)


def test_xdist_run_applies_once(run_checks: RunChecks, sandbox: Sandbox, stale_sessions: list[str]) -> None:
    run = run_checks("users", "daily", args=("-n", "2", "--remediate=safe"))
    assert run.status("users.disabled_sessions") == "ok"
    assert [line["action"] for line in audit_lines(run)] == ["revoke_sessions"]


def with_log_dir(env: str) -> str:
    return env.replace('source = "file"', 'source = "file"\ndir = "${SANDBOX_LOG_DIR}"', 1)


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
    env = with_log_dir(environment_text())
    planned = run_checks("maintenance", env=env)
    assert planned.status("logs.retention") == "warning"
    assert "log files in" in planned.message("logs.retention") and "older than 30d = 2" in planned.message("logs.retention")
    assert all(p.exists() for p in old_logs)
    assert f"would run rm {old_logs[0].parent}/worker.log on localhost (older than 30d)" in planned.output

    applied = run_checks("maintenance", env=env, args=("--remediate=clean_old_logs",))
    assert applied.status("logs.retention") == "ok"
    assert not any(p.exists() for p in old_logs)
    assert sorted(audit_lines(applied)[0]["steps"]) == sorted(
        f"rm {p.parent}/{p.name} on localhost" for p in old_logs
    )
    again = run_checks("maintenance", env=env, args=("--remediate=clean_old_logs",))
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
    holder = subprocess.Popen(["sh", "-c", f"exec 3>>{held}; sleep 120"])
    try:
        time.sleep(0.3)
        run = run_checks("maintenance", env=with_log_dir(environment_text()), args=("--remediate=clean_old_logs",))
        assert outside.exists() and link.is_symlink() and held.exists()
        [line] = audit_lines(run)
        assert line["steps"] == []
        assert run.status("logs.retention") == "warning", "the open file is still there, and still old"
        assert "held.log" in run.message("logs.retention") or "= 1" in run.message("logs.retention")
    finally:
        holder.kill()
        link.unlink()
        held.unlink()
