"""Benchmark: each PostgreSQL catalog check's query on a database with 10,000 tables.

A PostgreSQL cluster like the sandbox's (sandbox.postgres.PostgresCluster: the `sergas` role with
pg_read_all_stats) gets a scratch database `bench_catalog` owned by that role, with BENCH_TABLES
tables (default 10,000), each with a primary key, a secondary index and 20 rows, a third of them
updated (dead rows, writes since vacuum), then one ANALYZE (so pg_stats has rows for the bloat
estimate). Each check's probe then runs as the app role in a read-only session, as the checks run
it; the median of BENCH_REPEAT runs is reported (goal: under 2 s each). The first run of each
probe is cold for the catalog caches of that session; BENCH_COLD=1 restarts the cluster first
(nothing cached in shared buffers either).

BENCH_ROOT=/var/tmp/sergas-bench-catalog keeps the cluster there and reuses the database on the
next run when it has the expected number of tables (building takes minutes); without it the
cluster lives in a temporary directory removed at the end.

    .venv/bin/python bench/postgres_catalog.py      # prints a Markdown table for BENCHMARKS.md
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from probes import postgres as probes  # noqa: E402
from sandbox.postgres import PostgresCluster  # noqa: E402

TABLES = int(os.environ.get("BENCH_TABLES", "10000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
KEEP = os.environ.get("BENCH_ROOT", "")
COLD = os.environ.get("BENCH_COLD", "") == "1"
BATCH = 100  # tables per transaction: each takes locks, and the lock table is sized for 20 connections
WORKERS = 2
DATABASE = "bench_catalog"
GOAL_S = 2.0

CREATE_BATCH = """
DO $$
BEGIN
  FOR i IN {first}..{last} LOOP
    EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, account_id int, note text)', i);
    EXECUTE format('CREATE INDEX t%s_account ON t%s (account_id)', i, i);
    EXECUTE format('INSERT INTO t%s SELECT g, g %% 7, md5(g::text) FROM generate_series(1, 20) g', i);
    IF i % 3 = 0 THEN
      EXECUTE format('UPDATE t%s SET note = note || ''x'' WHERE id <= 5', i);
    END IF;
  END LOOP;
END $$
"""

CHECKS: dict[str, Callable[[psycopg.Connection[Any]], object]] = {
    "postgres.long_running_queries": probes.running_statements,
    "postgres.idle_in_transaction": probes.idle_in_transaction,
    "postgres.database_size": probes.database_size,
    "postgres.table_sizes": probes.largest_tables,
    "postgres.vacuum_recency / dead_tuples": probes.table_activity,
    "postgres.bloat": probes.bloat_estimates,
    "postgres.bloat, no size floor (worst case)": lambda c: probes.bloat_estimates(c, min_pages=1),
    "postgres.unused_indexes": lambda c: (probes.statistics_age(c), probes.unused_and_invalid_indexes(c)),
    "postgres.missing_indexes": lambda c: probes.sequentially_scanned_tables(c, 10 * 1024**2, 10),
    "postgres.slow_statements": probes.statements,
    "postgres.txid_wraparound": probes.frozen_ages,
    "postgres.migrations_current": probes.alembic_versions,
}


def cluster_in(root: Path) -> PostgresCluster:
    """The cluster under `root`, with the password it was created with (kept in bench.json)."""
    root.mkdir(parents=True, exist_ok=True)
    saved = root / "bench.json"
    password = json.loads(saved.read_text())["password"] if saved.exists() else None
    cluster = PostgresCluster(root, password=password)
    if password is None:
        fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"password": cluster.password}, out)
    return cluster


def table_count(superuser_dsn: str) -> int:
    with psycopg.connect(superuser_dsn.replace("dbname=sergas", "dbname=postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            return -1
    with psycopg.connect(superuser_dsn.replace("dbname=sergas", f"dbname={DATABASE}"), autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_user_tables").fetchone()
        return int(row[0]) if row else -1


def build(superuser_dsn: str) -> float:
    started = time.perf_counter()
    with psycopg.connect(superuser_dsn.replace("dbname=sergas", "dbname=postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        conn.execute(f"CREATE DATABASE {DATABASE} OWNER sergas")
    target = superuser_dsn.replace("dbname=sergas", f"dbname={DATABASE}")
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")

    def create(first: int) -> None:
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("SET pg_stat_statements.track = 'none'")
            conn.execute("SET synchronous_commit = off")
            conn.execute("SET ROLE sergas")
            batch = CREATE_BATCH.format(first=first, last=min(first + BATCH - 1, TABLES))
            conn.execute(batch)  # integers only

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(create, range(1, TABLES + 1, BATCH)))
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("ANALYZE")
        conn.execute("CHECKPOINT")
    return time.perf_counter() - started


def main() -> None:
    root = Path(KEEP) if KEEP else Path(tempfile.mkdtemp(prefix="sergas-bench-catalog-"))
    cluster = cluster_in(root)
    cluster.start()
    try:
        build_s: float | None = None
        if table_count(cluster.superuser_dsn) != TABLES:
            build_s = build(cluster.superuser_dsn)
        if COLD:
            cluster.stop()
            cluster.start()
        dsn = cluster.dsn.rsplit("/", 1)[0] + f"/{DATABASE}"
        with psycopg.connect(
            dsn, autocommit=True, options="-c default_transaction_read_only=on -c statement_timeout=60000"
        ) as conn:
            count = conn.execute("SELECT count(*) FROM pg_stat_user_tables").fetchone()
            results = []
            for name, probe in CHECKS.items():
                times = []
                for _ in range(REPEAT):
                    begun = time.perf_counter()
                    found = probe(conn)
                    times.append(time.perf_counter() - begun)
                rows = len(found) if isinstance(found, list) else "-"
                results.append((name, statistics.median(times), times[0], max(times), rows))
    finally:
        cluster.stop()
        if not KEEP:
            shutil.rmtree(root, ignore_errors=True)
    tables = count[0] if count else "?"
    built = f"built and analyzed in {build_s:.0f} s" if build_s is not None else "reused from an earlier run"
    print(
        f"Scratch database: {tables} tables (+ {tables} primary keys and {tables} secondary indexes), {built}; "
        f"{'cluster restarted before the runs (cold)' if COLD else 'cluster not restarted'}.\n"
    )
    print(f"| check | query time (median of {REPEAT}) | first run | slowest | rows returned | goal < {GOAL_S:.0f} s |")
    print("|---|---|---|---|---|---|")
    for name, median, first, slowest, rows in results:
        print(
            f"| `{name}` | {median:.3f} s | {first:.3f} s | {slowest:.3f} s | {rows} | "
            f"{'yes' if slowest < GOAL_S else 'NO'} |"
        )


if __name__ == "__main__":
    main()
