"""Morning health check, steps 1, 2 and 7: the service runs, /health answers, Zoho is reachable."""

from __future__ import annotations

import time

import httpx
import pytest

from fixtures.history import EarlierLookup
from fixtures.http import App, app_of
from fixtures.measure import CheckRun, check
from fixtures.service import Service
from probes.app import HEALTHY, HealthAnswer, fetch_health
from probes.service import STUCK_REASONS, ServiceState
from sergas.config import AppConfig
from sergas.status import CheckOutcome, Limit, critical, unknown
from sergas.targets import short_reason
from sergas.units import Unit

pytestmark = [pytest.mark.daily, pytest.mark.app]


@pytest.mark.gate
@check(
    "app.service_running",
    "The Sergas app service runs: every instance running and healthy, no new restarts",
    new_restarts=Limit(1, None),
)
def test_service_running(service: Service, check: CheckRun, earlier: EarlierLookup) -> None:
    state = service.state
    if not state.instances:
        check.critical(NOTHING[state.runtime].format(name=state.name))
        return
    running = [i for i in state.instances if i.running]
    check.record("instances", len(state.instances))
    check.record("running", len(running))
    # A pod that is pending or not ready while others serve is Kubernetes at work (app.replicas
    # holds the count): a warning. A container that exited or is unhealthy is critical, as are
    # pods that will not come up by themselves (CrashLoopBackOff, ImagePullBackOff).
    degraded = check.warning if state.runtime == "kubernetes" and state.available_replicas else check.critical
    for instance in state.instances:
        if instance.reason in STUCK_REASONS:
            check.critical(f"{instance.name} {instance.reason}, {instance.restarts or 0} restarts")
        elif not instance.running:
            restarts = "" if instance.restarts is None else f", {instance.restarts} restarts"
            why = f" ({instance.reason})" if instance.reason and instance.reason not in instance.state else ""
            degraded(f"{instance.name} is {instance.state}{why}{restarts}")
        elif instance.ready is False:
            degraded(f"{instance.name} is {instance.state}: {instance.reason or 'not ready'}")
    if all(i.running and i.ready is not False for i in state.instances):
        check.ok(_running_line(state))
    _judge_restarts(service, check, earlier)


NOTHING = {
    "process": "no process matching {name!r} is running",
    "systemd": "unit {name} not found",
    "docker-compose": "no container of compose service {name!r}",
    "kubernetes": "no pod of deployment {name!r}",
}


def _running_line(state: ServiceState) -> str:
    """The ok message in the runtime's words."""
    first = state.instances[0]
    if state.runtime == "systemd":
        return f"{state.name} {first.state}, {first.restarts or 0} restarts"
    if state.runtime == "process":
        return f"{len(state.instances)} process(es) matching {state.name!r}, pid {first.pid}"
    ready = sum(1 for i in state.instances if i.ready is not False)
    return f"{ready}/{len(state.instances)} {state.runtime} instance(s) of {state.name} running and ready"


def _judge_restarts(service: Service, check: CheckRun, earlier: EarlierLookup) -> None:
    """Restarts the runtime counted since the previous run saw the service (since the instances
    were created on the first run, or when they were recreated since: the count went down);
    Kubernetes: restarts of pods that last restarted within 24 hours."""
    state = service.state
    counted = [i.restarts for i in state.instances if i.restarts is not None]
    if not counted:
        return
    total = sum(counted)
    check.record("restarts", total)
    if state.runtime == "kubernetes":
        day_ago = time.time() - 86400
        recent = sum(i.restarts or 0 for i in state.instances if (i.last_restart_at or 0) >= day_ago)
        check.measure("new_restarts", recent, label="restarts in 24 hours")
        return
    before = earlier(check.spec.id, check.target, "restarts")
    previous = before.values["restarts"] if before is not None else 0
    since = total - previous if total >= previous else total
    check.measure("new_restarts", since, label="restarts since the previous run" if before else "restarts")


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
