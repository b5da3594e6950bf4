"""Log review: ok on the healthy sandbox's 26-hour history (whose incidents all lie outside the
windows), the right status under log lines appended now, real app errors, real slow statements
in the PostgreSQL log, a real journal read with journalctl --directory, and each timestamp form
held against a real window by the on-host command itself."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from probes.logs import FileSource, count_command, parse_count
from sandbox import Sandbox
from sandbox import logs as sandbox_logs
from tests.conftest import DEMO_ENV, RunChecks

LOG_IDS = {
    "logs.recent_errors",
    "logs.errors_24h",
    "logs.http_5xx",
    "logs.auth_failures",
    "logs.circuit_breaker_open",
    "logs.slow_requests",
    "postgres.slow_query_log",
}
JOURNAL_REMOTE = Path("/lib/systemd/systemd-journal-remote")


def without_logs_section(text: str = DEMO_ENV) -> str:
    """The demo environment with its [logs] table removed (to put another one in)."""
    return re.sub(r"(?ms)^\[logs\]\n.*?(?=^\[|\Z)", "", text)


@pytest.fixture
def fresh_history(sandbox: Sandbox) -> Iterator[Path]:
    """The app log reset to the healthy 26-hour history (other tests' faults log real errors)."""
    state = sandbox.require_state()
    yield sandbox_logs.write_history(state.log_dir)
    sandbox_logs.write_history(state.log_dir)


def test_healthy_history_is_all_ok(run_checks: RunChecks, fresh_history: Path) -> None:
    run = run_checks("logs")
    assert run.result.ret == pytest.ExitCode.OK, run.output
    statuses = {c["id"]: c["status"] for c in run.summary["checks"]}
    assert set(statuses) == LOG_IDS and set(statuses.values()) == {"ok"}, statuses
    # The errors, 5xx and circuit breaker trip of 25 h ago (in app.log.2.gz) are outside 24 h;
    # the 7.3 s request of 3 h ago is outside the last hour; the two failed logins are inside.
    assert run.message("logs.errors_24h") == "localhost: ERROR/CRITICAL lines in 24h = 0"
    assert run.message("logs.circuit_breaker_open") == "localhost: circuit breaker trips in 24h = 0"
    assert re.fullmatch(
        r"localhost: 5xx share in 24h = 0% \(0/\d{4,} requests\); 5xx answers in 24h = 0", run.message("logs.http_5xx")
    ), run.message("logs.http_5xx")
    assert run.message("logs.auth_failures").startswith("localhost: authentication failures in 24h = 2 (top: 2x")
    assert re.fullmatch(
        r"localhost: requests over 5000 ms in the last 1h = 0 \(of \d+\)", run.message("logs.slow_requests")
    )


def test_incidents_logged_now(run_checks: RunChecks, sandbox: Sandbox, fresh_history: Path) -> None:
    faults = sandbox.faults
    with (
        faults.log_lines("errors", 12),
        faults.log_lines("http_5xx", 600),
        faults.log_lines("auth_failures", 12),
        faults.log_lines("circuit_breaker_open", 2),
        faults.log_lines("slow_requests", 6),
        faults.slow_queries(11, 1.1),
    ):
        run = run_checks("logs")
    assert run.status("logs.recent_errors") == "critical"
    assert run.message("logs.recent_errors") == (
        "localhost: ERROR/CRITICAL lines in the last 1h = 12 "
        "(top: 12x 'sergas.zoho Zoho CRM request failed: connection refused') >= critical 10"
    )
    assert run.status("logs.errors_24h") == "warning"
    assert "ERROR/CRITICAL lines in 24h = 12" in run.message("logs.errors_24h")
    assert run.status("logs.http_5xx") == "critical"
    assert re.fullmatch(
        r"localhost: 5xx share in 24h = \d+(\.\d+)?% \(600/\d+ requests; top: 600x '/api/v1/users 503'\)"
        r" >= critical 5%",
        run.message("logs.http_5xx"),
    ), run.message("logs.http_5xx")
    assert run.status("logs.auth_failures") == "warning"
    assert "authentication failures in 24h = 14" in run.message("logs.auth_failures")
    assert run.status("logs.circuit_breaker_open") == "warning"
    assert "circuit breaker trips in 24h = 2" in run.message("logs.circuit_breaker_open")
    assert run.status("logs.slow_requests") == "warning"
    assert re.search(
        r"requests over 5000 ms in the last 1h = 6 \(of \d+; /api/v1/agents/run x6; slowest 7200 ms\) >= warning 5",
        run.message("logs.slow_requests"),
    ), run.message("logs.slow_requests")
    assert run.status("postgres.slow_query_log") == "warning"
    assert re.search(
        # 11 or more: the sandbox's own work may log a slow statement of its own on a loaded machine
        r"statements over 1000 ms in 24h = 1[1-9] \(slowest \d{4}(\.\d+)? ms; top: 11x 'SELECT pg_sleep\(N\.N\)",
        run.message("postgres.slow_query_log"),
    ), run.message("postgres.slow_query_log")
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED


def test_real_zoho_outage_in_the_log(run_checks: RunChecks, sandbox: Sandbox, fresh_history: Path) -> None:
    """The app itself logs the errors and the circuit breaker trip (no lines written for it)."""
    state = sandbox.require_state()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with sandbox.faults.zoho_unreachable():
        for _ in range(4):
            with opener.open(f"{state.app_url}/health", timeout=10) as answer:
                answer.read()
        run = run_checks("logs", args=("-k", "recent_errors or circuit_breaker"))
    assert run.status("logs.recent_errors") in ("warning", "critical")
    assert "x 'sergas.zoho Zoho CRM request failed: connection refused'" in run.message("logs.recent_errors")
    assert run.status("logs.circuit_breaker_open") in ("warning", "critical")
    assert "sergas.zoho circuit breaker open after N consecutive failures" in run.message("logs.circuit_breaker_open")


def test_missing_log_is_unknown(run_checks: RunChecks) -> None:
    env = without_logs_section() + '\n[logs]\nsource = "file"\nfiles = ["/nonexistent/sergas/app.log"]\n'
    run = run_checks("logs", env=env, args=("-k", "recent_errors"))
    assert run.status("logs.recent_errors") == "unknown"
    assert run.message("logs.recent_errors") == "localhost: no log file matches /nonexistent/sergas/app.log"


def _export_entry(when: datetime, message: str, unit: str = "sergas-app.service") -> str:
    usec = int(when.timestamp() * 1_000_000)
    return (
        f"__REALTIME_TIMESTAMP={usec}\n__MONOTONIC_TIMESTAMP={usec}\n"
        "_BOOT_ID=5a1d0e5f0c2b4f6e9d8c7b6a59483726\n_HOSTNAME=app1\n"
        f"_SYSTEMD_UNIT={unit}\nSYSLOG_IDENTIFIER=sergas-app\n_PID=4242\nPRIORITY=6\nMESSAGE={message}\n\n"
    )


@pytest.mark.skipif(not JOURNAL_REMOTE.exists(), reason="systemd-journal-remote is not installed")
def test_journald_source(run_checks: RunChecks, tmp_path: Path) -> None:
    """A real journal file made by systemd-journal-remote, read with journalctl --directory."""
    now = datetime.now(UTC)
    entries = []
    when = now - timedelta(hours=30)
    while when < now:  # the app's own lines (logging to stderr, as under systemd)
        entries.append((when, sandbox_logs.request_line(when, "/api/v1/users", 200, 25)[30:]))
        when += timedelta(minutes=5)
    entries.append((now - timedelta(hours=26), "ERROR sergas.zoho Zoho CRM request failed: timed out"))
    for minutes in (30, 20, 10):
        entries.append((now - timedelta(minutes=minutes), "ERROR sergas.zoho Zoho CRM request failed: timed out"))
    entries.append(
        (
            now - timedelta(minutes=5),
            "INFO sergas.api request method=GET path=/api/v1/users status_code=502 duration=8100",
        )
    )
    entries.append((now - timedelta(minutes=4), "ERROR other-unit boom"))
    entries.sort()
    export = "".join(
        _export_entry(t, m, "other.service" if "other-unit" in m else "sergas-app.service") for t, m in entries
    )
    journal_dir = tmp_path / "journal"
    journal_dir.mkdir()
    subprocess.run(
        [str(JOURNAL_REMOTE), "-o", str(journal_dir / "remote.journal"), "-"],
        input=export.encode(),
        check=True,
        capture_output=True,
        timeout=30,
    )
    env = without_logs_section() + (
        f'\n[logs]\nsource = "journald"\nunit = "sergas-app"\njournal_directory = "{journal_dir}"\n'
        '[thresholds."logs.slow_requests"]\nwarning = 1\n'
    )
    run = run_checks("logs/test_logs.py", env=env, args=("-k", "not slow_query_log"))
    assert run.message("logs.recent_errors") == (
        "localhost: ERROR/CRITICAL lines in the last 1h = 3 "
        "(top: 3x 'sergas.zoho Zoho CRM request failed: timed out') >= warning 1"
    )
    assert run.message("logs.errors_24h") == (
        "localhost: ERROR/CRITICAL lines in 24h = 3 (top: 3x 'sergas.zoho Zoho CRM request failed: timed out')"
    )
    assert run.status("logs.http_5xx") == "ok", "1 of ~289 requests is below 1%"
    assert re.search(r"5xx share in 24h = 0\.3\d*% \(1/2[89]\d requests", run.message("logs.http_5xx"))
    assert run.status("logs.slow_requests") == "warning"
    assert "requests over 5000 ms in the last 1h = 1 (of 1" in run.message("logs.slow_requests")

    wrong = env.replace('unit = "sergas-app"', 'unit = "sergas-ap"')
    run = run_checks("logs/test_logs.py", env=wrong, args=("-k", "recent_errors"))
    assert run.status("logs.recent_errors") == "unknown"
    assert run.message("logs.recent_errors") == (
        f"localhost: journal of sergas-ap in {journal_dir}: no entries in the last 1h"
    )


def _count(path: Path, mode: str, window_s: int, threshold: float = 0) -> int:
    command = count_command(FileSource((str(path),)), mode, window_s, threshold)  # type: ignore[arg-type]
    environ = {"TZ": "UTC", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=environ, check=True, timeout=30)
    return parse_count(result.stdout).count


@pytest.mark.parametrize(
    "fmt",
    [
        "{iso_z} ERROR app boom",  # structlog / ISO with Z
        "{iso_local},123 - sergas - ERROR - boom",  # Python logging default (local, comma)
        "[{iso_local}] CRITICAL sergas boom",  # bracketed, no zone
        "{iso_offset} ERROR sergas boom",  # ISO with +02:00 offset
        '{{"timestamp": "{iso_z}", "level": "error", "event": "boom"}}',  # structlog JSON
        '{{"ts": {epoch}, "level": "ERROR", "msg": "boom"}}',  # JSON with epoch seconds
        "{syslog} app1 sergas-app[42]: ERROR sergas boom",  # syslog
    ],
)
def test_timestamp_forms(tmp_path: Path, fmt: str) -> None:
    """Two lines 2 h ago, one 10 min ago: the 1-hour window counts one; 3 hours counts three."""
    if shutil.which("awk") is None:
        pytest.skip("no awk")
    lines = []
    for age in (timedelta(hours=2, minutes=5), timedelta(hours=2), timedelta(minutes=10)):
        when = datetime.now(UTC) - age
        plus2 = when.astimezone(timezone(timedelta(hours=2)))
        lines.append(
            fmt.format(
                iso_z=when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                iso_local=when.strftime("%Y-%m-%d %H:%M:%S"),
                iso_offset=plus2.isoformat(timespec="milliseconds"),
                epoch=f"{when.timestamp():.3f}",
                syslog=when.strftime("%b %e %H:%M:%S"),
            )
        )
    log = tmp_path / "app.log"
    log.write_text("\n".join(lines) + "\n")
    assert _count(log, "errors", 3600) == 1, lines
    assert _count(log, "errors", 3 * 3600) == 3, lines


@pytest.mark.parametrize("app_writes", ["before the history", "before the cut", "after"])
def test_history_rewrite_never_puts_a_line_of_now_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_writes: str
) -> None:
    """The sandbox rewrites app.log under the running app's O_APPEND stderr. Whenever the app
    writes during the rewrite, its line is lost or follows the history, never precedes it (a
    truncate first once let a line of now land at the top, under load, and the 1-hour window,
    read on from its first line inside, then counted the 7.3 s request of 3 h ago)."""
    log = tmp_path / "app.log"
    log.write_text("x" * 100_000 + "\n")
    app_stderr = open(log, "ab", buffering=0)  # noqa: SIM115 (held across the patched calls)

    def app_line() -> None:
        app_stderr.write(b"now\n")

    def before(name: str) -> None:
        real = getattr(os, name)

        def patched(*args: Any) -> Any:
            app_line()
            return real(*args)

        monkeypatch.setattr(os, name, patched)

    if app_writes == "before the history":
        before("pwrite")
    elif app_writes == "before the cut":
        before("ftruncate")
    with app_stderr:
        sandbox_logs.write_history(tmp_path)
        monkeypatch.undo()
        if app_writes == "after":
            app_line()
    content = log.read_bytes()
    history = content.removesuffix(b"now\n")
    assert b"now" not in history and not history.startswith(b"x")
    first = datetime.fromisoformat(history.split(b" ", 1)[0].decode())
    assert datetime.now(UTC) - first > timedelta(hours=5), "app.log starts with the history of 6 h ago"
    assert _count(log, "slow", 3600, threshold=5000) == 0, "the 7.3 s request of 3 h ago is outside the last hour"
