"""sergas.weekly and `python -m sergas report`: not-ok episodes of a week, remediations applied,
capacity forecasts, from synthetic archived runs."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from sergas.__main__ import main
from sergas.history import load_runs
from sergas.record import ActionRecord, CheckRecord
from sergas.status import Status
from sergas.weekly import incidents, weekly_report, write_weekly
from tests.unit.builders import T0, record
from tests.unit.test_history import disk, run_at

NOW = T0 + dt.timedelta(days=10, hours=1)


def day(n: int) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


# As actions.jsonl has it (README).
APPLIED = (
    '{"time": "2024-05-08T06:00:00+00:00", "environment": "prod", "check": "users.disabled_sessions", '
    '"target": "127.0.0.1:6379", "action": "revoke_sessions", "risk": "safe", "decision": "applied", "plan": [], '
    '"steps": ["UNLINK 2 session key(s) of disabled user 47"], "result": "1 step(s) done", "duration_s": 0.025}'
)


def action(decision: str) -> ActionRecord:
    return ActionRecord.model_validate_json(APPLIED).model_copy(update={"decision": decision})


def checks(n: int) -> list[CheckRecord]:
    """Ten daily runs: connections critical on days 4-5 (ok on 6), redis.memory warning from day
    8 on; users.disabled_sessions remediated on day 7; the disk growing 2%/day."""
    connections = Status.CRITICAL if n in (4, 5) else Status.OK
    memory = Status.WARNING if n >= 8 else Status.OK
    sessions = record(Status.OK, check_id="users.disabled_sessions", target="127.0.0.1:6379", measurements=[])
    if n == 7:
        sessions = sessions.model_copy(update={"remediation": [action("applied"), action("planned")]})
    return [
        record(connections, message=f"connections {n}"),
        record(memory, check_id="redis.memory", target="127.0.0.1:6379", measurements=[]),
        sessions,
        disk(40 + 2 * n),
    ]


@pytest.fixture
def env_dir(tmp_path: Path) -> Path:
    env_dir = tmp_path / "reports" / "prod"
    for n in range(11):
        run_at(env_dir, day(n), checks(n))
    return env_dir


def test_episodes_first_and_last_seen_resolved_or_open(env_dir: Path) -> None:
    found = incidents(load_runs(env_dir))
    assert [(i.check, i.worst, i.first_seen, i.last_seen, i.resolved, i.runs, i.message) for i in found] == [
        ("postgres.connections", Status.CRITICAL, day(4), day(5), day(6), 2, "connections 5"),
        ("redis.memory", Status.WARNING, day(8), day(10), None, 3, "127.0.0.1:6379: warning"),
    ]
    assert found[0].lasted == dt.timedelta(days=2)


def test_an_episode_that_clears_and_returns_is_two(tmp_path: Path) -> None:
    """Skipped, or not run at all, neither resolves nor continues an episode."""
    for n, status in enumerate([Status.UNKNOWN, Status.OK, Status.WARNING, Status.SKIPPED, Status.CRITICAL]):
        run_at(tmp_path, day(n), [record(status)])
    run_at(tmp_path, day(5), [])
    found = incidents(load_runs(tmp_path))
    assert [(i.first_seen, i.last_seen, i.resolved, i.worst) for i in found] == [
        (day(0), day(0), day(1), Status.UNKNOWN),
        (day(2), day(4), None, Status.CRITICAL),
    ]


def test_weekly_page(env_dir: Path) -> None:
    page = weekly_report(env_dir, NOW)
    assert "Sergas weekly report: prod" in page
    assert (
        "2024-05-04 07:00 to 2024-05-11 07:00 UTC: 7 runs; 2 checks not ok (1 still open); 1 remediation applied"
        in page
    )
    row = re.search(r"<tr><td>postgres\.connections</td>.*?</tr>", page)
    assert row is not None
    assert row.group(0) == (
        "<tr><td>postgres.connections</td><td>127.0.0.1:5432/sergas</td><td>critical</td><td>2024-05-05 06:00</td>"
        "<td>2024-05-06 06:00</td><td>resolved 2024-05-07 06:00</td><td>2d</td><td>2</td><td>connections 5</td></tr>"
    )
    assert "<td>redis.memory</td><td>127.0.0.1:6379</td><td>warning</td>" in page and "still open" in page
    assert page.count("revoke_sessions") == 1 and "UNLINK 2 session key(s)" in page
    assert "<td>host.disk_space</td><td>blocks</td><td>localhost mount=/</td><td>60%</td><td>+2%</td>" in page
    assert "80%: 2024-05-21" in page and "90%: 2024-05-26" in page


def test_a_quiet_week(tmp_path: Path) -> None:
    run_at(tmp_path, day(9), [record(Status.OK)])
    run_at(tmp_path, day(1), [record(Status.CRITICAL)])  # before the week
    page = weekly_report(tmp_path, NOW)
    assert "Every check was ok in every run." in page and "<h2>Remediations applied</h2><p>None.</p>" in page


def test_default_path(env_dir: Path) -> None:
    assert write_weekly(env_dir, now=NOW) == env_dir / "weekly-2024-05-11.html"
    assert (env_dir / "weekly-2024-05-11.html").read_text().startswith("<!doctype html>")


def test_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for n in range(10, -1, -1):
        run_at(tmp_path / "prod", now - dt.timedelta(days=n), checks(10 - n))
    report_dir, out = str(tmp_path), tmp_path / "week.html"
    assert main(["report", "weekly", "--env", "prod", "--report-dir", report_dir, "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"{out}\n" and "postgres.connections" in out.read_text()
    assert main(["report", "capacity", "--env", "prod", "--report-dir", report_dir]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Capacity forecast of prod: 11 runs of the last 30 days, least squares"
    assert lines[1].split() == ["check", "measurement", "of", "now", "growth/day", "warning", "critical"]
    warning, critical = (f"{(now + dt.timedelta(days=d)).date()}" for d in (10, 15))
    assert lines[2].split() == [
        "host.disk_space",
        "blocks",
        "localhost",
        "mount=/",
        "60%",
        "+2%",
        "80%:",
        warning,
        "90%:",
        critical,
    ]
    assert main(["report", "capacity", "--env", "staging", "--report-dir", report_dir]) == 2
    assert "no runs of 'staging' archived in" in capsys.readouterr().err
