"""Database Metrics: database size and growth, the largest tables."""

from __future__ import annotations

import psycopg
import pytest

from fixtures.history import EarlierLookup
from fixtures.measure import CheckRun, check
from probes.postgres import database_size, largest_tables
from sergas.status import Limit
from sergas.units import Unit, format_quantity

pytestmark = [pytest.mark.postgres]

GiB = 1024**3


@pytest.mark.daily
@check(
    "postgres.database_size",
    "Database size against thresholds, with growth since the previous run",
    size=Limit(50 * GiB, 100 * GiB, Unit.BYTES),
)
def test_database_size(postgres: psycopg.Connection, check: CheckRun, earlier: EarlierLookup) -> None:
    name, size = database_size(postgres)
    check.measure("size", size, label=f"database {name} size")
    before = earlier(check.spec.id, check.target, "size")
    if before is None:
        check.attach("size", f"{name}: {size} bytes ({format_quantity(size, Unit.BYTES)}); no earlier run to compare")
        return
    growth = size - before.values["size"]
    check.record("growth", growth, Unit.BYTES)
    check.attach(
        "size and growth",
        f"{name}: {size} bytes ({format_quantity(size, Unit.BYTES)}); {growth:+.0f} bytes "
        f"({format_quantity(abs(growth), Unit.BYTES)} {'more' if growth >= 0 else 'less'}) since run {before.run_id} "
        f"({before.at.isoformat(timespec='seconds')})",
    )


@pytest.mark.weekly
@check(
    "postgres.table_sizes",
    "The ten largest tables (total, table and index size); a threshold on the largest",
    largest=Limit(10 * GiB, 50 * GiB, Unit.BYTES),
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
        context={"table": top.name},
        detail=f"table {format_quantity(top.table_bytes, Unit.BYTES)}, "
        f"indexes {format_quantity(top.index_bytes, Unit.BYTES)}",
    )
    rows = [f"{'table':<48} {'total':>12} {'table':>12} {'indexes':>12}"]
    rows += [
        f"{t.name:<48} {format_quantity(t.total, Unit.BYTES):>12} {format_quantity(t.table_bytes, Unit.BYTES):>12} "
        f"{format_quantity(t.index_bytes, Unit.BYTES):>12}"
        for t in tables
    ]
    check.attach("ten largest tables", "\n".join(rows))
