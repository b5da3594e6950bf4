"""The restore drill: restore a backup into a scratch database on a drill server, count rows,
read the alembic head, and drop the scratch database whatever happened.

Only a scratch restore proves a backup (gzip -t checks a CRC, `pg_restore --list` reads a table of
contents). The restore runs on the database host, where the backup is (pg_restore or psql there,
connecting to the drill server); the scratch database is created, verified and dropped by this
process. No pytest here: the check and bench/restore_drill.py both use it.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from probes.postgres import alembic_versions, host_side

Runner = Callable[[str, float], tuple[int, str, str]]  # (command, timeout) -> (rc, stdout, stderr)
SCRATCH_PREFIX = "sergas_drill_"


class DrillRefused(Exception):
    """The drill would touch a database it must not (the production one)."""


def _endpoint(dsn: str) -> tuple[str, str, str]:
    info = conninfo_to_dict(dsn)
    host = str(info.get("host") or info.get("hostaddr") or "localhost")
    if host in ("127.0.0.1", "::1", "localhost"):
        host = "localhost"
    return host, str(info.get("port") or 5432), str(info.get("dbname") or info.get("user") or "")


def same_database(drill_dsn: str, production_dsn: str) -> bool:
    """Whether both DSNs name the same database on the same server (host, port, dbname)."""
    return _endpoint(drill_dsn) == _endpoint(production_dsn)


def scratch_name(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return f"{SCRATCH_PREFIX}{now:%Y%m%d_%H%M%S}_{os.getpid()}"


def restore_command(path: str, fmt: str, gzipped: bool, dsn: str) -> str:
    """Shell (bash) restoring the backup at `path` into the database of `dsn`, stopping at the
    first error. The manual's piped custom archive is read sequentially from gunzip."""
    f, d = shlex.quote(path), shlex.quote(dsn)
    bin_lookup = (
        'B=$(dirname "$(ls -1 /usr/lib/postgresql/*/bin/pg_restore 2>/dev/null | sort -V | tail -n1)" 2>/dev/null); '
        'PG_RESTORE=$(command -v pg_restore || echo "$B/pg_restore"); PSQL=$(command -v psql || echo "$B/psql"); '
    )
    if fmt == "custom":
        restore = '"$PG_RESTORE" --exit-on-error --no-owner --no-privileges -d ' + d
        body = f"gzip -dc {f} | {restore}" if gzipped else f"{restore} {f}"
    else:
        psql = '"$PSQL" -X -q -v ON_ERROR_STOP=1 -o /dev/null -d ' + d
        body = f"gzip -dc {f} | {psql}" if gzipped else f"{psql} -f {f}"
    script = f"set -o pipefail; {bin_lookup}{body}"
    return f"bash -c {shlex.quote(script)}"


def first_error(stderr: str) -> str:
    """pg_restore's or psql's reason, in one line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower() or "fatal" in line.lower():
            return line[:300]
    return lines[0][:300] if lines else ""


@dataclass
class DrillResult:
    database: str
    restore_seconds: float | None = None
    verify_seconds: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    alembic_versions: list[str] | None = None  # as probes.postgres.alembic_versions reads them
    error: str | None = None
    dropped: bool = False


def run_drill(
    run: Runner,
    *,
    backup_path: str,
    fmt: str,
    gzipped: bool,
    drill_dsn: str,
    production_dsn: str | None,
    tables: list[str],
    timeout: float,
    connect_timeout: float = 5,
) -> DrillResult:
    """Create a scratch database, restore into it, count rows of `tables`, read alembic_version,
    and drop it (also when a step failed). Refuses the production database."""
    if production_dsn is not None and same_database(drill_dsn, production_dsn):
        host, port, db = _endpoint(drill_dsn)
        raise DrillRefused(f"drill_dsn points at the production database {host}:{port}/{db}: refusing to restore")
    result = DrillResult(scratch_name())
    admin = psycopg.connect(
        drill_dsn,
        autocommit=True,
        connect_timeout=max(2, int(connect_timeout)),
        application_name="sergas-restore-drill",
    )
    try:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(result.database)))
        try:
            scratch_dsn = make_conninfo(drill_dsn, dbname=result.database)
            begun = time.monotonic()
            rc, _out, err = run(restore_command(backup_path, fmt, gzipped, host_side(scratch_dsn)), timeout)
            result.restore_seconds = time.monotonic() - begun
            if rc == 124:
                result.error = f"restore did not finish within {timeout:.0f}s"
            elif rc != 0:
                result.error = first_error(err) or f"restore exit status {rc}"
            else:
                begun = time.monotonic()
                _verify(scratch_dsn, tables, result, connect_timeout)
                result.verify_seconds = time.monotonic() - begun
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(result.database)))
            result.dropped = True
    finally:
        admin.close()
    return result


def _verify(dsn: str, tables: list[str], result: DrillResult, connect_timeout: float) -> None:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=max(2, int(connect_timeout))) as conn:
        present = {
            row[0]
            for row in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
            ).fetchall()
        }
        counted = [t for t in tables if t in present]
        if counted:
            query = sql.SQL("SELECT {}").format(
                sql.SQL(", ").join(sql.SQL("(SELECT count(*) FROM {})").format(sql.Identifier(t)) for t in counted)
            )
            row = conn.execute(query).fetchone()
            result.counts = dict(zip(counted, [int(v) for v in (row or ())], strict=True))
        for missing in (t for t in tables if t not in present):
            result.counts[missing] = -1  # the table is not in the restored database
        result.alembic_versions = alembic_versions(conn)
