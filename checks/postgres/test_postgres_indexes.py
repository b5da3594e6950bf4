"""Database Query Optimization: unused indexes, invalid indexes, tables missing an index."""

from __future__ import annotations

import psycopg
import pytest

from actions.postgres import ReindexConcurrently
from fixtures.measure import CheckRun, check
from fixtures.remediation import Remediation
from probes.postgres import sequentially_scanned_tables, statistics_age, unused_and_invalid_indexes
from sergas.config import Environment
from sergas.status import Limit
from sergas.units import Unit, format_quantity

pytestmark = [pytest.mark.postgres, pytest.mark.weekly]

# Fewer sequential scans than this say nothing about how a table is read.
MIN_SEQ_SCANS = 10


@check(
    "postgres.unused_indexes",
    "Indexes never scanned since statistics began (not primary, unique or constraint-backing); invalid indexes",
    unused=Limit(1, None),
    invalid=Limit(1, None),
    offers=(ReindexConcurrently,),
)
def test_unused_indexes(
    postgres: psycopg.Connection, check: CheckRun, remediation: Remediation, environment: Environment
) -> None:
    assert environment.postgres is not None  # the postgres fixture skipped otherwise
    min_age = environment.postgres.unused_index_min_stats_age
    age, since_start = statistics_age(postgres)
    unused, invalid = unused_and_invalid_indexes(postgres)
    began = "the server start" if since_start else "stats_reset"
    check.record("statistics_age", age, Unit.SECONDS)
    check.measure(
        "invalid",
        len(invalid),
        label="invalid indexes",
        detail=", ".join(f"{i.name} on {i.table}" for i in invalid[:5]) or "none",
    )
    if invalid:
        check.attach(
            "invalid indexes (drop, or REINDEX CONCURRENTLY)",
            "\n".join(
                f"{i.name:<56} on {i.schema}.{i.table:<40} {format_quantity(i.size, Unit.BYTES)}" for i in invalid
            ),
        )
        remediation.offer(ReindexConcurrently(dsn=environment.postgres.dsn, indexes=[i.name for i in invalid]))
    if age < min_age:
        check.ok(
            f"statistics began {format_quantity(age, Unit.SECONDS)} ago ({began}), less than "
            f"{format_quantity(min_age, Unit.SECONDS)}: unused indexes not judged yet"
        )
        return
    wasted = sum(i.size for i in unused)
    check.record("unused_size", wasted, Unit.BYTES)
    check.measure(
        "unused",
        len(unused),
        label="unused indexes",
        detail=(
            f"largest {unused[0].name} on {unused[0].table}, {format_quantity(unused[0].size, Unit.BYTES)}; "
            f"{format_quantity(wasted, Unit.BYTES)} in all; idx_scan = 0 for {format_quantity(age, Unit.SECONDS)}"
            if unused
            else f"idx_scan counted for {format_quantity(age, Unit.SECONDS)}"
        ),
    )
    if unused:
        check.attach(
            f"indexes never scanned in {format_quantity(age, Unit.SECONDS)} (since {began}; counters are per node: "
            "a replica's use is not seen here)",
            "\n".join(
                f"{i.name:<56} on {i.schema}.{i.table:<40} {format_quantity(i.size, Unit.BYTES)}" for i in unused
            ),
        )


@check(
    "postgres.missing_indexes",
    "Large tables read mostly by sequential scans (share of scans that are sequential)",
    seq_share=Limit(50, None, Unit.PERCENT),
)
def test_missing_indexes(postgres: psycopg.Connection, check: CheckRun, environment: Environment) -> None:
    assert environment.postgres is not None  # the postgres fixture skipped otherwise
    min_size = int(environment.postgres.large_table_size)
    tables = sequentially_scanned_tables(postgres, min_size, MIN_SEQ_SCANS)
    check.record("large_tables_seq_scanned", len(tables), label="large tables scanned sequentially")
    if not tables:
        check.ok(f"no table of {format_quantity(min_size, Unit.BYTES)} or more had {MIN_SEQ_SCANS} sequential scans")
        return
    worst = tables[0]
    check.measure(
        "seq_share",
        worst.seq_share,
        label=f"{worst.name} sequential scans",
        context={"table": worst.name},
        detail=f"{worst.seq_scans} seq, {worst.index_scans} index; {format_quantity(worst.size, Unit.BYTES)}, "
        f"{worst.rows_per_seq_scan:.0f} rows read per seq scan",
    )
    check.attach(
        "large tables by share of sequential scans",
        "\n".join(
            f"{t.name:<48} {format_quantity(t.size, Unit.BYTES):>10} seq {t.seq_scans:<8} index {t.index_scans:<8} "
            f"({t.seq_share:.0f}% seq) rows/seq scan {t.rows_per_seq_scan:.0f}"
            for t in tables
        ),
    )
