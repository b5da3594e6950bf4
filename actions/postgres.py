"""PostgreSQL remediations: VACUUM (ANALYZE) tables, cancel runaway statements, rebuild invalid indexes.

Each works on its own autocommit session (VACUUM and the CONCURRENTLY commands cannot run in a
transaction block), holds a session advisory lock named for the environment and action while it
works, and re-verifies every object under the lock.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from actions.base import Action, ActionError, Outcome, Risk

LOCK_WAIT = "60s"
CANCEL_WAIT_S = 5


@contextmanager
def session(dsn: str, lock_name: str, connect_timeout: int = 5) -> Iterator[psycopg.Connection]:
    """A writable autocommit session holding the advisory lock `lock_name` (waits up to 60 s)."""
    conn = psycopg.connect(
        dsn,
        autocommit=True,
        connect_timeout=connect_timeout,
        application_name="sergas-remediation",
        options=f"-c default_transaction_read_only=off -c lock_timeout={LOCK_WAIT}",
    )
    try:
        try:
            conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (lock_name,))
        except psycopg.errors.LockNotAvailable:
            raise ActionError(f"another run holds {lock_name} (waited {LOCK_WAIT})") from None
        yield conn
    finally:
        conn.close()  # ends the session, and with it the advisory lock


def split_table(name: str) -> tuple[str, str]:
    schema, _, table = name.rpartition(".")
    return schema or "public", table


class VacuumAnalyze(Action):
    id = "vacuum_analyze"
    description = "VACUUM (ANALYZE) the tables a check found with dead tuples or stale statistics"
    risk = Risk.SAFE

    def __init__(self, *, dsn: str, tables: list[str], measured_at: dt.datetime):
        self.dsn = dsn
        self.tables = tables
        self.measured_at = measured_at

    def plan(self) -> list[str]:
        return [f"VACUUM (ANALYZE) {table} on {self.target}" for table in self.tables]

    def apply(self) -> Outcome:
        outcome = Outcome()
        with session(self.dsn, self.lock_name) as conn:
            for table in self.tables:
                row = conn.execute(
                    "SELECT greatest(last_vacuum, last_autovacuum) FROM pg_stat_user_tables"
                    " WHERE relid = to_regclass(%s)",
                    (table,),
                ).fetchone()
                if row is None:
                    outcome.skipped.append(f"{table}: no longer exists")
                    continue
                if row[0] is not None and row[0] > self.measured_at:
                    outcome.skipped.append(f"{table}: vacuumed at {row[0]:%H:%M:%S} since the check measured")
                    continue
                conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(*split_table(table))))
                outcome.done.append(f"VACUUM (ANALYZE) {table} on {self.target}")
        return outcome


@dataclass(frozen=True)
class RunawayStatement:
    pid: int
    user: str
    started: dt.datetime  # query_start: with the pid, names this very statement
    seconds: float
    query: str


class CancelLongQueries(Action):
    id = "cancel_long_queries"
    description = "pg_cancel_backend for statements running over the critical threshold"
    risk = Risk.DISRUPTIVE

    def __init__(self, *, dsn: str, statements: list[RunawayStatement]):
        self.dsn = dsn
        self.statements = statements

    def plan(self) -> list[str]:
        return [
            f"SELECT pg_cancel_backend({s.pid}) on {self.target} -- {s.user}, running {s.seconds:.0f}s: {s.query[:80]}"
            for s in self.statements
        ]

    def apply(self) -> Outcome:
        outcome = Outcome()
        with session(self.dsn, self.lock_name) as conn:
            for s in self.statements:
                # The same statement still (pid reuse and a new query both change query_start), a
                # client backend (never replication or autovacuum), of a role that is no superuser.
                row = conn.execute(
                    "SELECT pg_cancel_backend(a.pid) FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid"
                    " WHERE a.pid = %s AND a.query_start = %s AND a.state NOT LIKE 'idle%%'"
                    " AND a.backend_type = 'client backend' AND NOT r.rolsuper",
                    (s.pid, s.started),
                ).fetchone()
                if row is None:
                    outcome.skipped.append(f"pid {s.pid}: finished, or not an ordinary client statement")
                elif row[0] and self._ended(conn, s):
                    outcome.done.append(f"SELECT pg_cancel_backend({s.pid}) on {self.target} -- {s.user}")
                elif row[0]:
                    outcome.error = f"pid {s.pid}: cancel sent, still running after {CANCEL_WAIT_S}s"
                else:
                    outcome.skipped.append(f"pid {s.pid}: cancel refused by the server")
        return outcome

    @staticmethod
    def _ended(conn: psycopg.Connection, s: RunawayStatement) -> bool:
        """pg_cancel_backend only signals: wait (bounded) until the statement has really stopped."""
        deadline = time.monotonic() + CANCEL_WAIT_S
        while time.monotonic() < deadline:
            still = conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND query_start = %s AND state NOT LIKE 'idle%%'",
                (s.pid, s.started),
            ).fetchone()
            if still is None:
                return True
            time.sleep(0.05)
        return False


# A failed REINDEX CONCURRENTLY leaves `<index>_ccnew` (the new copy, invalid), or `_ccold` past
# the swap; a number follows when the name was taken.
LEFTOVER = re.compile(r"^(?P<base>.+)_cc(?:new|old)\d*$")
INVALID_SQL = "SELECT NOT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(%s)"


class ReindexConcurrently(Action):
    id = "reindex_concurrently"
    description = "REINDEX INDEX CONCURRENTLY each invalid index, dropping a failed rebuild's leftover first"
    risk = Risk.DISRUPTIVE  # a rebuild writes the whole index and waits out every transaction on its table

    def __init__(self, *, dsn: str, indexes: list[str]):
        self.dsn = dsn
        self.indexes = indexes  # schema.index, each invalid when the check measured

    def _steps(self) -> list[tuple[str, str]]:
        """(verb, index): leftovers dropped first, then every other index rebuilt."""
        leftovers = [("DROP INDEX CONCURRENTLY", i) for i in self.indexes if LEFTOVER.match(i)]
        return leftovers + [("REINDEX INDEX CONCURRENTLY", i) for i in self.indexes if not LEFTOVER.match(i)]

    def plan(self) -> list[str]:
        return [f"{verb} {index} on {self.target}" for verb, index in self._steps()]

    def apply(self) -> Outcome:
        outcome = Outcome()
        with session(self.dsn, self.lock_name) as conn:
            for verb, index in self._steps():
                if not _is_invalid(conn, index):
                    outcome.skipped.append(f"{index}: valid, or gone, since the check measured")
                    continue
                name = sql.Identifier(*split_table(index))
                if verb.startswith("DROP"):
                    # Expendable only as a leftover: its index must exist beside it.
                    base = LEFTOVER.match(index)
                    if base is None or _regclass(conn, base["base"]) is None:
                        outcome.skipped.append(f"{index}: no index {base and base['base']}, not a leftover: kept")
                        continue
                    conn.execute(sql.SQL("DROP INDEX CONCURRENTLY {}").format(name))
                    outcome.done.append(f"DROP INDEX CONCURRENTLY {index} on {self.target}")
                    continue
                leftover = f"{index}_ccnew"
                if _is_invalid(conn, leftover):
                    conn.execute(sql.SQL("DROP INDEX CONCURRENTLY {}").format(sql.Identifier(*split_table(leftover))))
                    outcome.done.append(f"DROP INDEX CONCURRENTLY {leftover} on {self.target}")
                try:
                    conn.execute(sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(name))
                except psycopg.Error as exc:  # e.g. duplicates still there: the rebuild leaves its _ccnew
                    outcome.error = f"REINDEX INDEX CONCURRENTLY {index}: {str(exc).strip().splitlines()[0]}"
                    return outcome
                outcome.done.append(f"REINDEX INDEX CONCURRENTLY {index} on {self.target}")
        return outcome


def _regclass(conn: psycopg.Connection, name: str) -> str | None:
    row = conn.execute("SELECT to_regclass(%s)::text", (name,)).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def _is_invalid(conn: psycopg.Connection, index: str) -> bool:
    row = conn.execute(INVALID_SQL, (index,)).fetchone()
    return row is not None and bool(row[0])
