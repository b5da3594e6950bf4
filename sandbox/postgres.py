"""A private PostgreSQL cluster: initdb, the postmaster as a child process, the Sergas database;
and its fault states (`PostgresFaults`)."""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from sandbox import logs
from sandbox.control import Handler, undone_after
from sandbox.ports import free_port
from sandbox.processes import ChildServer, wait_until

SCHEMA_SQL = Path(__file__).with_name("schema.sql")
APP_USER = "sergas"
APP_DATABASE = "sergas"
SUPERUSER = "postgres"
MAX_CONNECTIONS = 20
SUPERUSER_RESERVED_CONNECTIONS = 3
WAL_ARCHIVE_FAULT_TAG = "sandbox-fault-wal-archive"


def postgres_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<major>/bin (Debian layout), or the directory of `postgres`."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL server binaries not found: install postgresql (Debian package)")


class PostgresCluster(ChildServer):
    """A PostgreSQL cluster under `root`, started in the foreground as a child process.

    When the current user is root, the cluster runs as the `postgres` OS user (PostgreSQL
    refuses root). The superuser connects through the private unix socket (trust); the
    application role `sergas` connects over TCP on 127.0.0.1 with a password (scram-sha-256).
    """

    title = "PostgreSQL"
    # Fast shutdown, also if we die: a smart shutdown (SIGTERM) would wait for clients.
    stop_signal = signal.SIGINT
    stop_timeout = 15.0

    def __init__(self, root: Path, *, password: str | None = None) -> None:
        super().__init__(port=free_port(), log_path=root / "postgres.log")
        self.root = root
        self.password = password or secrets.token_hex(16)
        self.data_dir = root / "pgdata"
        self.socket_dir = root / "pgsock"
        self.bin_dir = postgres_bin_dir()
        self.os_user = "postgres" if os.geteuid() == 0 else None

    @property
    def superuser_dsn(self) -> str:
        """libpq key/value DSN for the superuser over the unix socket, on the sergas database."""
        return self._superuser_dsn(APP_DATABASE)

    def _superuser_dsn(self, dbname: str) -> str:
        return f"host={self.socket_dir} port={self.port} user={SUPERUSER} dbname={dbname}"

    @property
    def dsn(self) -> str:
        """URL DSN of the application role over TCP, password included."""
        return f"postgresql://{APP_USER}:{self.password}@127.0.0.1:{self.port}/{APP_DATABASE}"

    @property
    def url(self) -> str:
        """The sergas database over TCP, without credentials (see `dsn`)."""
        return f"postgresql://127.0.0.1:{self.port}/{APP_DATABASE}"

    def is_initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def start(self) -> None:
        """Start the cluster (initdb and load the schema on first start); return when it accepts
        connections. A restart reuses the port, the data and the password."""
        if self.is_running():
            return
        first_start = not self.is_initialized()
        self.launch()
        self.wait_ready()
        if first_start:
            self._bootstrap()

    def _launch(self) -> None:
        """initdb on first start, then the postmaster (stopped by a fast shutdown: `stop_signal`)."""
        if not self.is_initialized():
            self._initdb()
        self._spawn(self._postgres_argv(), user=self.os_user, cwd=self.root)

    def wait_ready(self, timeout: float = 30.0) -> None:
        self._wait_until(self._accepts_connections, timeout)

    def _initdb(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.os_user is not None:
            os.chmod(self.root, 0o711)  # the postgres OS user must traverse it to its folders
        for folder in (self.data_dir, self.socket_dir):
            folder.mkdir(mode=0o700, exist_ok=True)
            if self.os_user is not None:
                shutil.chown(folder, self.os_user, self.os_user)
        result = subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                "--no-instructions",
                "--wal-segsize=1",  # 1 MiB segments: a WAL switch archives 1 MiB, not 16
            ],
            cwd=self.root,
            user=self.os_user,
            group=self.os_user,
            extra_groups=[] if self.os_user is not None else None,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed ({result.returncode}): {result.stderr.strip()}")
        self._configure_archiving()

    @property
    def wal_archive(self) -> Path:
        """Where archive_command copies each finished WAL segment (point-in-time recovery)."""
        return self.root / "wal_archive"

    def _configure_archiving(self) -> None:
        """archive_command in postgresql.conf, not on the command line: a `-c` setting would
        override the ALTER SYSTEM of the wal_archive_failing fault. archive_mode (restart only)
        is on the command line."""
        self.wal_archive.mkdir(mode=0o700, exist_ok=True)
        if self.os_user is not None:
            shutil.chown(self.wal_archive, self.os_user, self.os_user)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"archive_command = 'test ! -f {self.wal_archive}/%f && cp %p {self.wal_archive}/%f'\n")

    def _postgres_argv(self) -> list[str]:
        settings = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": str(MAX_CONNECTIONS),
            "superuser_reserved_connections": str(SUPERUSER_RESERVED_CONNECTIONS),
            "shared_preload_libraries": "pg_stat_statements",
            "logging_collector": "off",
            "log_min_duration_statement": "1000",
            "log_line_prefix": "%m [%p] ",
            "archive_mode": "on",
            "archive_timeout": "300",  # an idle server still archives what it wrote within 5 minutes
        }
        argv = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        return argv

    def _accepts_connections(self) -> bool:
        # Read the postmaster's own status first, as pg_ctl does: polling with connections
        # would log "FATAL: the database system is starting up" for log checks to find.
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        if len(lines) < 8 or lines[7].strip() != "ready":
            return False
        with psycopg.connect(self._superuser_dsn("postgres"), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True

    def _bootstrap(self) -> None:
        """Create the sergas role and database, pg_stat_statements, the schema and its data."""
        with psycopg.connect(self._superuser_dsn("postgres"), autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(APP_USER), sql.Literal(self.password))
            )
            conn.execute(sql.SQL("GRANT pg_read_all_stats TO {}").format(sql.Identifier(APP_USER)))
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(APP_DATABASE), sql.Identifier(APP_USER))
            )
        with psycopg.connect(self.superuser_dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
            # The .ready files postgres.wal_archiving counts (pg_monitor has it; the app role only this).
            conn.execute(
                sql.SQL("GRANT EXECUTE ON FUNCTION pg_ls_archive_statusdir() TO {}").format(sql.Identifier(APP_USER))
            )
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(APP_USER)))
                conn.execute(SCHEMA_SQL.read_text())  # a trusted file
            conn.execute("VACUUM ANALYZE")
            # The schema's WAL archived at once: a point-in-time recovery starts from the sandbox's birth.
            conn.execute("SELECT pg_switch_wal()")
            query = "SELECT archived_count > 0 FROM pg_stat_archiver"
            wait_until(lambda: bool(conn.execute(query).fetchone() == (True,)), 15, "the first WAL to be archived")


class PostgresFaults:
    """PostgreSQL's fault states (part of `sandbox.faults`); each restores on exit.

    `pg_dsn` is the app role's DSN, `pg_superuser_dsn` the superuser's, `postgres_log` the
    server's log; `lifecycle` stops and starts the server (see `sandbox.control.Handler`).
    """

    def __init__(self, pg_dsn: str, pg_superuser_dsn: str, postgres_log: Path, lifecycle: Handler) -> None:
        self.pg_dsn = pg_dsn
        self.pg_superuser_dsn = pg_superuser_dsn
        self.postgres_log = postgres_log
        self.lifecycle = lifecycle

    @contextmanager
    def postgres_stopped(self) -> Iterator[None]:
        """PostgreSQL shut down (fast); restarted on the same port with the same data."""
        with undone_after(self.lifecycle, "postgres"):
            yield

    @contextmanager
    def connections_held(self, n: int) -> Iterator[list[psycopg.Connection[Any]]]:
        """`n` idle connections as the app role (application_name `sandbox-fault`).

        The role may open max_connections less the superuser reserve (17) in all: holding them all makes the app's own
        connections fail with "too many clients".
        """
        connections: list[psycopg.Connection[Any]] = []
        try:
            for _ in range(n):
                connections.append(
                    psycopg.connect(self.pg_dsn, autocommit=True, connect_timeout=5, application_name="sandbox-fault")
                )
            yield connections
        finally:
            for conn in connections:
                conn.close()

    @contextmanager
    def idle_in_transaction(self) -> Iterator[int]:
        """One session left `idle in transaction`; yields its backend pid."""
        with psycopg.connect(self.pg_dsn, connect_timeout=5, application_name="sandbox-fault") as conn:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()
            try:
                yield int(pid[0]) if pid else 0
            finally:
                conn.rollback()

    @contextmanager
    def long_running_query(self, seconds: float = 3600) -> Iterator[int]:
        """A query running (pg_sleep) until the block exits; yields its backend pid once
        pg_stat_activity shows it `active`, and returns once its session has ended."""
        conn = psycopg.connect(self.pg_dsn, autocommit=True, connect_timeout=5, application_name="sandbox-fault")
        worker: threading.Thread | None = None
        pid = 0
        try:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            pid = int(row[0]) if row else 0

            def run() -> None:
                with contextlib.suppress(psycopg.Error):  # cancelled on exit
                    conn.execute("SELECT pg_sleep(%s)", (seconds,))

            worker = threading.Thread(target=run, name="sandbox-fault-long-query", daemon=True)
            worker.start()
            with self._admin_session() as admin:

                def active() -> bool:
                    found = admin.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
                    return found is not None and found[0] == "active"

                wait_until(active, 10, f"the long-running query (pid {pid}) to be active")
            yield pid
        finally:
            if worker is not None:
                with contextlib.suppress(psycopg.Error):
                    conn.cancel_safe(timeout=5)
                worker.join(10)
                if worker.is_alive():  # the cancel did not land: end the session
                    with self._admin_session() as admin:
                        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    worker.join(10)
            conn.close()
            if pid:
                with self._admin_session() as admin:
                    query = "SELECT 1 FROM pg_stat_activity WHERE pid = %s"
                    wait_until(lambda: admin.execute(query, (pid,)).fetchone() is None, 10, f"session {pid} to end")

    # PostgreSQL faults that build objects do it as the app role (so its reads of pg_stats see
    # them), from a superuser session that keeps the setup out of pg_stat_statements; every
    # object is dropped on exit.
    @contextmanager
    def _setup_session(self) -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(
            self.pg_superuser_dsn, autocommit=True, connect_timeout=5, application_name="sandbox-fault"
        ) as conn:
            conn.execute("SET pg_stat_statements.track = 'none'")
            conn.execute("SET ROLE sergas")
            yield conn  # closing it flushes its table statistics: see _await_statistics

    def _await_statistics(self, table: str, counter: str, at_least: int, timeout: float = 15) -> None:
        """Wait until pg_stat_user_tables shows the setup session's `counter` for `table`: a
        session's table counters reach shared memory when it ends, a moment after the client
        closes, so a check started at once could read the statistics from before the fault."""
        schema, name = table.split(".")
        query = f"SELECT {counter} FROM pg_stat_user_tables WHERE schemaname = %s AND relname = %s"
        deadline = time.monotonic() + timeout
        with self._admin_session() as conn:
            while True:
                row = conn.execute(query, (schema, name)).fetchone()
                if row is not None and row[0] >= at_least:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{table}: {counter} still {row and row[0]} after {timeout} s, not {at_least}")
                time.sleep(0.05)

    @contextmanager
    def _admin_session(self) -> Iterator[psycopg.Connection[Any]]:
        """A superuser session (reserved slots: works when the app role's are all taken) whose
        statements stay out of pg_stat_statements."""
        with psycopg.connect(self.pg_superuser_dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute("SET pg_stat_statements.track = 'none'")
            yield conn

    @contextmanager
    def _scratch_table(
        self, table: str, build: Callable[[psycopg.Connection[Any]], None], counter: str, at_least: int
    ) -> Iterator[None]:
        """`build(conn)` creates `table` in a setup session; the statistics show `counter` >=
        `at_least` before this yields, and the table is dropped on exit, also after a failure."""
        try:
            with self._setup_session() as conn:
                build(conn)
            self._await_statistics(table, counter, at_least)
            yield
        finally:
            with self._admin_session() as conn:
                conn.execute(f"DROP TABLE IF EXISTS {table}")

    @contextmanager
    def dead_tuples_table(self, rows: int = 10000, updates: int = 3) -> Iterator[str]:
        """`public.sandbox_fault_churn`, autovacuum off, every row updated `updates` times (an
        indexed column, so no HOT pruning) and analyzed: dead rows, bloat, never vacuumed.
        Yields the table's name."""
        table = "public.sandbox_fault_churn"

        def build(conn: psycopg.Connection[Any]) -> None:
            conn.execute(
                f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL)"
                " WITH (autovacuum_enabled = off)"
            )
            conn.execute(f"CREATE INDEX sandbox_fault_churn_v ON {table} (v)")
            conn.execute(f"INSERT INTO {table} SELECT g, g, repeat('x', 100) FROM generate_series(1, %s) g", (rows,))
            with conn.transaction():  # one transaction: nothing prunable until it commits
                for _ in range(updates):
                    conn.execute(f"UPDATE {table} SET v = v + 1")
            conn.execute(f"ANALYZE {table}")

        with self._scratch_table(table, build, "n_tup_upd", rows * updates):
            yield table

    @contextmanager
    def unused_index(self, rows: int = 50000) -> Iterator[str]:
        """`public.sandbox_fault_lookup` with index `sandbox_fault_lookup_code` that nothing ever
        scans (larger than any of the schema's own indexes). Yields the index name."""
        table = "public.sandbox_fault_lookup"

        def build(conn: psycopg.Connection[Any]) -> None:
            conn.execute(f"CREATE TABLE {table} (id int NOT NULL, code text NOT NULL)")
            conn.execute(f"INSERT INTO {table} SELECT g, md5(g::text) FROM generate_series(1, %s) g", (rows,))
            conn.execute(f"CREATE INDEX sandbox_fault_lookup_code ON {table} (code)")
            conn.execute(f"ANALYZE {table}")

        with self._scratch_table(table, build, "n_tup_ins", rows):
            yield "public.sandbox_fault_lookup_code"

    @contextmanager
    def seq_scanned_table(self, megabytes: int = 12, scans: int = 12) -> Iterator[str]:
        """`public.sandbox_fault_scanned`, about `megabytes` MiB without any index, read by
        `scans` sequential scans (a lookup by a column with no index). Yields the table name."""
        table = "public.sandbox_fault_scanned"
        rows = megabytes * 1024 * 1024 // 140

        def build(conn: psycopg.Connection[Any]) -> None:
            conn.execute(f"CREATE TABLE {table} (id int NOT NULL, email text NOT NULL, pad text NOT NULL)")
            conn.execute(
                f"INSERT INTO {table} SELECT g, 'user' || g || '@example.com', repeat('x', 90)"
                " FROM generate_series(1, %s) g",
                (rows,),
            )
            conn.execute(f"ANALYZE {table}")
            for i in range(scans):
                conn.execute(f"SELECT id FROM {table} WHERE email = %s", (f"user{i}@example.com",))

        with self._scratch_table(table, build, "seq_scan", scans):
            yield table

    @contextmanager
    def slow_statement(self, seconds: float = 1.2, calls: int = 1) -> Iterator[str]:
        """A statement the app role runs `calls` times, `seconds` each, recorded by
        pg_stat_statements; its entry is removed on exit. Yields its text."""
        text = "SELECT pg_sleep($1) AS sandbox_fault_slow"
        with psycopg.connect(self.pg_dsn, autocommit=True, connect_timeout=5) as conn:
            for _ in range(calls):
                conn.execute("SELECT pg_sleep(%s) AS sandbox_fault_slow", (seconds,))
        try:
            yield text
        finally:
            with psycopg.connect(self.pg_superuser_dsn, autocommit=True, connect_timeout=5) as admin:
                admin.execute(
                    "SELECT pg_stat_statements_reset(0, 0, queryid) FROM pg_stat_statements"
                    " WHERE query LIKE '%%sandbox_fault_slow%%'"
                )

    @contextmanager
    def slow_queries(self, n: int, seconds: float = 1.1) -> Iterator[None]:
        """`n` real statements of `seconds` (pg_sleep, run at once) that PostgreSQL logs as slow
        (log_min_duration_statement = 1000); their log lines are removed after the block."""
        tag = f"sandbox-fault-{os.getpid()}-{threading.get_ident()}"

        def run() -> None:
            with psycopg.connect(self.pg_dsn, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f"SELECT pg_sleep({float(seconds)}) /* {tag} */")

        workers = [threading.Thread(target=run, name=f"sandbox-slow-query-{i}") for i in range(n)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(seconds + 30)
        try:
            yield
        finally:
            logs.remove_matching(self.postgres_log, tag)

    @contextmanager
    def statements_extension_dropped(self) -> Iterator[None]:
        """pg_stat_statements dropped from the app database (the library stays loaded);
        created again on exit."""
        with psycopg.connect(self.pg_superuser_dsn, autocommit=True, connect_timeout=5) as admin:
            admin.execute("DROP EXTENSION pg_stat_statements")
            try:
                yield
            finally:
                admin.execute("CREATE EXTENSION pg_stat_statements")

    @contextmanager
    def alembic_behind(self, revision: str = "1c8d2e5b9a07") -> Iterator[str]:
        """alembic_version set to an older `revision`; the head is put back on exit."""
        with psycopg.connect(self.pg_dsn, autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
            conn.execute("UPDATE alembic_version SET version_num = %s", (revision,))
            try:
                yield revision
            finally:
                with conn.transaction():
                    conn.execute("DELETE FROM alembic_version")
                    for (version,) in rows:
                        conn.execute("INSERT INTO alembic_version VALUES (%s)", (version,))

    @contextmanager
    def admins_disabled(self, *emails: str) -> Iterator[list[str]]:
        """The admin accounts `emails` disabled (none named: every admin, so no enabled admin is
        left); enabled again on exit. Yields the addresses disabled."""
        with psycopg.connect(self.pg_dsn, autocommit=True, connect_timeout=5) as conn:
            wanted = [e.lower() for e in emails]
            rows = conn.execute(
                "UPDATE users SET disabled = true WHERE role = 'admin' AND NOT disabled"
                " AND (cardinality(%s::text[]) = 0 OR lower(email) = ANY(%s)) RETURNING id, email",
                (wanted, wanted),
            ).fetchall()
            try:
                yield [email for _, email in rows]
            finally:
                conn.execute("UPDATE users SET disabled = false WHERE id = ANY(%s)", ([i for i, _ in rows],))

    @contextmanager
    def audit_logged(self, user_id: int, action: str, minutes_ago: float = 60) -> Iterator[int]:
        """An audit_log entry: user `user_id` did `action` `minutes_ago` minutes ago. Any id is
        taken, also one no user has (the foreign key is not enforced for this row, as for an
        entry written by a tool outside the app); deleted on exit. Yields the entry's id."""
        with self._admin_session() as conn:
            with conn.transaction():
                conn.execute("SET LOCAL session_replication_role = replica")
                row = conn.execute(
                    "INSERT INTO audit_log (user_id, action, created_at)"
                    " VALUES (%s, %s, now() - make_interval(secs => %s)) RETURNING id",
                    (user_id, action, minutes_ago * 60),
                ).fetchone()
            assert row is not None
            try:
                yield row[0]
            finally:
                conn.execute("DELETE FROM audit_log WHERE id = %s", (row[0],))

    @contextmanager
    def wal_archive_failing(self, timeout: float = 30) -> Iterator[str]:
        """archive_command set to a failing command (ALTER SYSTEM, reload), a write and a WAL
        switch, until pg_stat_archiver shows that segment failed; yields its name. On exit:
        ALTER SYSTEM RESET, reload, and the archiver's next success is awaited; its failure
        lines are removed from the server log."""
        failing = f"/bin/false {WAL_ARCHIVE_FAULT_TAG}"
        with self._admin_session() as admin:

            def failed(wal: str) -> bool:
                row = admin.execute(
                    "SELECT last_failed_wal FROM pg_stat_archiver"
                    " WHERE last_failed_time > coalesce(last_archived_time, '-infinity')"
                ).fetchone()
                return row is not None and row[0] == wal

            try:
                admin.execute(sql.SQL("ALTER SYSTEM SET archive_command = {}").format(sql.Literal(failing)))
                admin.execute("SELECT pg_reload_conf()")
                query = "SELECT current_setting('archive_command')"
                wait_until(lambda: admin.execute(query).fetchone() == (failing,), 10, "the failing archive_command")
                wal = ""
                deadline = time.monotonic() + timeout
                while not wal or not failed(wal):
                    # The archiver rereads its configuration when it wakes: switch again until it fails.
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"pg_stat_archiver shows no failure of {wal} after {timeout} s")
                    admin.execute("SELECT txid_current()")  # some WAL, so the switch has a segment to finish
                    row = admin.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
                    wal = str(row[0]) if row else ""
                    with contextlib.suppress(RuntimeError):
                        wait_until(functools.partial(failed, wal), 3, f"{wal} to fail archiving")
                yield wal
            finally:
                admin.execute("ALTER SYSTEM RESET archive_command")
                admin.execute("SELECT pg_reload_conf()")
                recovered = "SELECT last_archived_time >= coalesce(last_failed_time, '-infinity') FROM pg_stat_archiver"
                wait_until(lambda: admin.execute(recovered).fetchone() == (True,), 90, "WAL archiving to succeed again")
                for text in (WAL_ARCHIVE_FAULT_TAG, "archive command failed", "failed too many times"):
                    logs.remove_matching(self.postgres_log, text)

    @contextmanager
    def invalid_index(self, rows: int = 2000) -> Iterator[str]:
        """`public.sandbox_fault_dupes` with `sandbox_fault_dupes_code` left INVALID by a CREATE
        UNIQUE INDEX CONCURRENTLY that failed on duplicate codes; the codes are then made
        unique, so a REINDEX INDEX CONCURRENTLY can rebuild it. Yields the index name."""
        table = "public.sandbox_fault_dupes"

        def build(conn: psycopg.Connection[Any]) -> None:
            conn.execute(f"CREATE TABLE {table} (id int NOT NULL, code text NOT NULL)")
            conn.execute(f"INSERT INTO {table} SELECT g, (g %% 10)::text FROM generate_series(1, %s) g", (rows,))
            with contextlib.suppress(psycopg.errors.UniqueViolation):
                conn.execute(f"CREATE UNIQUE INDEX CONCURRENTLY sandbox_fault_dupes_code ON {table} (code)")
            conn.execute(f"UPDATE {table} SET code = id::text")

        with self._scratch_table(table, build, "n_tup_upd", rows):
            yield "public.sandbox_fault_dupes_code"
