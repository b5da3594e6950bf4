"""Database Query Optimization: the slowest statements pg_stat_statements recorded."""

from __future__ import annotations

import psycopg
import pytest

from fixtures.measure import CheckRun, check
from probes.postgres import Statement, StatementsUnavailable, statements
from sergas.status import Limit
from sergas.units import Unit

pytestmark = [pytest.mark.postgres, pytest.mark.weekly]


def _rows(found: list[Statement]) -> str:
    return "\n".join(
        f"{s.mean_ms:>12.1f} ms mean {s.total_ms:>14.1f} ms total ({s.share:4.1f}%) {s.calls:>9} calls "
        f"{s.user:<16} queryid {s.queryid}: {s.query}"
        for s in found
    )


@check(
    "postgres.slow_statements",
    "Statements by mean and total execution time (pg_stat_statements)",
    mean=Limit(1.0, 5.0, Unit.SECONDS),
)
def test_slow_statements(postgres: psycopg.Connection, check: CheckRun) -> None:
    try:
        found = statements(postgres)
    except StatementsUnavailable as exc:
        check.warning(str(exc))
        return
    if not found:
        check.unknown("pg_stat_statements has recorded no statement in this database yet")
        return
    by_mean = sorted(found, key=lambda s: -s.mean_ms)
    by_total = sorted(found, key=lambda s: -s.total_ms)
    slowest = by_mean[0]
    check.record("statements", len(found))
    check.record("top_share", by_total[0].share, Unit.PERCENT, label="top statement share of total time")
    check.measure(
        "mean",
        slowest.mean_ms / 1000,
        label=f"slowest mean execution (queryid {slowest.queryid}, {slowest.calls} calls)",
        context={"queryid": slowest.queryid},
        detail=slowest.query[:80],
    )
    check.attach("top 10 by mean execution time", _rows(by_mean[:10]))
    check.attach("top 10 by total execution time", _rows(by_total[:10]))
