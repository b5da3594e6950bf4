"""A private PostgreSQL cluster: initdb, the postmaster as a child process, the Sergas database."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from sandbox.ports import free_port
from sandbox.processes import ChildServer

SCHEMA_SQL = Path(__file__).with_name("schema.sql")
APP_USER = "sergas"
APP_DATABASE = "sergas"
SUPERUSER = "postgres"
MAX_CONNECTIONS = 20
SUPERUSER_RESERVED_CONNECTIONS = 3


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
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(APP_USER), sql.Literal(self.password)
                )
            )
            conn.execute(sql.SQL("GRANT pg_read_all_stats TO {}").format(sql.Identifier(APP_USER)))
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(APP_DATABASE), sql.Identifier(APP_USER)
                )
            )
        with psycopg.connect(self.superuser_dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(APP_USER)))
                conn.execute(SCHEMA_SQL.read_text())  # type: ignore[arg-type]  # trusted file
            conn.execute("VACUUM ANALYZE")
