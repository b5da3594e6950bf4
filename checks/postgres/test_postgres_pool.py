"""Scaling Operations, "Database Connection Pool Tuning": the connections the app may open in
all (every worker process has its own SQLAlchemy pool: pool_size + max_overflow) against
those the server accepts (max_connections less its reserved slots, as postgres.connections
counts them). The app alone able to open more than the server accepts is critical: under load
the last workers get "too many clients" and the checks and operators are locked out too.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from fixtures.config_env import app_pools
from fixtures.environment import section
from fixtures.measure import CheckRun, check
from probes.pool import capacity
from probes.postgres import connection_usage
from sergas.config import AppConfig, Environment
from sergas.status import Limit
from sergas.units import Unit

pytestmark = [pytest.mark.daily, pytest.mark.postgres]


@check(
    "postgres.pool_capacity",
    "The app's connection pools at their fullest fit in the connections the server accepts",
    used=Limit(80, 100, Unit.PERCENT),
)
def test_pool_capacity(
    postgres: psycopg.Connection[Any], check: CheckRun, environment: Environment, request: pytest.FixtureRequest
) -> None:
    app: AppConfig = section(environment, "app", "the Sergas app")
    usage = connection_usage(postgres)
    pools, instances = app_pools(request.config, environment, app)
    app_max, lines = capacity(pools, instances, app.workers)
    available = usage.usable
    check.attach(
        "the app's pools against the server",
        "\n".join(
            [
                *lines,
                f"app maximum: {app_max}",
                f"server: max_connections {usage.max_connections} less {usage.reserved} reserved = {available}",
            ]
        ),
    )
    check.record("app_max", app_max, label="connections the app may open")
    check.record("server_available", available, label="connections the server accepts")
    check.measure(
        "used",
        100.0 * app_max / available,
        label="the app's pools at their fullest",
        detail=f"{app_max} of {available}: max_connections {usage.max_connections} less {usage.reserved} reserved",
    )
