"""The run archive: what it holds, under xdist too, and that no secret reaches it."""

from __future__ import annotations

import datetime as dt
import re
import socket
from collections.abc import Iterator
from xml.etree import ElementTree

import pytest

from sandbox import Sandbox
from tests.conftest import ROOT, Run, RunChecks, environment_text


def shape(run: Run) -> set[tuple[object, ...]]:
    """A summary's content without what legitimately varies (times, measured values)."""
    return {
        (c["id"], c["nodeid"], c["target"], c["status"], tuple(sorted(m["name"] for m in c["measurements"])))
        for c in run.summary["checks"]
    }


def test_archive_layout(run_checks: RunChecks) -> None:
    run = run_checks("daily", args=("-m", "daily"))
    archive = run.archive
    assert re.fullmatch(r"\d{8}T\d{6}Z(-\d+)?", archive.name)
    assert archive.parent.name == "demo"
    assert {p.name for p in archive.iterdir()} == {"report.html", "junit.xml", "summary.json"}
    assert (archive.parent / "latest").resolve() == archive
    assert f"Run archive: {archive}" in run.output
    summary = run.summary
    assert summary["environment"] == "demo"
    assert summary["run_id"] == archive.name
    assert summary["counts"]["ok"] == len(summary["checks"]) == 8
    assert summary["started"] <= summary["finished"]
    for check in summary["checks"]:
        assert set(check) >= {"id", "nodeid", "target", "status", "message", "measurements", "duration_s"}
        for measurement in check["measurements"]:
            assert set(measurement) >= {"name", "value", "unit", "warning", "critical"}
    index = (run.report_dir / "index.html").read_text()
    assert archive.name in index and "demo" in index
    junit = (archive / "junit.xml").read_text()
    assert 'tests="8"' in junit


def test_summary_same_under_xdist(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.zoho_unreachable():
        serial = run_checks("daily", args=("-m", "daily"))
        parallel = run_checks("daily", args=("-m", "daily", "-n", "2"))
    assert "2 workers" in parallel.output
    assert shape(serial) == shape(parallel)
    assert serial.summary["counts"] == parallel.summary["counts"]
    assert parallel.summary["counts"]["critical"] == 1


def test_hung_check_has_its_row(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.health_delayed(15):
        run = run_checks("daily/test_app.py", args=("-k", "health_endpoint", "--timeout=2"))
    assert run.status("app.health_endpoint") == "unknown"
    assert "Timeout" in run.message("app.health_endpoint")
    # For CI, a check that could not be evaluated is an error, not a failure of the target.
    suite = ElementTree.parse(run.archive / "junit.xml").getroot().find("testsuite")
    assert suite is not None and (suite.get("errors"), suite.get("failures")) == ("1", "0")
    [case] = suite.iter("testcase")
    assert case.find("error") is not None and case.find("failure") is None


def test_crashed_worker_has_its_row(run_checks: RunChecks, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERGAS_TEST_CRASH", "test_connections")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    run = run_checks("daily", args=("-m", "daily", "-n", "2", "-p", "tests.crash_plugin"))
    assert run.status("postgres.connections") == "unknown"
    assert "crashed while running" in run.message("postgres.connections")
    others = [c for c in run.summary["checks"] if c["id"] != "postgres.connections"]
    assert len(others) == 7 and {c["status"] for c in others} == {"ok"}


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


def test_no_secret_in_any_output(run_checks: RunChecks, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    state = sandbox.require_state()
    wrong_password = "wrong-Secret-pw-8842"
    monkeypatch.setenv("SERGAS_DB_PASSWORD", wrong_password)
    env = f"""
name = "leaky"
[hosts]
app = ["local://"]
[app]
# A token inside the URL: every message about this URL would carry it unmasked.
url = "http://monitor:${{SANDBOX_ADMIN_TOKEN}}@127.0.0.1:1"
runtime = "process"
service = "${{SANDBOX_APP_MARKER}}"
admin_token = "${{SANDBOX_ADMIN_TOKEN}}"
[postgres]
dsn = "postgresql://sergas:${{SERGAS_DB_PASSWORD}}@127.0.0.1:{state.pg_port}/sergas"
[redis]
url = "redis://127.0.0.1:{state.redis_port}/0"
"""
    run = run_checks("daily", env=env, args=("-m", "daily", "-v", "-rA", "-l"))
    assert run.status("postgres.connections") == "unknown"
    assert 'password authentication failed for user "sergas"' in run.message("postgres.connections")
    assert run.status("app.health_endpoint") == "critical"
    outputs = {"terminal": run.output}
    outputs |= {p.name: p.read_text() for p in run.archive.iterdir()}
    for secret in (wrong_password, state.admin_token, state.pg_password):
        for name, text in outputs.items():
            assert secret not in text, f"a secret leaked into {name}"
    assert "http://monitor:***@127.0.0.1:1/health" in run.message("app.health_endpoint")


def test_unreachable_server_costs_its_timeout_once(run_checks: RunChecks, silent_port: int) -> None:
    """A Redis that accepts and never answers: the run waits out the timeout once, when it reaches
    every target at once after collection (fixtures/probing.py); no check waits again."""
    env = environment_text("[timeouts]\nconnect = 2\n").replace("${SANDBOX_REDIS_PORT}", str(silent_port))
    run = run_checks("daily/test_redis.py", env=env)
    ping, memory = run.checks("redis.ping")[0], run.checks("redis.memory")[0]
    assert ping["status"] == "critical"
    assert memory["status"] == "unknown"
    reason = f"cannot connect to redis://127.0.0.1:{silent_port}/0: timeout reading from socket"
    assert memory["message"] == reason
    assert ping["message"] == f"127.0.0.1:{silent_port}: no answer to PING: timeout reading from socket"
    summary = run.summary
    waited = dt.datetime.fromisoformat(summary["finished"]) - dt.datetime.fromisoformat(summary["started"])
    assert waited.total_seconds() >= 1.5, "the run waited out the connect timeout"
    assert ping["duration_s"] < 1 and memory["duration_s"] < 1, "no check waited again"
