"""The report as a person sees it: report.html rendered by headless Chromium, rows read back."""

from __future__ import annotations

import shutil

import pytest

from sandbox import Sandbox
from tests.conftest import RunChecks

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


def test_report_rows_in_chromium(run_checks: RunChecks, sandbox: Sandbox) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sandbox.faults.zoho_unreachable():
        run = run_checks("daily", args=("-m", "daily"))
    expected = {c["id"]: c for c in run.summary["checks"]}

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto((run.archive / "report.html").as_uri())
        page.wait_for_selector("td.col-check")
        title = page.title()
        rows = page.eval_on_selector_all(
            "tbody.results-table-row tr.collapsible",
            """rows => rows.map(r => ({
                status: r.querySelector('td.col-status')?.innerText,
                check: r.querySelector('td.col-check')?.innerText,
                target: r.querySelector('td.col-target')?.innerText,
                message: r.querySelector('td.col-message')?.innerText,
                result: r.querySelector('td.col-result')?.innerText,
            }))""",
        )
        page.screenshot(path=str(run.archive.parent / "report.png"), full_page=True)
        browser.close()

    assert "demo" in title
    seen = {row["check"]: row for row in rows}
    assert set(seen) == set(expected), rows
    for check_id, record in expected.items():
        row = seen[check_id]
        assert row["status"] == record["status"].upper()
        assert row["message"] == record["message"]
        assert row["target"] == record["target"]
    assert seen["app.zoho_connectivity"]["status"] == "CRITICAL"
    assert seen["app.zoho_connectivity"]["result"] == "Failed"
    assert seen["app.health_endpoint"]["status"] == "WARNING"
    assert seen["postgres.connections"]["status"] == "OK"
