"""silence_alert against the sandbox's real Alertmanager: planned only unless named, then one
silence per firing alert (the check measures again and is ok), and nothing to do the next time."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox import Sandbox
from sandbox.processes import NO_PROXY
from tests.conftest import RunChecks
from tests.test_alert_checks import state_of, wait_for_alerts
from tests.test_remediation import audit_lines

CRITICAL = "alerts/test_alertmanager.py::test_critical_firing"


def our_silences(sandbox: Sandbox, token: str) -> list[dict[str, Any]]:
    """The active silences this suite created for the alerts labelled `test=<token>`."""
    with NO_PROXY.open(sandbox.require_state().alertmanager_url + "/api/v2/silences", timeout=5) as response:
        silences: list[dict[str, Any]] = json.load(response)
    return [
        s
        for s in silences
        if s["status"]["state"] == "active"
        and s["createdBy"] == "sergas-checks"
        and {"name": "test", "value": token, "isRegex": False, "isEqual": True} in s["matchers"]
    ]


@pytest.fixture
def token(sandbox: Sandbox) -> Iterator[str]:
    """A label value of this test's alerts; the silences created for them are expired after."""
    value = secrets.token_hex(4)
    yield value
    url = sandbox.require_state().alertmanager_url
    for silence in our_silences(sandbox, value):
        request = urllib.request.Request(f"{url}/api/v2/silence/{silence['id']}", method="DELETE")
        with NO_PROXY.open(request, timeout=5) as response:
            response.read()


def test_plan_then_silence_then_nothing_to_do(run_checks: RunChecks, sandbox: Sandbox, token: str) -> None:
    with sandbox.faults.alert_firing("SandboxSilenceMe", "critical", test=token) as labels:
        wait_for_alerts(sandbox, lambda alerts: state_of(alerts, "SandboxSilenceMe", "critical") == "active")
        planned = run_checks(CRITICAL)
        refused = run_checks(CRITICAL, args=("--remediate=safe",))
        applied = run_checks(CRITICAL, args=("--remediate=silence_alert", "--silence-duration=30m"))
        silences = our_silences(sandbox, token)
        again = run_checks(CRITICAL, args=("--remediate=silence_alert",))

    assert planned.status("alerts.critical_firing") == "critical", planned.output
    target = planned.checks("alerts.critical_firing")[0]["target"]
    planned_line = f"PLANNED silence_alert (disruptive) for alerts.critical_firing on {target}: apply with --remediate="
    assert planned_line + "silence_alert" in planned.output
    matchers = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    plan = f"POST /api/v2/silences on {target}: silence SandboxSilenceMe for 4h (matchers {{{matchers}}})"
    [line] = audit_lines(planned)
    assert line["decision"] == "planned" and line["plan"] == [plan], line
    [line] = audit_lines(refused)
    assert line["decision"] == "refused"
    assert line["result"] == "silence_alert is disruptive: it runs only when named (--remediate=silence_alert)"
    assert refused.status("alerts.critical_firing") == "critical"

    record = applied.checks("alerts.critical_firing")[0]
    assert record["status"] == "ok", applied.output
    assert record["before"]["status"] == "critical"
    assert record["message"].endswith("no active critical alert (1 silenced or inhibited, not counted)")
    [line] = audit_lines(applied)
    assert line["decision"] == "applied", line
    [silence] = silences
    assert line["steps"] == [f"silence {silence['id']}: SandboxSilenceMe for 30m (matchers {{{matchers}}})"]
    assert sorted(silence["matchers"], key=lambda m: m["name"]) == [
        {"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in sorted(labels.items())
    ]
    starts, ends = (dt.datetime.fromisoformat(silence[k].replace("Z", "+00:00")) for k in ("startsAt", "endsAt"))
    # Alertmanager moves a startsAt already past to the moment it stored the silence
    assert abs(ends - starts - dt.timedelta(minutes=30)) < dt.timedelta(seconds=2), (starts, ends)
    run_id = applied.summary["run_id"]
    assert silence["comment"] == (
        f"acknowledged by sergas-checks (alerts.critical_firing, run {run_id}, --remediate=silence_alert)"
    )

    assert again.status("alerts.critical_firing") == "ok"
    assert audit_lines(again) == [], "a second run finds nothing to do"


def test_bad_silence_duration_is_a_usage_error(run_checks: RunChecks) -> None:
    run = run_checks(CRITICAL, args=("--silence-duration=soon",))
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert "--silence-duration: not a quantity: 'soon'" in run.output
