"""Database Maintenance: vacuum and analyze recency, dead tuples, bloat, wraparound."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from actions.postgres import VacuumAnalyze
from fixtures.measure import CheckRun, check
from fixtures.remediation import Remediation
from probes.postgres import (
    BLOAT_MIN_PAGES,
    Bloat,
    TableActivity,
    bloat_estimates,
    frozen_ages,
    server_now,
    table_activity,
)
from sergas.config import Environment
from sergas.record import LabelValue
from sergas.status import Limit, Status
from sergas.units import Unit, format_quantity

pytestmark = [pytest.mark.postgres]

DAY = 86400
GiB = 1024**3


def _age(t: TableActivity, vacuum: bool) -> str:
    never = t.never_vacuumed if vacuum else t.never_analyzed
    seconds = t.vacuum_age if vacuum else t.analyze_age
    shown = format_quantity(seconds, Unit.SECONDS)
    return f"never (statistics began {shown} ago)" if never else f"{shown} ago"


@pytest.mark.weekly
@check(
    "postgres.vacuum_recency",
    "Tables with writes not vacuumed (or analyzed) for longer than the threshold",
    vacuum=Limit(7 * DAY, 30 * DAY, Unit.SECONDS),
    analyze=Limit(7 * DAY, 30 * DAY, Unit.SECONDS),
    offers=(VacuumAnalyze,),
)
def test_vacuum_recency(
    postgres: psycopg.Connection, check: CheckRun, remediation: Remediation, environment: Environment
) -> None:
    measured_at = server_now(postgres)
    tables = table_activity(postgres)
    # A never-vacuumed table counts from when statistics began: a lower bound, ranked first.
    to_vacuum = sorted((t for t in tables if t.needs_vacuum), key=lambda t: (not t.never_vacuumed, -t.vacuum_age))
    to_analyze = sorted((t for t in tables if t.needs_analyze), key=lambda t: (not t.never_analyzed, -t.analyze_age))
    check.record("tables_with_writes", len(tables))
    if not to_vacuum and not to_analyze:
        check.ok("no table has writes since its last vacuum and analyze")
        return
    found: set[str] = set()
    for kind, candidates in (("vacuum", to_vacuum), ("analyze", to_analyze)):
        if not candidates:
            continue
        worst = candidates[0]
        age = worst.vacuum_age if kind == "vacuum" else worst.analyze_age
        never = worst.never_vacuumed if kind == "vacuum" else worst.never_analyzed
        check.measure(
            kind,
            age,
            label=f"{worst.name} last {kind}" + (" (never; counted from the start of statistics)" if never else ""),
            context={"table": worst.name},
            detail=(
                f"{worst.dead} dead, {worst.inserted_since_vacuum} inserted since"
                if kind == "vacuum"
                else f"{worst.modified_since_analyze} modified since"
            )
            + ("" if worst.autovacuum else "; autovacuum off"),
        )
        limit = check.limit(kind)
        ages = {t.name: t.vacuum_age if kind == "vacuum" else t.analyze_age for t in candidates}
        found |= {name for name, seconds in ages.items() if limit.breached(seconds)}
    rows = [
        f"{t.name:<48} vacuum {_age(t, True):<40} analyze {_age(t, False):<40} dead {t.dead:<10} "
        f"modified {t.modified_since_analyze:<10} autovacuum {'on' if t.autovacuum else 'OFF'}"
        for t in sorted(tables, key=lambda t: t.name)
    ]
    check.attach("tables with writes since their last vacuum or analyze", "\n".join(rows))
    if found:
        check.attach("tables", "\n".join(sorted(found)))
        offer_vacuum(remediation, environment, check, sorted(found), measured_at)


def offer_vacuum(
    remediation: Remediation, environment: Environment, check: CheckRun, tables: list[str], measured_at: dt.datetime
) -> None:
    """VACUUM (ANALYZE) exactly the tables found, skipping any vacuumed after `measured_at`."""
    if environment.postgres is not None:
        remediation.offer(VacuumAnalyze(dsn=environment.postgres.dsn, tables=tables, measured_at=measured_at))


@pytest.mark.weekly
@check(
    "postgres.dead_tuples",
    "Tables past autovacuum's own trigger (threshold + scale factor x reltuples), by dead share",
    share=Limit(20, 50, Unit.PERCENT),
    offers=(VacuumAnalyze,),
)
def test_dead_tuples(
    postgres: psycopg.Connection, check: CheckRun, remediation: Remediation, environment: Environment
) -> None:
    measured_at = server_now(postgres)
    tables = table_activity(postgres)
    # Below autovacuum's trigger dead rows are expected: autovacuum has not been due yet.
    past = sorted((t for t in tables if t.dead > t.autovacuum_trigger), key=lambda t: -t.dead_share)
    check.record("tables_past_trigger", len(past), label="tables past the autovacuum trigger")
    if not past:
        most = max(tables, key=lambda t: t.dead, default=None)
        check.ok(
            "no table has more dead rows than autovacuum's trigger"
            + (f" (most: {most.name}, {most.dead} dead of trigger {most.autovacuum_trigger:.0f})" if most else "")
        )
        return
    worst = past[0]
    status = check.measure(
        "share",
        worst.dead_share,
        label=f"{worst.name} dead rows",
        context={"table": worst.name},
        detail=f"{worst.dead} dead, {worst.live} live, autovacuum trigger {worst.autovacuum_trigger:.0f}"
        + ("" if worst.autovacuum else ", autovacuum off"),
    )
    check.attach(
        "tables past the autovacuum trigger",
        "\n".join(
            f"{t.name:<48} dead {t.dead:<10} live {t.live:<10} share {t.dead_share:5.1f}% "
            f"trigger {t.autovacuum_trigger:<10.0f} autovacuum {'on' if t.autovacuum else 'OFF'}"
            for t in past
        ),
    )
    if status != Status.OK:
        limit = check.limit("share")
        found = [t.name for t in past if limit.breached(t.dead_share)]
        check.attach("tables", "\n".join(found))
        offer_vacuum(remediation, environment, check, found, measured_at)


def _bloat_status(b: Bloat, wasted: Limit, share: Limit) -> tuple[Status, float | None, float | None]:
    """check_postgres's '1 GB and 50%' form: an object is as bad as the weaker of its two findings."""
    by_bytes, at_bytes = wasted.judge(b.wasted)
    by_share, at_share = share.judge(b.share)
    if by_bytes.rank <= by_share.rank:
        return by_bytes, at_bytes, share.critical if by_bytes == Status.CRITICAL else share.warning
    return by_share, wasted.critical if by_share == Status.CRITICAL else wasted.warning, at_share


@pytest.mark.weekly
@check(
    "postgres.bloat",
    "Estimated table and index bloat (check_postgres/ioguix estimate): wasted bytes and share",
    wasted=Limit(1 * GiB, 5 * GiB, Unit.BYTES),
    share=Limit(20, 50, Unit.PERCENT),
)
def test_bloat(postgres: psycopg.Connection, check: CheckRun) -> None:
    candidates = bloat_estimates(postgres)
    if not candidates:
        check.ok(f"no table or index of {BLOAT_MIN_PAGES} pages or more: none large enough to hold bloat")
        return
    estimates = [b for b in candidates if not b.is_na]
    if not estimates:
        check.unknown("no table or index has statistics to estimate bloat from (run ANALYZE)")
        return
    wasted, share = check.limit("wasted"), check.limit("share")
    judged = [(b, *_bloat_status(b, wasted, share)) for b in estimates]
    judged.sort(key=lambda j: (-j[1].rank, -j[0].wasted))
    worst, status, at_bytes, at_share = judged[0]
    about: dict[str, LabelValue] = {"relation": worst.name, "kind": worst.kind}
    check.judged("wasted", worst.wasted, status, label=f"{worst.name} wasted (estimate)", context=about)
    check.judged("share", worst.share, status, label=f"{worst.name} wasted share (estimate)", context=about)
    text = (
        f"{worst.kind} {worst.name} ~{format_quantity(worst.wasted, Unit.BYTES)} wasted, {worst.share:.0f}% of "
        f"{format_quantity(worst.size, Unit.BYTES)} (estimate)"
    )
    if status == Status.OK:
        check.ok(f"largest estimated bloat: {text}")
    else:
        text += f" >= {status.value} {format_quantity(at_bytes or 0, Unit.BYTES)} and {at_share or 0:.4g}%"
        (check.critical if status == Status.CRITICAL else check.warning)(text)
    check.attach(
        "estimated bloat, most wasted first (estimate from pg_class and pg_stats; needs a fresh ANALYZE)",
        "\n".join(
            f"{b.kind:<6} {b.name:<56} size {format_quantity(b.size, Unit.BYTES):>10} "
            f"wasted ~{format_quantity(b.wasted, Unit.BYTES):>10} ({b.share:4.1f}%)"
            for b in estimates[:30]
        ),
    )


@pytest.mark.daily
@check(
    "postgres.txid_wraparound",
    "Age of the oldest unfrozen transaction and multixact IDs per database (wraparound at 2^31)",
    xid_age=Limit(1.3e9, 1.4e9),
    mxid_age=Limit(1.3e9, 1.4e9),
)
def test_txid_wraparound(postgres: psycopg.Connection, check: CheckRun) -> None:
    ages = frozen_ages(postgres)
    if not ages:
        check.unknown("pg_database lists no connectable database")
        return
    oldest = ages[0]
    oldest_mxid = max(ages, key=lambda a: a.mxid_age)
    check.measure(
        "xid_age",
        oldest.xid_age,
        label=f"database {oldest.database} age(datfrozenxid)",
        context={"database": oldest.database},
        detail=f"{100 * oldest.xid_age / 2**31:.1f}% of the 2^31 limit",
    )
    check.measure(
        "mxid_age",
        oldest_mxid.mxid_age,
        label=f"database {oldest_mxid.database} mxid_age(datminmxid)",
        context={"database": oldest_mxid.database},
    )
    check.attach(
        "age(datfrozenxid), mxid_age(datminmxid)",
        "\n".join(f"{a.database:<32} {a.xid_age:>12} {a.mxid_age:>12}" for a in ages),
    )
