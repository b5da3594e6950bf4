"""Morning health check, steps 1, 2 and 7: the service runs, /health answers, Zoho is reachable."""

from __future__ import annotations

import shlex

import httpx
import pytest
from testinfra.host import Host

from fixtures.environment import section
from fixtures.hosts import run_bounded
from fixtures.http import App, app_of
from fixtures.measure import CheckRun, check
from probes.app import HEALTHY, HealthAnswer, fetch_health
from probes.host import parse_ps, parse_systemctl_show, pgrep_pattern
from sergas.config import AppConfig, Environment
from sergas.status import CheckOutcome, Limit, critical, unknown
from sergas.targets import short_reason
from sergas.units import Unit

pytestmark = [pytest.mark.daily, pytest.mark.app]


@pytest.mark.gate
@pytest.mark.hosts("app")
@check("app.service_running", "The Sergas app service runs on every app host")
def test_service_running(host: Host, check: CheckRun, environment: Environment) -> None:
    app: AppConfig = section(environment, "app", "the Sergas app")
    service, runtime, timeout = app.service, app.runtime, environment.command_timeout
    if runtime == "process":
        rc, out, err = run_bounded(
            host, f"pgrep -f -- {shlex.quote(pgrep_pattern(service))} | xargs -r ps -o pid=,etimes=,args= -p", timeout
        )
        processes = parse_ps(out)
        check.attach("processes", out or err or "(none)")
        if processes:
            check.record("processes", len(processes))
            check.record("uptime", min(p.elapsed_s for p in processes), Unit.SECONDS)
            check.ok(f"{len(processes)} process(es) matching {service!r}, pid {processes[0].pid}")
        else:
            check.critical(f"no process matching {service!r} is running")
    elif runtime == "systemd":
        command = f"systemctl show --no-pager -p LoadState,ActiveState,SubState,NRestarts {shlex.quote(service)}"
        rc, out, err = run_bounded(host, command, timeout)
        check.attach("systemctl show", out or err)
        unit = parse_systemctl_show(out)
        if rc != 0 or "ActiveState" not in unit:
            last = (err or out).strip().splitlines()
            raise unknown(f"systemctl cannot tell: {last[0] if last else f'exit {rc}'}")
        restarts = unit.get("NRestarts", "?")
        if unit.get("LoadState") == "not-found":
            check.critical(f"unit {service} not found")
        elif unit["ActiveState"] == "active":
            check.ok(f"{service} active ({unit.get('SubState', '?')}), {restarts} restarts")
        else:
            check.critical(f"{service} is {unit['ActiveState']} ({unit.get('SubState', '?')}), {restarts} restarts")
    else:
        raise unknown(f"runtime {runtime!r} is not checked yet (process and systemd are)")


def _health(app: App, check: CheckRun, *, own_finding: bool) -> HealthAnswer:
    """The /health answer. When the app does not answer (refused, or not within the command
    timeout), that is the finding of the check asking about the app itself (`own_finding`:
    critical); a check asking about something the answer would tell (Zoho) cannot say: unknown."""
    ended = critical if own_finding else unknown
    try:
        answer = fetch_health(app.client, app.config.health_path)
    except httpx.TimeoutException as exc:
        raise ended(f"no answer from {app.config.url}{app.config.health_path}: {short_reason(exc)}") from None
    except httpx.TransportError as exc:
        raise ended(f"cannot reach {app.config.url}{app.config.health_path}: {short_reason(exc)}") from None
    check.attach(f"GET {answer.url} -> {answer.status_code}", answer.text[:4000])
    return answer


@pytest.mark.gate
@check(
    "app.health_endpoint",
    "/health answers 200 with valid JSON, healthy components, quickly",
    latency=Limit(1.0, 5.0, Unit.SECONDS),
)
def test_health_endpoint(app_config: AppConfig, check: CheckRun, request: pytest.FixtureRequest) -> None:
    try:  # reaching the app is this check's own finding: critical here, unknown for the others
        app = app_of(request.config, app_config)
    except CheckOutcome as outcome:
        raise critical(outcome.message) from None
    answer = _health(app, check, own_finding=True)
    check.record("status_code", answer.status_code)
    check.measure("latency", answer.latency_s, label="response time")
    if answer.status_code != 200:
        check.critical(f"{app.config.health_path} answered HTTP {answer.status_code}")
    if answer.problem:
        check.critical(f"{app.config.health_path} {answer.problem}")
        return
    for name in app.config.components:
        component = answer.component(name)
        if component is None:
            check.critical(f"component {name!r} missing from the health body")
            continue
        state = str(component.get("status", "?")).lower()
        if state in HEALTHY:
            check.ok(f"{name} {state}")
        else:
            detail = f": {component['error']}" if component.get("error") else ""
            # Zoho is an external dependency with its own check: degraded, not down.
            finding = check.warning if name == "zoho" else check.critical
            finding(f"component {name} is {state}{detail}")


@check("app.zoho_connectivity", "The app reaches Zoho CRM (as its /health reports)")
def test_zoho_connectivity(app: App, check: CheckRun) -> None:
    answer = _health(app, check, own_finding=False)
    if answer.problem:
        raise unknown(f"cannot read Zoho state: {app.config.health_path} {answer.problem}")
    zoho = answer.component("zoho")
    if zoho is None:
        raise unknown("the health body has no zoho component")
    state = str(zoho.get("status", "?")).lower()
    if state in HEALTHY:
        latency = zoho.get("latency_ms")
        if isinstance(latency, (int, float)):
            check.record("zoho_latency", latency / 1000, Unit.SECONDS)
        check.ok(f"zoho {state}")
    else:
        detail = f": {zoho['error']}" if zoho.get("error") else ""
        check.critical(f"Zoho CRM is {state}{detail}")
