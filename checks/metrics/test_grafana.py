"""Metric review (Daily Operations), the manual's first steps: open Grafana, open the "Sergas
Overview" dashboard. Through Grafana's HTTP API: Grafana answers and its database is ok
(/api/health), the dashboard exists under its exact title ([grafana] dashboard), and every data
source its panels query passes Grafana's own health check; a panel naming a data source that does
not exist is critical too. What the panels show is for the metric checks beside this one, which
query the same series in Prometheus.

A refused token, an answer that is not Grafana's JSON (a login page, broken JSON) or no answer is
unknown: nothing was judged.
"""

from __future__ import annotations

import httpx
import pytest

from fixtures.environment import section
from fixtures.measure import CheckRun, check
from fixtures.targets import targets_of
from probes.grafana import Grafana, GrafanaError, Health, connect, datasources_used, panels
from sergas.config import Environment, GrafanaConfig
from sergas.status import unknown
from sergas.targets import Target, address_label

pytestmark = [pytest.mark.daily, pytest.mark.grafana]


def grafana_target(env: Environment, config: GrafanaConfig) -> Target[httpx.Client]:
    """Grafana, once /api/health answers as Grafana's does."""
    return Target(
        "grafana",
        f"grafana {config.url}",
        address_label(config.url, 3000),
        lambda: connect(config.url, config.token, env.connect_timeout, env.command_timeout),
    )


@pytest.fixture
def grafana(request: pytest.FixtureRequest, environment: Environment, check: CheckRun) -> Grafana:
    """The environment's Grafana ([grafana] url, token), connected once per worker."""
    config: GrafanaConfig = section(environment, "grafana", "Grafana")
    check.target = address_label(config.url, 3000)
    return Grafana(targets_of(request.config).client(grafana_target(environment, config)), check.attach)


@check("grafana.dashboard", "Grafana serves the Sergas Overview dashboard and its data sources are healthy")
def test_dashboard(grafana: Grafana, check: CheckRun, environment: Environment) -> None:
    config: GrafanaConfig = section(environment, "grafana", "Grafana")
    try:
        health = grafana.health()
        if health.database != "ok":
            check.critical(f"Grafana {health.version}: its database is {health.database}: no dashboard can be read")
            return
        review_dashboard(grafana, check, config.dashboard, health)
    except GrafanaError as exc:
        raise unknown(str(exc)) from None


def review_dashboard(grafana: Grafana, check: CheckRun, title: str, health: Health) -> None:
    found, titles = grafana.dashboards_titled(title)
    if not found:
        seen = f"; the search found {', '.join(repr(t) for t in titles[:5])}" if titles else ""
        check.critical(f'dashboard "{title}" not found{seen}')
        return
    dashboard = grafana.dashboard(str(found[0].get("uid")))
    panel_count = sum(1 for _ in panels(dashboard))
    where = f"{found[0].get('url', '?')}, {panel_count} panels"
    used, broken = datasources_used(dashboard, grafana.datasources())
    check.record("panels", panel_count)
    check.record("datasources", len(used))
    healthy, failing, unchecked = [], [], []
    for datasource in used:
        ok, message = grafana.datasource_health(datasource.uid)
        if ok is None:
            unchecked.append(f"{datasource} has no health check ({message})")
        elif ok:
            healthy.append(str(datasource))
        else:
            failing.append(f"{datasource}: {message}")
    check.record("datasources_failing", len(failing))
    for problem in broken:
        check.critical(f'dashboard "{title}": {problem}')
    if failing:
        check.critical(
            f'dashboard "{title}": {len(failing)} of {len(used)} data source(s) failing: {"; ".join(failing)}'
        )
    if not used and not broken:
        check.warning(f'dashboard "{title}" ({where}) has no panel that queries a data source: nothing to review')
    if not check.findings:
        also = f"; {'; '.join(unchecked)}" if unchecked else ""
        check.ok(
            f'dashboard "{title}" ({where}): {len(healthy)} data source(s) healthy: {", ".join(healthy)}{also};'
            f" Grafana {health.version}, database ok"
        )
