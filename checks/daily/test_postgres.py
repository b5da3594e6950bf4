"""Morning health check, step 3: database connections."""

from __future__ import annotations

import psycopg
import pytest

from fixtures.measure import CheckRun, check
from probes.postgres import connection_usage
from sergas.status import Limit
from sergas.units import Unit

pytestmark = [pytest.mark.daily, pytest.mark.postgres]


@pytest.mark.gate
@check(
    "postgres.connections",
    "Client connections against max_connections less reserved slots",
    used=Limit(80, 90, Unit.PERCENT),
)
def test_connections(postgres: psycopg.Connection, check: CheckRun) -> None:
    usage = connection_usage(postgres)
    check.attach("pg_stat_activity", repr(usage))
    check.record("total", usage.total)
    check.record("active", usage.active)
    check.record("idle_in_transaction", usage.idle_in_transaction)
    check.record("usable", usage.usable)
    check.measure(
        "used",
        usage.used_pct,
        label="connections in use",
        detail=f"{usage.total}/{usage.usable}, {usage.active} active; max_connections {usage.max_connections}"
        f" less {usage.reserved} reserved",
    )
