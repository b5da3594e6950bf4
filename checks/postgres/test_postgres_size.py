"""Database Metrics: database size and growth, the largest tables."""

from __future__ import annotations

import psycopg
import pytest

from fixtures.history import EarlierLookup
from fixtures.measure import CheckRun, check
from fixtures.status import Limit
from fixtures.units import format_quantity
from probes.postgres import database_size, largest_tables

pytestmark = [pytest.mark.postgres]

GiB = 1024**3


@pytest.mark.daily
@check(
    "postgres.database_size",
    "Database size against thresholds, with growth since the previous run",
    size=Limit(50 * GiB, 100 * GiB, "B"),
)
def test_database_size(postgres: psycopg.Connection, check: CheckRun, earlier: EarlierLookup) -> None:
    name, size = database_size(postgres)
    label = f"database {name} size"
    check.measure("size", size, label=label)
    before = earlier(check.spec.id, check.target, label)
    if before is None:
        check.attach("size", f"{name}: {size} bytes ({format_quantity(size, 'B')}); no earlier run to compare")
        return
    growth = size - before.values[label]
    check.record("growth", growth, "B")
    check.attach(
        "size and growth",
        f"{name}: {size} bytes ({format_quantity(size, 'B')}); {growth:+.0f} bytes "
        f"({format_quantity(abs(growth), 'B')} {'more' if growth >= 0 else 'less'}) since run {before.run_id} "
        f"({before.at.isoformat(timespec='seconds')})",
    )


@pytest.mark.weekly
@check(
    "postgres.table_sizes",
    "The ten largest tables (total, table and index size); a threshold on the largest",
    largest=Limit(10 * GiB, 50 * GiB, "B"),
)
def test_table_sizes(postgres: psycopg.Connection, check: CheckRun) -> None:
    tables = largest_tables(postgres, 10)
    if not tables:
        check.unknown("no user table found in this database")
        return
    top = tables[0]
    check.measure(
        "largest",
        top.total,
        label=f"largest table {top.name}",
        detail=f"table {format_quantity(top.table_bytes, 'B')}, indexes {format_quantity(top.index_bytes, 'B')}",
    )
    rows = [f"{'table':<48} {'total':>12} {'table':>12} {'indexes':>12}"]
    rows += [
        f"{t.name:<48} {format_quantity(t.total, 'B'):>12} {format_quantity(t.table_bytes, 'B'):>12} "
        f"{format_quantity(t.index_bytes, 'B'):>12}"
        for t in tables
    ]
    check.attach("ten largest tables", "\n".join(rows))
