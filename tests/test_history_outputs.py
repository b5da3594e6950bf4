"""The history outputs over weeks of runs made from real ones: reports/index.html (seen in
Chromium), `python -m sergas report capacity` and `report weekly`, and `[reports] keep_days`.

Real runs of the daily host, PostgreSQL and Redis checks are copied into daily runs going back
DAYS days, with `/`'s disk use rewritten along a line that reaches warning (80%) at noon UTC some
days ahead, and PostgreSQL's connections critical on two of the days (copies of a real run whose
thresholds it failed); then the suite runs once more into that archive.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from tests.conftest import ROOT, SUMMARY_SCHEMA, Run, RunChecks, environment_text
from tests.test_report_in_browser import CHROMIUM, CHROMIUM_ARGS

DAYS = 16
KEEP_DAYS = 10
SICK_DAYS = (3, 2)  # days ago postgres.connections was critical
AHEAD = 20  # days from now to the noon `/` reaches 80%, at least
CHECKS = ("daily/test_host.py", "daily/test_postgres.py", "daily/test_redis.py", "postgres/test_postgres_size.py")
SICK = '[thresholds."postgres.connections"]\nwarning = 0.01\ncritical = 0.02\n'
CAPACITY = {
    ("host.disk_space", "blocks"),
    ("host.disk_space", "inodes"),
    ("postgres.connections", "used"),
    ("postgres.database_size", "size"),
    ("postgres.table_sizes", "largest"),
    ("redis.memory", "used"),
}


def stamp(at: dt.datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%SZ")


def root_blocks(summary: dict[str, Any]) -> dict[str, Any]:
    [disk] = [c for c in summary["checks"] if c["id"] == "host.disk_space"]
    [blocks] = [m for m in disk["measurements"] if m["name"] == "blocks" and m["labels"] == {"mount": "/"}]
    return blocks  # type: ignore[no-any-return]


def copy_run(source: Run, history: Path, at: dt.datetime, blocks: float) -> str:
    """`source`'s archived run copied into `history` as a run started at `at`, `/` at `blocks`%."""
    summary = source.summary
    shift = at - dt.datetime.fromisoformat(summary["started"])
    target = history / "demo" / stamp(at)
    shutil.copytree(source.archive, target)
    summary["run_id"] = target.name
    for key in ("started", "finished"):
        summary[key] = (dt.datetime.fromisoformat(summary[key]) + shift).isoformat()
    root_blocks(summary)["value"] = round(blocks, 4)
    SUMMARY_SCHEMA.validate(summary)
    (target / "summary.json").write_text(json.dumps(summary, indent=2))
    return target.name


def report(*args: str, report_dir: Path) -> str:
    command = [sys.executable, "-m", "sergas", "report", *args, "--env", "demo", "--report-dir", str(report_dir)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True, timeout=60).stdout


def test_history_of_weeks(run_checks: RunChecks, sandbox: Sandbox, tmp_path: Path) -> None:
    well = run_checks(*CHECKS)
    sick = run_checks(*CHECKS, env=environment_text(SICK))
    assert (well.status("postgres.connections"), sick.status("postgres.connections")) == ("ok", "critical")
    now = dt.datetime.fromisoformat(well.summary["started"])
    used = root_blocks(well.summary)["value"]
    if not 1 <= used < 70:
        pytest.skip(f"/ is {used}% used here: no room for a line growing to 80%")
    # Steep enough to see, gentle enough to stay above 20% of today's use DAYS ago.
    ahead = max(AHEAD, (80 - used) * DAYS / (0.8 * used))
    noon = dt.datetime.combine((now + dt.timedelta(days=ahead + 1)).date(), dt.time(12), dt.UTC)
    slope = (80 - used) / ((noon - now).total_seconds() / 86400)  # % per day, through `used` now

    history = tmp_path / "history"
    runs = {}
    for days_ago in range(DAYS, 0, -1):
        at = now - dt.timedelta(days=days_ago)
        runs[days_ago] = copy_run(sick if days_ago in SICK_DAYS else well, history, at, used - slope * days_ago)
    keep = environment_text(f"[reports]\nkeep_days = {KEEP_DAYS}\n")
    # `-p`: until fixtures/plugin.py lists the plugin (then a no-op: a plugin registers once).
    final = run_checks(*CHECKS, env=keep, args=("-p", "fixtures.output_prune"), report_dir=history)
    assert final.result.ret == 0, final.output

    # Retention: what started more than KEEP_DAYS days before the run is gone, nothing else.
    kept = {p.name for p in (history / "demo").iterdir()}
    assert kept == {runs[d] for d in range(1, KEEP_DAYS)} | {final.archive.name, "latest"}
    assert (history / "demo" / "latest").resolve() == final.archive

    index = history / "index.html"
    page = index.read_text()
    assert all(runs[d] in page for d in range(1, KEEP_DAYS)) and final.archive.name in page
    assert not any(runs[d] in page for d in range(KEEP_DAYS, DAYS + 1))
    with sync_api().sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        view = browser.new_page(viewport={"width": 1280, "height": 900})
        view.goto(index.as_uri())
        figures = view.eval_on_selector_all(
            "figure",
            """fs => fs.map(f => ({
                title: f.querySelector('figcaption b').innerText,
                rules: [...f.querySelectorAll('svg line.rule')].map(l => l.getAttribute('class')),
                points: f.querySelectorAll('svg circle').length,
            }))""",
        )
        runs_listed = view.eval_on_selector_all("section table a[href$='report.html']", "as => as.length")
        view.screenshot(path=str(history / "index.png"), full_page=True)
        browser.close()
    charted = {tuple(f["title"].split(" · ")) for f in figures}
    assert charted >= CAPACITY, figures
    for figure in figures:
        assert figure["points"] == KEEP_DAYS and sorted(figure["rules"]) == ["rule critical", "rule warning"], figure
    assert runs_listed == KEEP_DAYS

    # The capacity forecast: `/` reaches 80% on the day the line says (the line goes through today's use).
    capacity = report("capacity", report_dir=history)
    [row] = [
        line for line in capacity.splitlines() if re.match(r"host\.disk_space\s+blocks\s+localhost mount=/\s", line)
    ]
    critical = (now + dt.timedelta(days=(90 - used) / slope)).date()
    assert f"80%: {noon.date()}" in row, capacity
    assert re.search(rf"90%: ({critical}|{critical + dt.timedelta(days=1)}|{critical - dt.timedelta(days=1)})", row)

    # The weekly report: connections critical two days ago and the day before, resolved yesterday.
    out = tmp_path / "weekly.html"
    assert report("weekly", "--out", str(out), report_dir=history).strip() == str(out)
    not_ok = out.read_text().split("<h2>Checks not ok</h2>")[1].split("<h2>")[0]
    [connections] = re.findall(r"<tr><td>postgres\.connections</td>.*?</tr>", not_ok)
    first, last, resolved = (f"{now - dt.timedelta(days=d):%Y-%m-%d %H:%M}" for d in (3, 2, 1))
    assert (
        f"<td>critical</td><td>{first}</td><td>{last}</td><td>resolved {resolved}</td><td>2d</td><td>2</td>"
        in connections
    )


def sync_api() -> Any:
    return pytest.importorskip("playwright.sync_api")
