"""What the PostgreSQL checks read from the server: one catalog query each."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:  # psycopg is imported where it is used: the plugins load this module at start
    import psycopg

CONNECTIONS_SQL = """
SELECT
  current_setting('max_connections')::int AS max_connections,
  current_setting('superuser_reserved_connections')::int
    + coalesce((SELECT setting::int FROM pg_settings WHERE name = 'reserved_connections'), 0) AS reserved,
  count(*) FILTER (WHERE backend_type = 'client backend') AS total,
  count(*) FILTER (WHERE backend_type = 'client backend' AND state = 'active') AS active,
  count(*) FILTER (WHERE backend_type = 'client backend' AND state LIKE 'idle in transaction%') AS idle_in_transaction
FROM pg_stat_activity
"""


def host_side(dsn: str) -> str:
    """`dsn` as a host-side tool (pg_dump, pg_restore, psql) gets it on its command line: without
    its password, which every user of the host would read in `ps`. The tool authenticates from
    the host, as Barman's do: the running user's ~/.pgpass (or PGPASSFILE), a `service=` of
    pg_service.conf, or peer/trust on the local socket."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    info = conninfo_to_dict(dsn)
    info.pop("password", None)
    return make_conninfo(**{k: str(v) for k, v in info.items() if v is not None})


def describe_dsn(dsn: str) -> str:
    """`postgresql://user@host:port/db`, never the password."""
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(dsn)
    return (
        f"postgresql://{info.get('user', '')}@{info.get('host', '')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
    )


@dataclass(frozen=True)
class ConnectionUsage:
    max_connections: int
    reserved: int
    total: int
    active: int
    idle_in_transaction: int

    @property
    def usable(self) -> int:
        """Slots ordinary roles can take: max_connections less the reserved ones."""
        return max(self.max_connections - self.reserved, 1)

    @property
    def used_pct(self) -> float:
        return 100.0 * self.total / self.usable


def connection_usage(conn: psycopg.Connection) -> ConnectionUsage:
    row = conn.execute(CONNECTIONS_SQL).fetchone()
    assert row is not None
    return ConnectionUsage(*row)


# --- sessions -------------------------------------------------------------------------------
# Client backends only (not autovacuum, walsender, ...), never this check's own session.
# Without pg_read_all_stats, other roles' sessions show NULL state and no query text: they are
# counted as hidden so a check can say so instead of reporting nothing.
SESSIONS_SQL = """
SELECT pid, coalesce(usename, '?'), coalesce(application_name, ''), state,
       EXTRACT(epoch FROM now() - {since})::float8 AS seconds,
       left(regexp_replace(query, '\\s+', ' ', 'g'), %(chars)s) AS query,
       {since} AS started
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND {where}
ORDER BY seconds DESC NULLS LAST
"""

HIDDEN_SESSIONS_SQL = """
SELECT count(*) FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND state IS NULL
"""

QUERY_CHARS = 120


@dataclass(frozen=True)
class Session:
    pid: int
    user: str
    application: str
    state: str
    seconds: float
    query: str
    started: dt.datetime  # query_start or state_change: with the pid, names this very statement


def _sessions(conn: psycopg.Connection, since: str, where: str) -> list[Session]:
    rows = conn.execute(SESSIONS_SQL.format(since=since, where=where), {"chars": QUERY_CHARS}).fetchall()
    return [Session(int(r[0]), r[1], r[2], r[3], float(r[4] or 0.0), r[5] or "", r[6]) for r in rows]


def running_statements(conn: psycopg.Connection) -> list[Session]:
    """Statements in progress (`state NOT LIKE 'idle%'`), oldest first; age from query_start."""
    return _sessions(conn, "query_start", "state NOT LIKE 'idle%%' AND query_start IS NOT NULL")


def idle_in_transaction(conn: psycopg.Connection) -> list[Session]:
    """Sessions idle in a transaction, aborted ones too; age from state_change (when they went idle)."""
    return _sessions(
        conn,
        "state_change",
        "state IN ('idle in transaction', 'idle in transaction (aborted)') AND state_change IS NOT NULL",
    )


def hidden_sessions(conn: psycopg.Connection) -> int:
    """Other roles' sessions this role cannot see into (no pg_read_all_stats / pg_monitor)."""
    row = conn.execute(HIDDEN_SESSIONS_SQL).fetchone()
    return int(row[0]) if row else 0


# --- sizes ----------------------------------------------------------------------------------
DATABASE_SIZE_SQL = "SELECT current_database(), pg_database_size(current_database())"


def database_size(conn: psycopg.Connection) -> tuple[str, int]:
    row = conn.execute(DATABASE_SIZE_SQL).fetchone()
    assert row is not None
    return str(row[0]), int(row[1])


# Sizing a relation stats its files: at 10,000 tables (each with its TOAST table and indexes)
# that is seconds on a cold cache. So the candidates come from pg_class first: the
# TABLE_SIZE_CANDIDATES tables with the most pages (heap + TOAST + indexes, as of the last
# VACUUM/ANALYZE/CREATE INDEX), plus every table never vacuumed nor analyzed (reltuples < 0,
# PostgreSQL 14+: its relpages says nothing); only those are sized, the largest `limit` split.
TABLE_SIZE_CANDIDATES = 100
TABLE_SIZES_SQL = """
WITH tables AS MATERIALIZED (
  SELECT c.oid, c.relpages + coalesce(t.relpages, 0) + coalesce(x.pages, 0) AS pages, c.reltuples
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
  LEFT JOIN (SELECT i.indrelid, sum(ci.relpages) AS pages
             FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid GROUP BY i.indrelid) x
    ON x.indrelid = c.oid
  WHERE c.relkind IN ('r', 'm')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
), candidates AS (
  (SELECT oid FROM tables ORDER BY pages DESC LIMIT %(candidates)s)
  UNION
  SELECT oid FROM tables WHERE reltuples < 0
), sized AS (
  SELECT oid, pg_total_relation_size(oid) AS total FROM candidates ORDER BY total DESC LIMIT %(limit)s
)
SELECT n.nspname, c.relname, s.total, pg_table_size(c.oid), pg_indexes_size(c.oid)
FROM sized s JOIN pg_class c ON c.oid = s.oid JOIN pg_namespace n ON n.oid = c.relnamespace
ORDER BY s.total DESC
"""


@dataclass(frozen=True)
class TableSize:
    schema: str
    table: str
    total: int
    table_bytes: int
    index_bytes: int

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


def largest_tables(conn: psycopg.Connection, limit: int = 10) -> list[TableSize]:
    rows = conn.execute(TABLE_SIZES_SQL, {"limit": limit, "candidates": max(limit, TABLE_SIZE_CANDIDATES)}).fetchall()
    # A table dropped while the query ran has NULL sizes: it is gone, not sized.
    return [TableSize(r[0], r[1], int(r[2]), int(r[3]), int(r[4])) for r in rows if None not in r[2:5]]


# --- vacuum and dead tuples -----------------------------------------------------------------
# A table that was never vacuumed (or analyzed) has NULL there: its age is counted from when
# the statistics began (server start or stats_reset, whichever is later), a lower bound.
# Only tables with writes since: dead rows or inserts since the last vacuum, modifications
# since the last analyze. Static tables need neither.
MAINTENANCE_SQL = """
WITH since AS (
  SELECT GREATEST(pg_postmaster_start_time(),
                  (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database())) AS t
)
SELECT s.schemaname, s.relname, s.n_live_tup, s.n_dead_tup, s.n_ins_since_vacuum, s.n_mod_since_analyze,
       GREATEST(s.last_vacuum, s.last_autovacuum) IS NULL AS never_vacuumed,
       GREATEST(s.last_analyze, s.last_autoanalyze) IS NULL AS never_analyzed,
       EXTRACT(epoch FROM now() - coalesce(GREATEST(s.last_vacuum, s.last_autovacuum), since.t))::float8,
       EXTRACT(epoch FROM now() - coalesce(GREATEST(s.last_analyze, s.last_autoanalyze), since.t))::float8,
       c.reltuples::float8,
       coalesce((SELECT split_part(o, '=', 2)::float8 FROM unnest(c.reloptions) o
                 WHERE o LIKE 'autovacuum_vacuum_threshold=%%'),
                current_setting('autovacuum_vacuum_threshold')::float8),
       coalesce((SELECT split_part(o, '=', 2)::float8 FROM unnest(c.reloptions) o
                 WHERE o LIKE 'autovacuum_vacuum_scale_factor=%%'),
                current_setting('autovacuum_vacuum_scale_factor')::float8),
       coalesce((SELECT split_part(o, '=', 2) FROM unnest(c.reloptions) o
                 WHERE o LIKE 'autovacuum_enabled=%%'), 'on') NOT IN ('off', 'false', 'f', 'no', '0')
         AND current_setting('autovacuum') = 'on'
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid CROSS JOIN since
WHERE s.n_dead_tup > 0 OR s.n_ins_since_vacuum > 0 OR s.n_mod_since_analyze > 0
"""


@dataclass(frozen=True)
class TableActivity:
    """A table with writes since its last vacuum or analyze (pg_stat_user_tables)."""

    schema: str
    table: str
    live: int
    dead: int
    inserted_since_vacuum: int
    modified_since_analyze: int
    never_vacuumed: bool
    never_analyzed: bool
    vacuum_age: float
    analyze_age: float
    reltuples: float
    vacuum_threshold: float
    vacuum_scale_factor: float
    autovacuum: bool

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def needs_vacuum(self) -> bool:
        return self.dead > 0 or self.inserted_since_vacuum > 0

    @property
    def needs_analyze(self) -> bool:
        return self.modified_since_analyze > 0

    @property
    def autovacuum_trigger(self) -> float:
        """Dead rows at which autovacuum vacuums the table: threshold + scale_factor * reltuples
        (50 + 0.2 * reltuples by default; reltuples is -1 before the first ANALYZE)."""
        return self.vacuum_threshold + self.vacuum_scale_factor * max(self.reltuples, 0.0)

    @property
    def dead_share(self) -> float:
        """Dead rows as a percentage of all row versions (live + dead)."""
        total = self.live + self.dead
        return 100.0 * self.dead / total if total else 0.0


def table_activity(conn: psycopg.Connection) -> list[TableActivity]:
    rows = conn.execute(MAINTENANCE_SQL).fetchall()
    return [
        TableActivity(
            r[0],
            r[1],
            int(r[2]),
            int(r[3]),
            int(r[4]),
            int(r[5]),
            bool(r[6]),
            bool(r[7]),
            float(r[8]),
            float(r[9]),
            float(r[10]),
            float(r[11]),
            float(r[12]),
            bool(r[13]),
        )
        for r in rows
    ]


# --- bloat (estimate) -----------------------------------------------------------------------
# The estimate check_postgres and ioguix's pgsql-bloat-estimation make: the pages a table or
# btree index would need for its rows, from pg_class.reltuples and the average widths and null
# fractions in pg_stats, against the pages it has. Needs a fresh ANALYZE; tables using the
# `name` type are mis-estimated (is_na). Only relations the role may read have pg_stats rows.
# PostgreSQL 12+ (no relhasoids). MAXALIGN 8, page header 24, heap tuple header 23.
# pg_stats, not pg_statistic: pg_statistic is readable by superusers only (not by a table's
# owner, not by pg_monitor), and check_postgres reads pg_stats too.
# Cost at 10,000 tables (bench/postgres_catalog.py): one pass over pg_stats, every column of the
# candidate relations hash-joined to it by name and aggregated per relation in one GROUP BY.
# Relations under BLOAT_MIN_PAGES pages (heap + TOAST for a table) are left out.
BLOAT_MIN_PAGES = 16  # 128 KiB at the default 8 KiB block: a smaller relation cannot waste more
BLOAT_SQL = """
WITH rel AS MATERIALIZED (
  -- tables and btree indexes at or past the floor (a table's pages include its TOAST table's)
  SELECT c.oid, c.relkind, n.nspname, c.relname, c.reltuples,
         c.relpages + coalesce(t.relpages, 0) AS pages, coalesce(t.reltuples, 0) AS toasttuples,
         coalesce(substring(array_to_string(c.reloptions, ' ') FROM 'fillfactor=([0-9]+)')::int,
                  CASE WHEN c.relkind = 'r' THEN 100 ELSE 90 END) AS ff
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
  WHERE c.relpages > 0 AND c.relpages + coalesce(t.relpages, 0) >= %(min_pages)s
    AND (c.relkind = 'r' OR (c.relkind = 'i' AND c.relam = (SELECT oid FROM pg_am WHERE amname = 'btree')))
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
), cols AS MATERIALIZED (
  SELECT r.*, r.relname AS tblname, r.relname AS statrel, a.attname, a.atttypid
  FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  WHERE r.relkind = 'r'
  UNION ALL
  -- an index on a plain column has the table's stats for it; on an expression, its own
  SELECT r.*, ct.relname, CASE WHEN i.indkey[k.pos - 1] <> 0 THEN ct.relname ELSE r.relname END,
         a.attname, a.atttypid
  FROM rel r
  JOIN pg_index i ON i.indexrelid = r.oid
  JOIN pg_class ct ON ct.oid = i.indrelid
  CROSS JOIN LATERAL generate_series(1, i.indnatts) AS k(pos)
  JOIN pg_attribute a
    ON a.attrelid = CASE WHEN i.indkey[k.pos - 1] <> 0 THEN i.indrelid ELSE r.oid END
   AND a.attnum = CASE WHEN i.indkey[k.pos - 1] <> 0 THEN i.indkey[k.pos - 1] ELSE k.pos END
  WHERE r.relkind = 'i'
), st AS MATERIALIZED (
  -- pg_stats (a security-barrier view, privileges checked row by row): read once, hash-joined
  SELECT schemaname, tablename, attname, null_frac, avg_width FROM pg_stats WHERE NOT inherited
), widths AS (
  SELECT c.relkind, c.nspname, c.tblname, c.relname, c.pages, c.reltuples, c.toasttuples, c.ff,
         max(coalesce(s.null_frac, 0)) AS max_null_frac, count(*) AS ncols,
         sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 1024)) AS datawidth,
         bool_or(c.atttypid = 'pg_catalog.name'::regtype) AS is_na
  FROM cols c
  JOIN st s ON s.schemaname = c.nspname AND s.tablename = c.statrel AND s.attname = c.attname
  GROUP BY c.oid, c.relkind, c.nspname, c.tblname, c.relname, c.pages, c.reltuples, c.toasttuples, c.ff
), table_est AS (
  SELECT *, ceil(reltuples / ((current_setting('block_size')::numeric - 24) * ff / (tuple * 100)))
            + ceil(toasttuples / 4) AS est_pages
  FROM (SELECT *, 4 + hdr + datawidth + 16
                  - CASE WHEN hdr %% 8 = 0 THEN 8 ELSE hdr %% 8 END
                  - CASE WHEN ceil(datawidth)::int %% 8 = 0 THEN 8 ELSE ceil(datawidth)::int %% 8 END AS tuple
        FROM (SELECT *, 23 + CASE WHEN max_null_frac > 0 THEN (7 + ncols) / 8 ELSE 0 END AS hdr
              FROM widths WHERE relkind = 'r') h) sized
), index_est AS (
  SELECT *, coalesce(1 + ceil(reltuples / floor((current_setting('block_size')::numeric - 16 - 24) * ff
                                                  / (100 * (4 + tuple)::float8))), 0) AS est_pages
  FROM (SELECT *, hdr + 8 - CASE WHEN hdr %% 8 = 0 THEN 8 ELSE hdr %% 8 END
                  + datawidth + 8 - CASE WHEN datawidth = 0 THEN 0
                                         WHEN datawidth::int %% 8 = 0 THEN 8 ELSE datawidth::int %% 8 END AS tuple
        FROM (SELECT *, CASE WHEN max_null_frac = 0 THEN 2 ELSE 6 END AS hdr
              FROM widths WHERE relkind = 'i') h) sized
)
SELECT 'table', nspname, tblname, relname, pages * current_setting('block_size')::bigint,
       GREATEST(pages - est_pages, 0)::bigint * current_setting('block_size')::bigint, is_na
FROM table_est
UNION ALL
SELECT 'index', nspname, tblname, relname, pages * current_setting('block_size')::bigint,
       GREATEST(pages - est_pages, 0)::bigint * current_setting('block_size')::bigint, is_na
FROM index_est
"""


@dataclass(frozen=True)
class Bloat:
    kind: str  # "table" or "index"
    schema: str
    table: str
    relation: str
    size: int
    wasted: int
    is_na: bool

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.relation}"

    @property
    def share(self) -> float:
        return 100.0 * self.wasted / self.size if self.size else 0.0


def bloat_estimates(conn: psycopg.Connection, min_pages: int = BLOAT_MIN_PAGES) -> list[Bloat]:
    """Estimated bloat of every table and btree index of at least `min_pages` pages with
    statistics, most wasted first.

    join_collapse_limit = 1 (for this one transaction) keeps the pg_stats view's own joins in
    their written order, pg_statistic first: its per-row privilege check then runs once per
    statistics row, not once per pg_attribute row (7 times as many at 10,000 tables: the query
    took 1.9 s instead of 1.2 s, more when the server is busy)."""
    with conn.transaction():
        conn.execute("SET LOCAL join_collapse_limit = 1")
        rows = conn.execute(BLOAT_SQL, {"min_pages": min_pages}).fetchall()
    found = [Bloat(r[0], r[1], r[2], r[3], int(r[4]), int(r[5]), bool(r[6])) for r in rows]
    return sorted(found, key=lambda b: -b.wasted)


# --- index usage ----------------------------------------------------------------------------
# Counters run since statistics began: stats_reset, or the server start when never reset.
STATS_AGE_SQL = """
SELECT EXTRACT(epoch FROM now() - coalesce(stats_reset, pg_postmaster_start_time()))::float8,
       stats_reset IS NULL
FROM pg_stat_database WHERE datname = current_database()
"""

# Never scanned, and not there to enforce something: primary keys, unique indexes and any
# index a constraint relies on (exclusion, foreign key referencing it) are needed unscanned.
UNUSED_INDEXES_SQL = """
SELECT s.schemaname, s.relname, s.indexrelname, pg_relation_size(s.indexrelid), i.indisvalid
FROM pg_stat_user_indexes s
JOIN pg_index i ON i.indexrelid = s.indexrelid
WHERE (s.idx_scan = 0 AND i.indisvalid AND NOT i.indisprimary AND NOT i.indisunique
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = s.indexrelid))
   OR NOT i.indisvalid
ORDER BY 4 DESC
"""


@dataclass(frozen=True)
class IndexUse:
    schema: str
    table: str
    index: str
    size: int
    valid: bool

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.index}"


def statistics_age(conn: psycopg.Connection) -> tuple[float, bool]:
    """Seconds the usage counters have run, and whether that is since the server start."""
    row = conn.execute(STATS_AGE_SQL).fetchone()
    assert row is not None
    return float(row[0]), bool(row[1])


def unused_and_invalid_indexes(conn: psycopg.Connection) -> tuple[list[IndexUse], list[IndexUse]]:
    """Indexes never scanned that nothing requires (largest first), and INVALID indexes
    (a failed CREATE/REINDEX CONCURRENTLY leaves one behind, `_ccnew`)."""
    found = conn.execute(UNUSED_INDEXES_SQL)
    rows = [IndexUse(r[0], r[1], r[2], int(r[3]), bool(r[4])) for r in found if r[3] is not None]  # NULL: dropped
    return [r for r in rows if r.valid], [r for r in rows if not r.valid]


# Tables past a size, read mostly by sequential scans: candidates for a missing index.
SEQ_SCANS_SQL = """
SELECT s.schemaname, s.relname, pg_relation_size(s.relid), s.seq_scan, s.seq_tup_read,
       coalesce(s.idx_scan, 0), s.n_live_tup
FROM pg_stat_user_tables s
WHERE s.seq_scan >= %(min_scans)s AND pg_relation_size(s.relid) >= %(min_size)s
ORDER BY s.seq_scan::float8 / (s.seq_scan + coalesce(s.idx_scan, 0)) DESC, s.seq_tup_read DESC
"""


@dataclass(frozen=True)
class ScanUse:
    schema: str
    table: str
    size: int
    seq_scans: int
    seq_rows_read: int
    index_scans: int
    live: int

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def seq_share(self) -> float:
        """Sequential scans as a percentage of all scans of the table."""
        return 100.0 * self.seq_scans / (self.seq_scans + self.index_scans)

    @property
    def rows_per_seq_scan(self) -> float:
        return self.seq_rows_read / self.seq_scans


def sequentially_scanned_tables(conn: psycopg.Connection, min_size: int, min_scans: int) -> list[ScanUse]:
    rows = conn.execute(SEQ_SCANS_SQL, {"min_size": min_size, "min_scans": min_scans}).fetchall()
    return [
        ScanUse(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5]), int(r[6])) for r in rows if r[2] is not None
    ]


# --- pg_stat_statements ---------------------------------------------------------------------
STATEMENTS_EXTENSION_SQL = "SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'"

# PostgreSQL 13+ names (mean_exec_time, total_exec_time, in milliseconds); this database only.
# Queries only (SELECT, DML, CALL): maintenance and utility commands (VACUUM, CREATE INDEX,
# pg_dump's COPY) are slow by nature and are not what this check is about. Leading comments
# are skipped to find the command.
STATEMENTS_SQL = """
SELECT queryid, user_name, calls, mean_exec_time, total_exec_time, left(one_line, %(chars)s),
       sum(total_exec_time) OVER () AS all_time
FROM (
  SELECT s.queryid, coalesce(r.rolname, s.userid::text) AS user_name, s.calls, s.mean_exec_time,
         s.total_exec_time,
         regexp_replace(regexp_replace(s.query, '^(\\s*(--[^\\n]*(\\n|$)|/\\*([^*]|\\*+[^*/])*\\*+/))*\\s*', ''),
                        '\\s+', ' ', 'g') AS one_line
  FROM pg_stat_statements s
  LEFT JOIN pg_roles r ON r.oid = s.userid
  WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND s.calls > 0
) q
WHERE one_line ~* '^[(\\s]*(select|insert|update|delete|with|merge|values|table|call)\\M'
"""

ENABLE_STATEMENTS = (
    "add pg_stat_statements to shared_preload_libraries, restart PostgreSQL, "
    "then CREATE EXTENSION pg_stat_statements in this database"
)


class StatementsUnavailable(Exception):
    """pg_stat_statements cannot be read here; the message says why and how to enable it."""


@dataclass(frozen=True)
class Statement:
    queryid: int
    user: str
    calls: int
    mean_ms: float
    total_ms: float
    query: str
    share: float  # of all execution time recorded in this database, %


def statements(conn: psycopg.Connection) -> list[Statement]:
    """Every statement pg_stat_statements recorded in this database.

    Raises StatementsUnavailable when the extension is not created here, or not loaded
    (created but missing from shared_preload_libraries, which a monitoring role cannot read).
    """
    import psycopg

    if conn.execute(STATEMENTS_EXTENSION_SQL).fetchone() is None:
        raise StatementsUnavailable(f"pg_stat_statements is not installed in this database: {ENABLE_STATEMENTS}")
    try:
        rows = conn.execute(STATEMENTS_SQL, {"chars": QUERY_CHARS}).fetchall()
    except psycopg.errors.ObjectNotInPrerequisiteState as exc:
        raise StatementsUnavailable(f"pg_stat_statements is not loaded ({exc}): {ENABLE_STATEMENTS}") from None
    except psycopg.errors.UndefinedColumn:
        raise StatementsUnavailable("pg_stat_statements is older than PostgreSQL 13's (no mean_exec_time)") from None
    return [
        Statement(
            int(r[0] or 0),
            r[1],
            int(r[2]),
            float(r[3]),
            float(r[4]),
            r[5] or "",
            100.0 * float(r[4]) / float(r[6]) if r[6] else 0.0,
        )
        for r in rows
    ]


# --- transaction id wraparound --------------------------------------------------------------
WRAPAROUND_SQL = """
SELECT datname, age(datfrozenxid)::bigint, mxid_age(datminmxid)::bigint
FROM pg_database WHERE datallowconn ORDER BY 2 DESC
"""


@dataclass(frozen=True)
class FrozenAge:
    database: str
    xid_age: int
    mxid_age: int


def frozen_ages(conn: psycopg.Connection) -> list[FrozenAge]:
    """Every connectable database's oldest unfrozen transaction and multixact ID, by xid age."""
    return [FrozenAge(r[0], int(r[1]), int(r[2])) for r in conn.execute(WRAPAROUND_SQL)]


# --- migrations -----------------------------------------------------------------------------
def alembic_versions(conn: psycopg.Connection) -> list[str] | None:
    """The revisions in alembic_version (several when branches are merged later), or None
    when the table does not exist (no migration ever ran)."""
    found = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return None
    return sorted(str(r[0]) for r in conn.execute("SELECT version_num FROM alembic_version"))


def server_now(conn: psycopg.Connection) -> dt.datetime:
    """The server's clock: what pg_stat_* timestamps are compared with, not this machine's."""
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    return cast(dt.datetime, row[0])


# --- WAL archiving --------------------------------------------------------------------------
# pg_settings, not current_setting(): a setting the role may not read is NULL there, not an
# error. archive_library is PostgreSQL 15+ (NULL before). pg_stat_archiver needs no privilege.
# The age counts from the last archived WAL, or from when the counters began (stats_reset,
# else the server start) when none was archived since: a lower bound, as for vacuum ages.
ARCHIVING_SQL = """
SELECT (SELECT setting FROM pg_settings WHERE name = 'archive_mode'),
       (SELECT setting FROM pg_settings WHERE name = 'archive_command'),
       (SELECT setting FROM pg_settings WHERE name = 'archive_library'),
       (SELECT setting::int FROM pg_settings WHERE name = 'archive_timeout'),
       a.archived_count, a.last_archived_wal, a.last_archived_time,
       a.failed_count, a.last_failed_wal, a.last_failed_time,
       coalesce(a.stats_reset, pg_postmaster_start_time()),
       EXTRACT(epoch FROM now() - coalesce(a.last_archived_time, a.stats_reset, pg_postmaster_start_time()))::float8
FROM pg_stat_archiver a
"""

# The .ready files of pg_wal/archive_status: segments finished but not archived yet (what
# check_postgres' archive_ready counts). PostgreSQL 12+; pg_monitor (or a GRANT EXECUTE).
READY_PRIVILEGE_SQL = """
SELECT to_regprocedure('pg_ls_archive_statusdir()') IS NOT NULL
       AND has_function_privilege('pg_ls_archive_statusdir()', 'EXECUTE')
"""
READY_FILES_SQL = "SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"

# Commands that succeed without keeping anything: the WAL is recycled, recovery has nothing.
NO_OP_ARCHIVE_COMMAND = re.compile(r"^\s*(?:(?:/usr)?/bin/)?(?:true|:)\s*(?:;\s*)?$|^\s*exit\s+0\s*;?\s*$")


@dataclass(frozen=True)
class Archiving:
    """How WAL is archived (settings; None: not readable by this role) and how it went (pg_stat_archiver)."""

    mode: str
    command: str | None
    library: str | None
    timeout_s: int
    archived_count: int
    last_archived_wal: str | None
    last_archived_time: dt.datetime | None
    failed_count: int
    last_failed_wal: str | None
    last_failed_time: dt.datetime | None
    counting_since: dt.datetime
    age: float  # seconds since the last archived WAL (or since counting_since when none)
    ready_files: int | None  # None: pg_ls_archive_statusdir() not allowed to this role

    @property
    def archiver(self) -> str:
        """What archives: `archive_library x`, `archive_command 'y'`, or "" when neither is set."""
        if self.library:
            return f"archive_library {self.library}"
        return f"archive_command {self.command!r}" if self.command else ""

    @property
    def is_no_op(self) -> bool:
        """archive_command succeeds without copying anything (`/bin/true`, `:`, `exit 0`)."""
        return not self.library and bool(self.command) and bool(NO_OP_ARCHIVE_COMMAND.match(self.command or ""))

    @property
    def is_failing(self) -> bool:
        """The last attempt failed: a failure after the last success (pg_stat_archiver)."""
        if self.last_failed_time is None:
            return False
        return self.last_archived_time is None or self.last_failed_time > self.last_archived_time


def wal_archiving(conn: psycopg.Connection) -> Archiving:
    row = conn.execute(ARCHIVING_SQL).fetchone()
    assert row is not None
    allowed = conn.execute(READY_PRIVILEGE_SQL).fetchone()
    ready: int | None = None
    if allowed is not None and allowed[0]:
        counted = conn.execute(READY_FILES_SQL).fetchone()
        ready = int(counted[0]) if counted else 0
    return Archiving(
        mode=row[0] or "off",
        command=row[1],
        library=row[2],
        timeout_s=int(row[3] or 0),
        archived_count=int(row[4]),
        last_archived_wal=row[5],
        last_archived_time=row[6],
        failed_count=int(row[7]),
        last_failed_wal=row[8],
        last_failed_time=row[9],
        counting_since=row[10],
        age=float(row[11]),
        ready_files=ready,
    )
