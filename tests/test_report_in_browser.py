"""The report as a person sees it: report.html rendered by headless Chromium, read back, over three
runs of one environment (one history): healthy, with a fault, with that fault gone and another."""

from __future__ import annotations

import shutil
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from tests.conftest import RunChecks, environment_text

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the networking flags, Chromium's background requests are refused by the closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WORST_FIRST = ["critical", "unknown", "warning", "waived", "ok", "skipped"]
READ_ROWS = """rows => rows.map(r => ({
    section: r.querySelector('td.col-section')?.innerText,
    status: r.querySelector('td.col-status')?.innerText,
    since: r.querySelector('td.col-since')?.innerText,
    check: r.querySelector('td.col-check')?.innerText,
    target: r.querySelector('td.col-target')?.innerText,
    message: r.querySelector('td.col-message')?.innerText,
    result: r.querySelector('td.col-result')?.innerText,
    // the bar of the measurement named `used` (a check may draw several)
    gauge: [...r.parentElement.querySelectorAll('.extras-row tr')]
        .find(t => t.querySelector('code')?.innerText === 'used')
        ?.querySelector('.gauge-fill')?.style.width,
}))"""
READ_PROBLEMS = """rows => rows.map(r => [...r.querySelectorAll('td')].map(td => td.innerText))"""


def severity(check: dict[str, Any]) -> tuple[int, str, str]:
    return WORST_FIRST.index(check["status"]), check["id"], check["target"]


def read_report(page: Any, archive: Path, screenshot: Path) -> dict[str, Any]:
    """The rendered page's title, header and rows; a full-page screenshot of it."""
    page.goto((archive / "report.html").as_uri())
    page.wait_for_selector("td.col-check")
    seen = {
        "title": page.title(),
        "counts": page.eval_on_selector_all(".sergas-counts .count", "cs => cs.map(c => c.innerText)"),
        "problems": page.eval_on_selector_all(".sergas-problems tr", READ_PROBLEMS),
        "previous": page.eval_on_selector_all("a.previous-run", "as => as.map(a => a.getAttribute('href'))"),
        "rows": page.eval_on_selector_all("tbody.results-table-row tr.collapsible", READ_ROWS),
    }
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot: {screenshot}")
    return seen


def test_report_over_three_runs_in_chromium(run_checks: RunChecks, sandbox: Sandbox, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    report_dir = tmp_path / "reports"
    # Healthy; Zoho unreachable; Zoho back and Redis memory full: one history in one folder.
    faults: list[AbstractContextManager[object]] = [
        nullcontext(),
        sandbox.faults.zoho_unreachable(),
        sandbox.faults.redis_memory_filled(0.96),
    ]
    # The fill reaches 96% of maxmemory, and the sandbox's own session keys expiring can bring it
    # back under 95% by the time the check reads it: critical from 90% keeps run 3 critical.
    env = environment_text('[thresholds."redis.memory"]\nwarning = 85\ncritical = 90\n')
    runs = []
    for fault in faults:
        with fault:
            run = run_checks("daily", args=("-m", "daily"), report_dir=report_dir, env=env)
        runs.append((run.archive, run.summary))  # the newest run of the folder: read before the next one

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        pages = [read_report(page, archive, archive / f"report-{n}.png") for n, (archive, _) in enumerate(runs, 1)]
        page.goto((runs[2][0] / "report.html").as_uri())
        page.click("a.previous-run")  # the link to the previous run's report works
        page.wait_for_selector("td.col-check")
        followed = page.title()
        browser.close()
    assert runs[1][0].name in followed

    for (archive, summary), seen in zip(runs, pages, strict=True):
        assert "demo" in seen["title"] and archive.name in seen["title"]
        assert seen["counts"] == [f"{summary['counts'][s]} {s}" for s in WORST_FIRST]
        not_ok = sorted((c for c in summary["checks"] if c["status"] not in ("ok", "skipped")), key=severity)
        assert [(p[0], p[1], p[2], p[3]) for p in seen["problems"]] == [
            (c["status"].upper(), c["id"], c["target"], c["message"]) for c in not_ok
        ]
        rows = seen["rows"]
        # Every check has its row; one section (daily) here, so the rows are worst first.
        assert [(r["check"], r["target"]) for r in rows] == [
            (c["id"], c["target"]) for c in sorted(summary["checks"], key=severity)
        ], rows
        for row, check in zip(rows, sorted(summary["checks"], key=severity), strict=True):
            assert (row["section"], row["status"], row["message"]) == (
                "daily",
                check["status"].upper(),
                check["message"],
            )

    first, second, third = ({r["check"]: r for r in seen["rows"]} for seen in pages)
    assert {r["since"] for r in first.values()} == {""}, "no previous run: no marks"
    assert pages[0]["previous"] == []
    # Run 2: Zoho unreachable (the app's /health says degraded).
    assert second["app.zoho_connectivity"]["status"] == "CRITICAL"
    assert second["app.zoho_connectivity"]["result"] == "Failed"
    assert second["app.health_endpoint"]["status"] == "WARNING"
    assert second["postgres.connections"]["status"] == "OK"
    assert (second["app.zoho_connectivity"]["since"], second["app.health_endpoint"]["since"]) == ("new", "new")
    assert second["postgres.connections"]["since"] == "unchanged"
    assert [p[4] for p in pages[1]["problems"] if p[1].startswith("app.")] == ["new", "new"]
    assert pages[1]["previous"] == [f"../{runs[0][0].name}/report.html"]
    # Run 3: Zoho back, Redis memory full.
    assert (third["app.zoho_connectivity"]["since"], third["app.health_endpoint"]["since"]) == ("resolved", "resolved")
    assert (third["redis.memory"]["status"], third["redis.memory"]["since"]) == ("CRITICAL", "new")
    memory = next(c for c in runs[2][1]["checks"] if c["id"] == "redis.memory")
    used = next(m for m in memory["measurements"] if m["name"] == "used")
    assert third["redis.memory"]["gauge"] == f"{round(used['value'], 1):g}%"  # a percentage on 0-100
    assert pages[2]["previous"] == [f"../{runs[1][0].name}/report.html"]
