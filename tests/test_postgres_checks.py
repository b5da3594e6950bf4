"""The PostgreSQL checks (checks/postgres/): ok on the healthy sandbox, and the right status
with a message naming the object and the value under real faults made in the sandbox: a
background pg_sleep, a session idle in a transaction, a table with autovacuum off and many
updates, an index nothing scans, a large table read by sequential scans, a slow statement in
pg_stat_statements, the extension dropped, alembic_version behind the head.

Durations no test can wait for (5 minutes of pg_sleep, days since a vacuum) and sizes no test
should write (a gigabyte of bloat, 1.3e9 transactions) are reached by lowering the threshold
in the test's environment file; each test says which."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from tests.conftest import DEMO_ENV, RunChecks, environment_text, running_sandbox

# Its own sandbox: pg_stat_statements and table statistics keep what other modules' faults did.
sandbox = pytest.fixture(scope="module")(running_sandbox)

POSTGRES_IDS = {
    "postgres.pool_capacity",
    "postgres.long_running_queries",
    "postgres.idle_in_transaction",
    "postgres.database_size",
    "postgres.table_sizes",
    "postgres.vacuum_recency",
    "postgres.dead_tuples",
    "postgres.bloat",
    "postgres.unused_indexes",
    "postgres.missing_indexes",
    "postgres.slow_statements",
    "postgres.txid_wraparound",
    "postgres.migrations_current",
    "postgres.wal_archiving",
}


def postgres_settings(extra: str) -> str:
    """The demo environment with keys added to its [postgres] section."""
    return DEMO_ENV.replace("[postgres]\n", f"[postgres]\n{extra}\n", 1)


def test_healthy_sandbox_is_all_ok_and_growth_comes_from_the_previous_run(
    run_checks: RunChecks, tmp_path_factory: pytest.TempPathFactory
) -> None:
    archive = tmp_path_factory.mktemp("archive")  # both runs archive here: the second sees the first
    run = run_checks("postgres", args=(f"--report-dir={archive}",))
    assert run.result.ret == pytest.ExitCode.OK, run.output
    first = _summaries(archive)[-1]
    statuses = {c["id"]: c["status"] for c in first["checks"]}
    assert set(statuses) == POSTGRES_IDS, statuses
    assert set(statuses.values()) == {"ok"}, statuses
    messages = {c["id"]: c["message"] for c in first["checks"]}
    assert "unused indexes not judged yet" in messages["postgres.unused_indexes"]
    assert "(estimate)" in messages["postgres.bloat"]

    run_checks("postgres/test_postgres_size.py", args=(f"--report-dir={archive}", "-k", "database_size"))
    before, after = (_measurements(s, "postgres.database_size") for s in _summaries(archive))
    assert "growth" not in before
    assert after["size"]["label"] == "database sergas size"
    assert after["growth"]["unit"] == "bytes"
    assert after["growth"]["value"] == after["size"]["value"] - before["size"]["value"]


def _summaries(archive: Path) -> list[dict[str, Any]]:
    runs = sorted(p for p in (archive / "demo").iterdir() if p.is_dir() and not p.is_symlink())
    return [json.loads((p / "summary.json").read_text()) for p in runs]


def _measurements(summary: dict[str, Any], check_id: str) -> dict[str, dict[str, Any]]:
    record = next(c for c in summary["checks"] if c["id"] == check_id)
    return {m["name"]: m for m in record["measurements"]}


def test_long_query_and_idle_transaction(run_checks: RunChecks, sandbox: Sandbox) -> None:
    """Thresholds lowered from 5m/15m to 0.5s/1s: a test cannot hold a session for minutes."""
    env = environment_text(
        '[thresholds."postgres.long_running_queries"]\nwarning = "0.5s"\ncritical = "1s"\n'
        '[thresholds."postgres.idle_in_transaction"]\nwarning = "0.5s"\ncritical = "1s"\n'
    )
    with sandbox.faults.long_running_query(600) as busy, sandbox.faults.idle_in_transaction() as idle:
        time.sleep(1.1)
        run = run_checks("postgres/test_postgres_activity.py", env=env)
    assert run.status("postgres.long_running_queries") == "critical"
    assert re.search(
        rf"longest statement \(pid {busy}, sergas\) = [\d.]+s \(SELECT pg_sleep\(\$1\)\) >= critical 1s",
        run.message("postgres.long_running_queries"),
    ), run.message("postgres.long_running_queries")
    assert run.status("postgres.idle_in_transaction") == "critical"
    assert re.search(
        rf"longest idle in transaction \(pid {idle}, sergas, idle in transaction\) = [\d.]+s .* >= critical 1s",
        run.message("postgres.idle_in_transaction"),
    ), run.message("postgres.idle_in_transaction")


def test_table_with_autovacuum_off_and_many_updates(run_checks: RunChecks, sandbox: Sandbox) -> None:
    """Real dead rows (30,000 of 40,000 versions, past autovacuum's 50 + 0.2 x reltuples) and
    real bloat; the bloat thresholds come down from 1/5 GiB to 1/2 MiB and the vacuum ones from
    7/30 days to 1/2 seconds (a test cannot wait days, nor write gigabytes)."""
    env = environment_text(
        '[thresholds."postgres.bloat"]\nwarning = "1MB"\ncritical = "2MB"\n'
        '[thresholds."postgres.vacuum_recency"]\nwarning = "1s"\ncritical = "2s"\n'
    )
    with sandbox.faults.dead_tuples_table(rows=10000, updates=3) as table:
        run = run_checks("postgres/test_postgres_maintenance.py", env=env)
    assert run.status("postgres.dead_tuples") == "critical"
    assert re.search(
        # n_live_tup is ANALYZE's estimate from sampled pages: dead rows skew it, so not exact here.
        rf"{table} dead rows = \d+(\.\d+)?% \(30000 dead, \d+ live, autovacuum trigger \d+, autovacuum off\)"
        r" >= critical 50%",
        run.message("postgres.dead_tuples"),
    ), run.message("postgres.dead_tuples")
    assert run.status("postgres.vacuum_recency") == "critical"
    assert re.search(
        rf"{table} last vacuum \(never; counted from the start of statistics\) = \S+ \(30000 dead, \d+ inserted since;"
        r" autovacuum off\) >= critical 2s",
        run.message("postgres.vacuum_recency"),
    ), run.message("postgres.vacuum_recency")
    assert run.status("postgres.bloat") == "critical"
    assert re.search(
        rf"table {table} ~[\d.]+ MiB wasted, [5-9]\d% of [\d.]+ MiB \(estimate\) >= critical 2\.0 MiB and 50%",
        run.message("postgres.bloat"),
    ), run.message("postgres.bloat")
    assert run.status("postgres.txid_wraparound") == "ok"


def test_unused_index_and_sequentially_scanned_table(run_checks: RunChecks, sandbox: Sandbox) -> None:
    """The statistics age is the test's: `unused_index_min_stats_age = "0s"` judges counters
    that began with the sandbox. Without alembic_head the migration check is skipped."""
    env = postgres_settings('unused_index_min_stats_age = "0s"').replace('alembic_head = "4f2e9c1a7b3d"\n', "")
    with sandbox.faults.unused_index() as index, sandbox.faults.seq_scanned_table(megabytes=12, scans=12) as table:
        run = run_checks("postgres/test_postgres_indexes.py", "postgres/test_postgres_migrations.py", env=env)
    assert run.status("postgres.unused_indexes") == "warning"
    assert re.search(
        rf"unused indexes = \d+ \(largest {index} on sandbox_fault_lookup, [\d.]+ MiB; .* in all; idx_scan = 0 for"
        r" \S+\) >= warning 1",
        run.message("postgres.unused_indexes"),
    ), run.message("postgres.unused_indexes")
    assert run.status("postgres.missing_indexes") == "warning"
    assert re.search(
        rf"{table} sequential scans = 100% \(12 seq, 0 index; 1\d\.\d MiB, \d+ rows read per seq scan\) >= warning 50%",
        run.message("postgres.missing_indexes"),
    ), run.message("postgres.missing_indexes")
    assert run.status("postgres.migrations_current") == "skipped"
    assert "set [postgres] alembic_head" in run.message("postgres.migrations_current")


def test_slow_statement_and_migration_behind(run_checks: RunChecks, sandbox: Sandbox) -> None:
    """The wraparound thresholds come down from 1.3e9/1.4e9 to 1/2: no test burns a billion
    transactions."""
    env = environment_text('[thresholds."postgres.txid_wraparound"]\nwarning = 1\ncritical = 2\n')
    with sandbox.faults.slow_statement(1.2), sandbox.faults.alembic_behind("1c8d2e5b9a07"):
        run = run_checks(
            "postgres/test_postgres_statements.py",
            "postgres/test_postgres_migrations.py",
            "postgres/test_postgres_maintenance.py",
            env=env,
            args=("-k", "statements or migrations or txid"),
        )
    assert run.status("postgres.slow_statements") == "warning"
    assert re.search(
        r"slowest mean execution \(queryid -?\d+, 1 calls\) = 1\.2s \(SELECT pg_sleep\(\$1\) AS sandbox_fault_slow\)"
        r" >= warning 1s",
        run.message("postgres.slow_statements"),
    ), run.message("postgres.slow_statements")
    assert run.status("postgres.migrations_current") == "critical"
    assert run.message("postgres.migrations_current").endswith(
        ": alembic_version is 1c8d2e5b9a07, expected 4f2e9c1a7b3d (run alembic upgrade head)"
    )
    assert run.status("postgres.txid_wraparound") == "critical"
    assert re.search(
        r"database \w+ age\(datfrozenxid\) = \d+ \(0\.0% of the 2\^31 limit\) >= critical 2",
        run.message("postgres.txid_wraparound"),
    ), run.message("postgres.txid_wraparound")


def test_pg_stat_statements_missing(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.statements_extension_dropped():
        run = run_checks("postgres/test_postgres_statements.py")
    assert run.status("postgres.slow_statements") == "warning"
    assert run.message("postgres.slow_statements").endswith(
        ": pg_stat_statements is not installed in this database: add pg_stat_statements to"
        " shared_preload_libraries, restart PostgreSQL, then CREATE EXTENSION pg_stat_statements in this database"
    )
