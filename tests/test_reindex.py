"""reindex_concurrently, offered by postgres.unused_indexes for an INVALID index (a real one: a
CREATE UNIQUE INDEX CONCURRENTLY that failed on duplicates, the duplicates fixed after): the
plan without --remediate, the rebuild when named, nothing the second time; and a failed
rebuild's `_ccnew` leftover dropped first."""

from __future__ import annotations

import psycopg
import pytest

from actions.postgres import ReindexConcurrently
from sandbox import Sandbox
from tests.conftest import RunChecks
from tests.test_remediation import audit_lines

CHECK = "postgres/test_postgres_indexes.py"
ONLY = ("-k", "unused")


def invalid(dsn: str, index: str) -> bool:
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", (index,)
        ).fetchone()
    return row is not None and bool(row[0])


def test_plan_then_reindex_then_nothing_to_do(run_checks: RunChecks, sandbox: Sandbox) -> None:
    dsn = sandbox.require_state().pg_superuser_dsn
    with sandbox.faults.invalid_index() as index:
        planned = run_checks(CHECK, args=ONLY)
        assert planned.status("postgres.unused_indexes") == "warning"
        assert f"invalid indexes = 1 ({index} on sandbox_fault_dupes) >= warning 1" in (
            planned.message("postgres.unused_indexes")
        )
        assert "PLANNED reindex_concurrently (disruptive)" in planned.output
        assert f"would run REINDEX INDEX CONCURRENTLY {index} on " in planned.output
        assert invalid(dsn, index), "without --remediate nothing changes"

        safe = run_checks(CHECK, args=(*ONLY, "--remediate=safe"))
        assert [line["decision"] for line in audit_lines(safe)] == ["refused"], "disruptive: only when named"

        applied = run_checks(CHECK, args=(*ONLY, "--remediate=reindex_concurrently"))
        [record] = applied.checks("postgres.unused_indexes")
        assert record["status"] == "ok", applied.output
        assert record["before"]["status"] == "warning"
        [line] = audit_lines(applied)
        assert line["decision"] == "applied"
        assert [step.split(" on ")[0] for step in line["steps"]] == [f"REINDEX INDEX CONCURRENTLY {index}"]
        assert not invalid(dsn, index)

        again = run_checks(CHECK, args=(*ONLY, "--remediate=reindex_concurrently"))
        assert again.status("postgres.unused_indexes") == "ok"
        assert audit_lines(again) == [], "a second run finds nothing to do"


def test_leftover_of_a_failed_rebuild_is_dropped_first(sandbox: Sandbox) -> None:
    state = sandbox.require_state()
    with sandbox.faults.invalid_index() as index, psycopg.connect(state.pg_superuser_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO public.sandbox_fault_dupes VALUES (0, '1')")  # a duplicate again
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(f"REINDEX INDEX CONCURRENTLY {index}")
        leftover = f"{index}_ccnew"
        assert invalid(state.pg_superuser_dsn, leftover)
        conn.execute("DELETE FROM public.sandbox_fault_dupes WHERE id = 0")
        action = ReindexConcurrently(dsn=state.pg_superuser_dsn, indexes=[index, leftover])
        action.bind(environment="test", target="sandbox")
        assert action.plan() == [
            f"DROP INDEX CONCURRENTLY {leftover} on sandbox",
            f"REINDEX INDEX CONCURRENTLY {index} on sandbox",
        ]
        outcome = action.apply()
        assert outcome.error is None and outcome.done == action.plan(), outcome
        assert not invalid(state.pg_superuser_dsn, index)
        assert conn.execute("SELECT to_regclass(%s)", (leftover,)).fetchone() == (None,)
        assert action.apply().summary.startswith("nothing to do")
