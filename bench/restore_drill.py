"""The restore drill's cost: pg_dump, restore into a scratch database, verify, for the sandbox's
database and for a 1 GiB database, each in a private PostgreSQL cluster.

    .venv/bin/python bench/restore_drill.py [--size-gib 1] [--skip-large]

Prints a Markdown table (BENCHMARKS.md's "Restore drill" section comes from it). The restore runs
as the check runs it: probes.drill.run_drill, through a local testinfra host.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixtures.hosts import run_bounded
from probes.drill import run_drill
from probes.postgres import database_size
from sandbox.postgres import PostgresCluster
from sergas.units import format_quantity

HOST = testinfra.get_host("local://")


def grow(cluster: PostgresCluster, gib: float) -> None:
    """Add a table of hard-to-compress rows until the database is `gib` GiB."""
    with psycopg.connect(cluster.superuser_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE bulk (id bigint PRIMARY KEY, account_id int, payload text)")
        target = int(gib * 1024**3)
        batch = 1_000_000
        start = 0
        while database_size(conn)[1] < target:
            conn.execute(
                "INSERT INTO bulk SELECT g, g %% 2000, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text)"
                " FROM generate_series(%s, %s) AS g",
                (start + 1, start + batch),
            )
            start += batch
        conn.execute("VACUUM ANALYZE bulk")


def drill(cluster: PostgresCluster, root: Path, label: str, *, piped: bool, tables: list[str]) -> dict[str, str]:
    with psycopg.connect(cluster.superuser_dsn) as conn:
        db_size = database_size(conn)[1]
    path = root / ("sergas_prod_bench.sql.gz" if piped else "sergas_prod_bench.dump")
    begun = time.monotonic()
    pg_dump = str(cluster.bin_dir / "pg_dump")
    if piped:  # the manual's layout
        subprocess.run(
            f"set -o pipefail; {pg_dump} -Fc -d '{cluster.superuser_dsn}' | gzip > {path}",
            shell=True,
            executable="/bin/bash",
            check=True,
        )
    else:
        subprocess.run([pg_dump, "-Fc", "-d", cluster.superuser_dsn, "-f", str(path)], check=True)
    dump_s = time.monotonic() - begun
    os.chmod(root, 0o755)
    begun = time.monotonic()
    result = run_drill(
        lambda command, timeout: run_bounded(HOST, command, timeout),
        backup_path=str(path),
        fmt="custom",
        gzipped=piped,
        drill_dsn=cluster._superuser_dsn("postgres"),
        production_dsn=cluster.dsn,
        tables=tables,
        timeout=3600,
    )
    drill_s = time.monotonic() - begun
    if result.error:
        raise SystemExit(f"{label}: drill failed: {result.error}")
    size = path.stat().st_size
    path.unlink()
    return {
        "database": label,
        "layout": "pg_dump -F c \\| gzip (.sql.gz)" if piped else "pg_dump -Fc (.dump)",
        "db size": format_quantity(db_size, "B"),
        "backup size": format_quantity(size, "B"),
        "pg_dump": f"{dump_s:.1f} s",
        "restore": f"{result.restore_seconds or 0:.1f} s",
        "verify": f"{result.verify_seconds or 0:.2f} s",
        "whole drill (create, restore, verify, drop)": f"{drill_s:.1f} s",
        "rows": ", ".join(f"{t} {n}" for t, n in result.counts.items()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-gib", type=float, default=1.0)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    rows = []
    for large in (False, True):
        if large and args.skip_large:
            continue
        root = Path(tempfile.mkdtemp(prefix="sergas-bench-drill-"))
        cluster = PostgresCluster(root)
        try:
            cluster.start()
            if large:
                begun = time.monotonic()
                grow(cluster, args.size_gib)
                print(f"# grew the database to {args.size_gib} GiB in {time.monotonic() - begun:.0f} s", flush=True)
                rows.append(drill(cluster, root, f"{args.size_gib:g} GiB", piped=False, tables=["accounts", "bulk"]))
            else:
                for piped in (False, True):
                    rows.append(drill(cluster, root, "sandbox", piped=piped, tables=["accounts", "users"]))
        finally:
            cluster.stop()
            shutil.rmtree(root, ignore_errors=True)
    headers = list(rows[0])
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(row[h] for h in headers) + " |")
    print(f"\n{os.cpu_count()} CPUs; PostgreSQL {cluster.bin_dir.parent.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
