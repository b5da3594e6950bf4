"""Alert review (Daily Operations): what Alertmanager has firing that nobody acknowledged.

The manual lists every alert (`GET /api/v2/alerts`, silenced ones included) and "acknowledges"
by POSTing the alert back, which creates a firing alert. Here silenced and inhibited alerts do
not count, and the evidence of a firing alert shows the silence that acknowledges it.

The suite's own alerts do not count either. An alert labelled `source="sergas-checks"` is one this
suite posted (`--notify-alertmanager`) for a check that failed in an earlier run: that check is
where the finding is reported, and counting it here too would make every failed check fail the
alert review as well, and keep it failing (each run posts the alert again). Such alerts are left
out and their number is said in the message (`N of this suite's own ..., not counted`); the
site's own rules' alerts, whatever their labels, are counted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx
import pytest

from actions.alertmanager import SilenceAlert
from fixtures.alertmanager import Alertmanager, alertmanager_client, silence_duration
from fixtures.archive import archive_of
from fixtures.measure import CheckRun, check
from fixtures.remediation import Remediation
from probes.alertmanager import ACKNOWLEDGE_NOTE, ACTIVE, Alert, acknowledge_howto
from sergas.config import AlertmanagerConfig
from sergas.notify import SOURCE, SOURCE_LABEL
from sergas.status import CheckOutcome
from sergas.targets import short_reason

pytestmark = [pytest.mark.daily, pytest.mark.gate, pytest.mark.alertmanager]

KNOWN_SEVERITIES = ("critical", "warning")  # judged by their own checks; any other by alerts.other_firing


@check("alerts.alertmanager_healthy", "Alertmanager is healthy and ready (/-/healthy, /-/ready)")
def test_alertmanager_healthy(
    alertmanager_target: AlertmanagerConfig, check: CheckRun, request: pytest.FixtureRequest
) -> None:
    # Reachability is this check's finding: no answer is critical here, unknown elsewhere.
    try:
        client = alertmanager_client(request.config, alertmanager_target.url)
    except CheckOutcome as outcome:
        check.critical(f"{outcome.message}: alerts are not delivered")
        return
    answers = []
    for path in ("/-/healthy", "/-/ready"):
        try:
            response = client.get(path)
        except httpx.TransportError as exc:
            check.critical(f"no answer from {path}: {short_reason(exc)}")
            return
        answers.append(f"GET {path} -> {response.status_code} {response.text.strip()[:80]}")
        if response.status_code != 200:
            check.critical(f"{path} answered HTTP {response.status_code}")
    try:
        status = client.get("/api/v2/status")
        if status.status_code == 200:
            body = status.json()
            version = (body.get("versionInfo") or {}).get("version", "?")
            cluster = (body.get("cluster") or {}).get("status", "?")
            answers.append(f"version {version}, cluster {cluster}")
    except (httpx.HTTPError, ValueError):
        pass  # the version is evidence only
    check.attach("Alertmanager", "\n".join(answers))
    if not check.findings:
        check.ok("healthy and ready")


def _firing(alertmanager: Alertmanager, kind: Callable[[Alert], bool]) -> tuple[list[Alert], list[Alert], list[Alert]]:
    """(firing alerts of that `kind`, suppressed ones, the suite's own), from one list: the last two
    are not counted, only named in the message."""
    alerts = [a for a in alertmanager.alerts(**ACTIVE) if kind(a)]
    site = [a for a in alerts if not a.own]
    return [a for a in site if a.firing], [a for a in site if not a.firing], [a for a in alerts if a.own]


def _report(
    check: CheckRun,
    alertmanager: Alertmanager,
    severity: str,
    finding: Callable[[str], None],
    *,
    kind: Callable[[Alert], bool] | None = None,
    offer: Callable[[list[Alert]], None] | None = None,
) -> None:
    """Judge the alerts of `severity` (or of `kind`, named `severity` in the message), offering
    `offer` the firing ones."""
    now = dt.datetime.now(dt.UTC)
    firing, suppressed, own = _firing(alertmanager, kind or (lambda a: a.severity == severity))
    key = severity.replace("-", "_")  # other-severity_firing is no measurement name
    check.record(f"{key}_firing", len(firing))
    check.record(f"{key}_suppressed", len(suppressed))
    check.record(f"{key}_own", len(own))
    uncounted = [f"{len(suppressed)} silenced or inhibited"] if suppressed else []
    uncounted += [f'{len(own)} of this suite\'s own ({SOURCE_LABEL}="{SOURCE}")'] if own else []
    quiet = f" ({', '.join(uncounted)}, not counted)" if uncounted else ""
    if not firing:
        check.ok(f"no active {severity} alert{quiet}")
        return
    shown = (
        (lambda a: a.describe(now))
        if kind is None
        else (lambda a: f"{a.describe(now)} [severity {a.severity or 'none'}]")
    )
    listed = "; ".join(shown(a) for a in firing[:5]) + (f"; and {len(firing) - 5} more" if len(firing) > 5 else "")
    check.attach("How to acknowledge", acknowledge_howto(alertmanager.config.url, firing, now))
    finding(f"{len(firing)} {severity} alert(s) firing: {listed}{quiet}; {ACKNOWLEDGE_NOTE}")
    if offer is not None:
        offer(firing)


def _silence(
    alertmanager: Alertmanager, remediation: Remediation, request: pytest.FixtureRequest
) -> Callable[[list[Alert]], None]:
    """Offer silence_alert (--remediate=silence_alert) for the firing alerts."""

    def offer(firing: list[Alert]) -> None:
        archive = archive_of(request.config)
        check_id = remediation.run.spec.id
        run = archive.run_id if archive is not None else "-"
        comment = f"acknowledged by {SOURCE} ({check_id}, run {run}, --remediate=silence_alert)"
        seconds = silence_duration(request.config)
        timeout = remediation.run.env.command_timeout
        remediation.offer(
            SilenceAlert(url=alertmanager.config.url, alerts=firing, seconds=seconds, comment=comment, timeout=timeout)
        )

    return offer


@check(
    "alerts.critical_firing",
    "No critical alert fires unacknowledged (silenced and inhibited do not count)",
    offers=(SilenceAlert,),
)
def test_critical_firing(
    alertmanager: Alertmanager, check: CheckRun, remediation: Remediation, request: pytest.FixtureRequest
) -> None:
    _report(check, alertmanager, "critical", check.critical, offer=_silence(alertmanager, remediation, request))


@check("alerts.warnings_firing", "No warning-level alert fires unacknowledged", offers=(SilenceAlert,))
def test_warnings_firing(
    alertmanager: Alertmanager, check: CheckRun, remediation: Remediation, request: pytest.FixtureRequest
) -> None:
    _report(check, alertmanager, "warning", check.warning, offer=_silence(alertmanager, remediation, request))


@check("alerts.other_firing", "No alert of another severity (info, none, ...) fires unacknowledged")
def test_other_firing(alertmanager: Alertmanager, check: CheckRun) -> None:
    # Severity is only a label convention: an alert without one, or with the site's own word for
    # it, is still firing and judged (warning), not ignored.
    _report(check, alertmanager, "other-severity", check.warning, kind=lambda a: a.severity not in KNOWN_SEVERITIES)
