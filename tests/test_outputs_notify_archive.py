"""Two outputs of a finished run against the sandbox's real servers: Alertmanager notifications
(a critical check raises an alert, its recovery resolves it, the alert checks do not count it)
and the S3 copy of the run archive (every file, nothing secret), and both failing to deliver
(one line each, the run's own outcome unchanged)."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from sandbox.ports import free_port
from sandbox.processes import NO_PROXY
from sandbox.s3 import client
from tests.conftest import RunChecks, environment_text
from tests.test_alert_checks import wait_for_alerts

APP, ZOHO = "daily/test_app.py", ("-k", "zoho")
REPORTS_S3 = """
[reports]
s3_endpoint = "{endpoint}"
s3_region = "eu-west-1"
s3_access_key_id = "${{SANDBOX_S3_ACCESS_KEY_ID}}"
s3_secret_access_key = "${{SANDBOX_S3_SECRET_ACCESS_KEY}}"
"""
# A plugin that writes the database password into the run folder while the outputs run, before
# the archive is sealed: the S3 copy must mask it on the way.
LEAKY_PLUGIN = """
import os
def pytest_sergas_run_finished(summary, archive, config):
    (archive.root / "leak.txt").write_text("password=" + os.environ["SANDBOX_PG_PASSWORD"])
"""


def own_alerts(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in alerts if a["labels"].get("source") == "sergas-checks"]


def active_alerts(sandbox: Sandbox) -> list[dict[str, Any]]:
    with NO_PROXY.open(sandbox.require_state().alertmanager_url + "/api/v2/alerts", timeout=5) as response:
        alerts: list[dict[str, Any]] = json.load(response)
    return alerts


@pytest.fixture
def quiet_afterwards(sandbox: Sandbox) -> Iterator[None]:
    """Resolve whatever the suite's own alerts a failed test leaves, for the tests after it."""
    yield
    left = own_alerts(active_alerts(sandbox))
    if left:
        now = dt.datetime.now(dt.UTC).isoformat()
        body = [{"labels": a["labels"], "startsAt": now, "endsAt": now} for a in left]
        request = urllib.request.Request(
            sandbox.require_state().alertmanager_url + "/api/v2/alerts",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with NO_PROXY.open(request, timeout=5) as response:
            response.read()


@pytest.mark.usefixtures("quiet_afterwards")
def test_a_failing_check_raises_an_alert_its_recovery_resolves(run_checks: RunChecks, sandbox: Sandbox) -> None:
    notify = f"--notify-alertmanager={sandbox.require_state().alertmanager_url}"
    with sandbox.faults.zoho_unreachable():
        failing = run_checks(APP, args=(*ZOHO, notify))
    assert failing.status("app.zoho_connectivity") == "critical", failing.output
    wait_for_alerts(sandbox, lambda alerts: len(own_alerts(alerts)) == 1)
    (alert,) = own_alerts(active_alerts(sandbox))
    (record,) = failing.checks("app.zoho_connectivity")
    assert alert["labels"] == {
        "alertname": "SergasCheckFailed",
        "env": "demo",
        "check": "app.zoho_connectivity",
        "target": record["target"],
        "severity": "critical",
        "source": "sergas-checks",
    }
    report = (failing.archive / "report.html").as_uri()
    assert alert["annotations"]["summary"] == record["message"]
    assert alert["annotations"]["report"] == report and alert["generatorURL"] == report
    ends = dt.datetime.fromisoformat(alert["endsAt"].replace("Z", "+00:00"))
    assert dt.timedelta(hours=29) < ends - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=30)

    review = run_checks("alerts/test_alertmanager.py")
    assert review.status("alerts.critical_firing") == "ok", review.output
    assert review.message("alerts.critical_firing").endswith(
        'no active critical alert (1 of this suite\'s own (source="sergas-checks"), not counted)'
    )

    recovered = run_checks(APP, args=(*ZOHO, notify), report_dir=failing.report_dir)
    assert recovered.status("app.zoho_connectivity") == "ok", recovered.output
    wait_for_alerts(sandbox, lambda alerts: not own_alerts(alerts))
    assert "sergas: notify" not in failing.output + recovered.output


def test_the_run_folder_is_copied_to_s3_masked(
    run_checks: RunChecks, sandbox: Sandbox, pytester: pytest.Pytester
) -> None:
    state = sandbox.require_state()
    pytester.makepyfile(leaky_plugin=LEAKY_PLUGIN)
    env = environment_text(REPORTS_S3.format(endpoint="${SANDBOX_S3_ENDPOINT}"))
    prefix = f"runs/{pytester.path.name}"
    run = run_checks(APP, env=env, args=(*ZOHO, "-p", "leaky_plugin", f"--archive-s3=s3://sergas-backups/{prefix}"))
    assert run.result.ret == pytest.ExitCode.OK, run.output
    local = {p.relative_to(run.archive).as_posix() for p in run.archive.rglob("*") if p.is_file()}
    assert {"report.html", "junit.xml", "summary.json", "leak.txt"} <= local

    s3 = client(state.s3_endpoint, state.s3_access_key_id, state.s3_secret_access_key)
    under = f"{prefix}/demo/{run.archive.name}/"
    listed = s3.list_objects_v2(Bucket="sergas-backups", Prefix=under).get("Contents", [])
    bodies = {
        o["Key"].removeprefix(under): s3.get_object(Bucket="sergas-backups", Key=o["Key"])["Body"].read()
        for o in listed
    }
    assert set(bodies) == local
    assert bodies["leak.txt"] == b"password=***"
    assert bodies["summary.json"] == (run.archive / "summary.json").read_bytes()
    for secret in (state.pg_password, state.s3_access_key_id, state.s3_secret_access_key):
        assert all(secret.encode() not in body for body in bodies.values()), "a secret was uploaded"
    assert "sergas: archive s3" not in run.output


def test_unreachable_alertmanager_and_store_are_one_line_each(run_checks: RunChecks, sandbox: Sandbox) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    env = environment_text(REPORTS_S3.format(endpoint=closed))
    with sandbox.faults.zoho_unreachable():
        run = run_checks(
            APP, env=env, args=(*ZOHO, f"--notify-alertmanager={closed}", "--archive-s3=s3://sergas-backups/runs")
        )
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED, run.output  # the critical check, nothing more
    lines = run.result.stdout.lines + run.result.stderr.lines
    assert f"sergas: notify alertmanager {closed}: connection refused" in lines, run.output
    assert "sergas: archive s3 s3://sergas-backups/runs: connection refused" in lines, run.output
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output
    assert Path(run.archive / "report.html").is_file()
