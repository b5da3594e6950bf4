"""Database Metrics: statements running too long and sessions idle in a transaction."""

from __future__ import annotations

import psycopg
import pytest

from actions.postgres import CancelLongQueries, RunawayStatement
from fixtures.measure import CheckRun, check
from fixtures.remediation import Remediation
from probes.postgres import Session, hidden_sessions, idle_in_transaction, running_statements
from sergas.config import Environment
from sergas.status import Limit, Status
from sergas.units import Unit

pytestmark = [pytest.mark.postgres]


def _evidence(sessions: list[Session]) -> str:
    return "\n".join(f"{s.seconds:>10.1f}s  pid {s.pid:<7} {s.user:<16} {s.state:<30} {s.query}" for s in sessions)


def _say_hidden(check: CheckRun, postgres: psycopg.Connection) -> None:
    hidden = hidden_sessions(postgres)
    if hidden:
        check.unknown(
            f"{hidden} sessions of other roles are hidden from this role: GRANT pg_monitor (or pg_read_all_stats)"
        )


@pytest.mark.daily
@check(
    "postgres.long_running_queries",
    "Statements running longer than the threshold (pg_stat_activity, from query_start)",
    duration=Limit(300, 900, Unit.SECONDS),
    offers=(CancelLongQueries,),
)
def test_long_running_queries(
    postgres: psycopg.Connection, check: CheckRun, remediation: Remediation, environment: Environment
) -> None:
    running = running_statements(postgres)
    _say_hidden(check, postgres)
    check.record("running", len(running))
    if not running:
        check.ok("no statement running")
        return
    longest = running[0]
    status = check.measure(
        "duration",
        longest.seconds,
        label=f"longest statement (pid {longest.pid}, {longest.user})",
        context={"pid": longest.pid, "role": longest.user},
        detail=longest.query[:60],
    )
    limit = check.limit("duration")
    over = [s for s in running if limit.breached(s.seconds)]
    check.attach("running statements (seconds, pid, user, state, query)", _evidence(running))
    if status != Status.OK:
        check.attach("pids", "\n".join(str(s.pid) for s in over))
        check.record("over_threshold", len(over))
    runaway = [s for s in running if limit.judge(s.seconds)[0] == Status.CRITICAL]
    if runaway and environment.postgres is not None:
        # Exactly these statements (pid and start), never one found later: cancel is disruptive.
        statements = [RunawayStatement(s.pid, s.user, s.started, s.seconds, s.query) for s in runaway]
        remediation.offer(CancelLongQueries(dsn=environment.postgres.dsn, statements=statements))


@pytest.mark.daily
@check(
    "postgres.idle_in_transaction",
    "Sessions idle in a transaction longer than the threshold (from state_change)",
    duration=Limit(300, 900, Unit.SECONDS),
)
def test_idle_in_transaction(postgres: psycopg.Connection, check: CheckRun) -> None:
    idle = idle_in_transaction(postgres)
    _say_hidden(check, postgres)
    check.record("idle_in_transaction", len(idle))
    if not idle:
        check.ok("no session idle in a transaction")
        return
    oldest = idle[0]
    status = check.measure(
        "duration",
        oldest.seconds,
        label=f"longest idle in transaction (pid {oldest.pid}, {oldest.user}, {oldest.state})",
        context={"pid": oldest.pid, "role": oldest.user},
        detail=oldest.query[:60],
    )
    check.attach("idle in transaction (seconds, pid, user, state, last query)", _evidence(idle))
    if status != Status.OK:
        limit = check.limit("duration")
        check.attach("pids", "\n".join(str(s.pid) for s in idle if limit.breached(s.seconds)))
