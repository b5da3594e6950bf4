"""The check record as a contract: stable measurement names that are their override keys,
JUnit testcases a CI page names by check and target, and `--env PATH` as a user writes it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from junitparser import JUnitXml, Properties, TestCase

from sandbox import Sandbox
from tests.conftest import DEMO_ENV, ROOT, Run, RunChecks, environment_text

ACTIVITY = "postgres/test_postgres_activity.py"
LOWERED = (
    '[thresholds."postgres.long_running_queries"]\nwarning = "0.5s"\ncritical = "1s"\n'
    '[thresholds."postgres.idle_in_transaction"]\nwarning = "0.5s"\ncritical = "1s"\n'
)


def _names(run: Run) -> dict[tuple[str, str], list[tuple[str, tuple[tuple[str, Any], ...]]]]:
    """(check id, target) -> its measurements' (name, labels), in order."""
    return {
        (c["id"], c["target"]): [(m["name"], tuple(sorted(m["labels"].items()))) for m in c["measurements"]]
        for c in run.summary["checks"]
    }


def test_measurement_names_are_stable_and_are_their_override_keys(run_checks: RunChecks, sandbox: Sandbox) -> None:
    runs, pids = [], []
    for _ in range(2):
        with sandbox.faults.long_running_query(600) as busy, sandbox.faults.idle_in_transaction() as idle:
            time.sleep(1.1)
            runs.append(run_checks(ACTIVITY, "daily", args=("-m", "postgres or host"), env=environment_text(LOWERED)))
        pids.append((busy, idle))
    assert pids[0] != pids[1], "the second run looks at other sessions"
    first, second = runs
    assert first.status("postgres.long_running_queries") == second.status("postgres.long_running_queries") == "critical"
    assert _names(first) == _names(second)

    longest = next(
        m for m in first.checks("postgres.long_running_queries")[0]["measurements"] if m["name"] == "duration"
    )
    assert longest["context"]["pid"] == pids[0][0] and longest["labels"] == {}
    assert str(pids[0][0]) in longest["label"], "the pid is for people, in the label, never in the name"

    # Every judged measurement's name is the key of its override: override each one and read it back.
    judged = {
        (c["id"], m["name"], m["unit"])
        for c in first.summary["checks"]
        for m in c["measurements"]
        if m["warning"] is not None or m["critical"] is not None
    }
    assert {("postgres.long_running_queries", "duration", "s"), ("host.disk_space", "blocks", "%")} <= judged
    overrides = "".join(f'[thresholds."{check_id}.{name}"]\ncritical = 12345\n' for check_id, name, _ in judged)
    third = run_checks(ACTIVITY, "daily", args=("-m", "postgres or host"), env=environment_text(overrides))
    for record in third.summary["checks"]:
        for m in record["measurements"]:
            if (record["id"], m["name"], m["unit"]) in judged:
                assert m["critical"] == 12345, (record["id"], m)


def test_junit_names_each_testcase_by_check_and_target(run_checks: RunChecks, sandbox: Sandbox) -> None:
    port = sandbox.require_state().pg_port
    with sandbox.faults.postgres_stopped():
        run = run_checks("daily", args=("-m", "daily"))
    cases = {case.name: case for suite in JUnitXml.fromfile(str(run.archive / "junit.xml")) for case in suite}
    case = cases[f"postgres.connections[127.0.0.1:{port}/sergas]"]
    assert case.classname == "daily"
    properties = _properties(case)
    assert properties["status"] == "unknown" and properties["check"] == "postgres.connections"
    assert [type(r).__name__ for r in case.result] == ["Error"], "unknown is an <error>, not a <failure>"
    ok = cases["host.disk_space[localhost]"]
    assert _properties(ok)["status"] == "ok"
    assert 'measurement.blocks{mount="/"}' in _properties(ok)
    assert ok.result == []


def _properties(case: TestCase) -> dict[str, str]:
    # junitparser 5 has no TestCase.properties(): read the <properties> child.
    properties = case.child(Properties)  # type: ignore[no-untyped-call]
    return {p.name: p.value for p in properties}


def _pytest(*args: str, cwd: Path, sandbox: Sandbox) -> subprocess.CompletedProcess[str]:
    """pytest as a user starts it: its own process, from `cwd`, the sandbox's variables set."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )


def test_env_path_with_a_space_from_the_checkout_and_from_elsewhere(
    run_checks: RunChecks, sandbox: Sandbox, tmp_path: Path
) -> None:
    env = tmp_path / "etc" / "prod.toml"
    env.parent.mkdir()
    env.write_text(DEMO_ENV)
    reports = tmp_path / "reports"
    for cwd in (ROOT, tmp_path):
        args = ("--env", str(env), "-m", "daily and host", "--report-dir", str(reports), "-q")
        done = _pytest(*args, cwd=cwd, sandbox=sandbox)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "2 passed" in done.stdout and "sergas: 2 ok" in done.stdout, done.stdout
    assert len([p for p in (reports / "demo").iterdir() if not p.is_symlink()]) == 2


def test_the_checkout_named_from_elsewhere_collects_only_the_checks(sandbox: Sandbox, tmp_path: Path) -> None:
    done = _pytest("--env=demo", "--co", "-q", str(ROOT), cwd=tmp_path, sandbox=sandbox)
    assert done.returncode == 0, done.stdout + done.stderr
    collected = [line for line in done.stdout.splitlines() if "::" in line]
    assert collected and all("checks/" in line for line in collected), done.stdout
    assert not any("tests/" in line for line in collected)
