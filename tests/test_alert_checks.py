"""Alert review against the sandbox's real Alertmanager: alerts raised through its API (as the
manual's "acknowledge" snippet does, which is exactly how it creates one), then silenced (the
real acknowledgement), an inhibited warning, and Alertmanager stopped.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from sandbox import Sandbox
from sandbox.processes import NO_PROXY
from tests.conftest import RunChecks

ALERT_IDS = {"alerts.alertmanager_healthy", "alerts.critical_firing", "alerts.warnings_firing", "alerts.other_firing"}


def wait_for_alerts(sandbox: Sandbox, ready: Callable[[list[dict[str, Any]]], bool], timeout: float = 15) -> None:
    """Wait until Alertmanager's alert list satisfies `ready` (silences and inhibitions applied)."""
    url = sandbox.require_state().alertmanager_url + "/api/v2/alerts"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with NO_PROXY.open(url, timeout=5) as response:
            if ready(json.load(response)):
                return
        time.sleep(0.1)
    raise AssertionError(f"Alertmanager's alerts never reached the expected state within {timeout} s")


def state_of(alerts: list[dict[str, Any]], name: str, severity: str) -> str | None:
    for alert in alerts:
        if alert["labels"].get("alertname") == name and alert["labels"].get("severity") == severity:
            return str(alert["status"]["state"])
    return None


def test_healthy_sandbox_alerts_all_ok(run_checks: RunChecks) -> None:
    run = run_checks("alerts", args=("-m", "gate"))
    assert run.result.ret == pytest.ExitCode.OK, run.output
    statuses = {c["id"]: c["status"] for c in run.summary["checks"]}
    assert statuses == dict.fromkeys(ALERT_IDS, "ok"), statuses
    assert run.message("alerts.critical_firing").endswith(": no active critical alert")
    assert run.message("alerts.other_firing").endswith(": no active other-severity alert")


def test_critical_alert_firing_then_silenced(run_checks: RunChecks, sandbox: Sandbox) -> None:
    faults = sandbox.faults
    with (
        faults.alert_firing("SandboxDatabaseDown", "critical", service="postgres") as critical,
        faults.alert_firing("SandboxDatabaseDown", "warning", service="postgres"),  # inhibited by the critical
        faults.alert_firing("SandboxDiskFilling", "warning", mountpoint="/var"),
    ):
        wait_for_alerts(
            sandbox,
            lambda alerts: (
                state_of(alerts, "SandboxDatabaseDown", "warning") == "suppressed"
                and state_of(alerts, "SandboxDatabaseDown", "critical") == "active"
                and state_of(alerts, "SandboxDiskFilling", "warning") == "active"
            ),
        )
        firing = run_checks("alerts")
        with faults.alert_silenced(critical, comment="acknowledged by the test"):
            wait_for_alerts(sandbox, lambda alerts: state_of(alerts, "SandboxDatabaseDown", "critical") == "suppressed")
            silenced = run_checks("alerts/test_alertmanager.py::test_critical_firing")

    assert firing.status("alerts.critical_firing") == "critical", firing.output
    message = firing.message("alerts.critical_firing")
    assert re.search(
        r'1 critical alert\(s\) firing: SandboxDatabaseDown\{instance="sandbox", service="postgres"\}'
        r" since \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \([0-9.a-z]+\);",
        message,
    ), message
    assert "acknowledge with a silence (POST /api/v2/silences), not by POSTing the alert" in message
    report = (firing.archive / "report.html").read_text()
    assert "How to acknowledge" in report and "/api/v2/silences" in report and "createdBy" in report

    assert firing.status("alerts.warnings_firing") == "warning"
    warnings = firing.message("alerts.warnings_firing")
    assert 'SandboxDiskFilling{instance="sandbox", mountpoint="/var"}' in warnings
    assert "SandboxDatabaseDown" not in warnings.split(" (")[0]  # the inhibited warning does not count
    assert "(1 silenced or inhibited, not counted)" in warnings
    assert firing.result.ret == pytest.ExitCode.TESTS_FAILED

    assert silenced.status("alerts.critical_firing") == "ok", silenced.output
    assert silenced.message("alerts.critical_firing").endswith(
        "no active critical alert (1 silenced or inhibited, not counted)"
    )


def test_alertmanager_stopped(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.alertmanager_stopped():
        run = run_checks("alerts")
    url = sandbox.require_state().alertmanager_url
    host = url.removeprefix("http://")
    assert run.status("alerts.alertmanager_healthy") == "critical", run.output
    assert run.message("alerts.alertmanager_healthy") == (
        f"{host}: cannot connect to alertmanager {url}: connection refused: alerts are not delivered"
    )
    assert run.status("alerts.critical_firing") == "unknown"
    assert run.status("alerts.warnings_firing") == "unknown"
    assert run.message("alerts.critical_firing") == f"cannot connect to alertmanager {url}: connection refused"


def test_other_severities_firing(run_checks: RunChecks, sandbox: Sandbox) -> None:
    """An alert of a severity neither critical nor warning, or of none, is judged, not ignored;
    a silenced one and the suite's own are not counted."""
    faults = sandbox.faults
    with (
        faults.alert_firing("SandboxCertificateNotice", "info", host="web1"),
        faults.alert_firing("SandboxNoSeverity", ""),
        faults.alert_firing("SandboxQuietNotice", "info") as quiet,
        faults.alert_silenced(quiet),
        faults.alert_firing("SergasCheckFailed", "info", source="sergas-checks"),
        faults.alert_firing("SandboxCritical", "critical"),  # alerts.critical_firing's, not this check's
    ):
        wait_for_alerts(sandbox, lambda alerts: state_of(alerts, "SandboxQuietNotice", "info") == "suppressed")
        run = run_checks("alerts/test_alertmanager.py::test_other_firing")

    assert run.status("alerts.other_firing") == "warning", run.output
    message = run.message("alerts.other_firing")
    assert re.search(r": 2 other-severity alert\(s\) firing: ", message), message  # in Alertmanager's order
    notice = (
        r'SandboxCertificateNotice\{host="web1", instance="sandbox"\} since \S+ \S+ \([0-9.a-z]+\) \[severity info\]'
    )
    assert re.search(notice, message), message
    assert re.search(r'SandboxNoSeverity\{instance="sandbox"\} since \S+ \S+ \([0-9.a-z]+\) \[severity none\]', message)
    assert '(1 silenced or inhibited, 1 of this suite\'s own (source="sergas-checks"), not counted);' in message
    assert "SandboxCritical" not in message
