"""Fault injection: context managers that put one component in a fault state and restore it.

    with sandbox.faults.postgres_stopped():
        ...  # /health answers 503, database unhealthy

They work on an owned sandbox and on a `Sandbox.attach()`ed handle alike. App faults are keys
in the faults file the app re-reads on every request; nested or concurrent faults on different
keys compose, and each restores only its own key.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import redis as redis_client
from filelock import FileLock

from sandbox import logs
from sandbox.backups import BackupFaults
from sandbox.processes import NO_PROXY, wait_until
from sandbox.redis import connect as redis_connect

if TYPE_CHECKING:
    from sandbox.stack import Sandbox

FILL_KEY_PREFIX = "sandbox:fault:fill:"
_ABSENT = object()
_CHUNK = (1 << 20) - 128  # fits a 1 MiB jemalloc size class with the sds header


class Faults(BackupFaults):
    """The fault states of one sandbox (`sandbox.faults`)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    # --- servers down -----------------------------------------------------------------------
    @contextmanager
    def postgres_stopped(self) -> Iterator[None]:
        """PostgreSQL shut down (fast); restarted on the same port with the same data."""
        with self._stopped("postgres"):
            yield

    @contextmanager
    def redis_stopped(self) -> Iterator[None]:
        """Redis shut down (keys saved); restarted on the same port with the same keys."""
        with self._stopped("redis"):
            yield

    @contextmanager
    def app_stopped(self) -> Iterator[None]:
        """The app process terminated (`pgrep -f <marker>` finds nothing); restarted after."""
        with self._stopped("app"):
            yield

    @contextmanager
    def _stopped(self, component: str) -> Iterator[None]:
        self.sandbox.stop_component(component)
        try:
            yield
        finally:
            self.sandbox.start_component(component)

    # --- PostgreSQL ---------------------------------------------------------------------------
    @contextmanager
    def connections_held(self, n: int) -> Iterator[list[psycopg.Connection[Any]]]:
        """`n` idle connections as the app role (application_name `sandbox-fault`).

        The role may open max_connections less the superuser reserve (17) in all: holding them all makes the app's own
        connections fail with "too many clients".
        """
        state = self.sandbox.require_state()
        connections: list[psycopg.Connection[Any]] = []
        try:
            for _ in range(n):
                connections.append(
                    psycopg.connect(
                        state.pg_dsn, autocommit=True, connect_timeout=5, application_name="sandbox-fault"
                    )
                )
            yield connections
        finally:
            for conn in connections:
                conn.close()

    @contextmanager
    def idle_in_transaction(self) -> Iterator[int]:
        """One session left `idle in transaction`; yields its backend pid."""
        state = self.sandbox.require_state()
        with psycopg.connect(state.pg_dsn, connect_timeout=5, application_name="sandbox-fault") as conn:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()
            try:
                yield int(pid[0]) if pid else 0
            finally:
                conn.rollback()

    @contextmanager
    def long_running_query(self, seconds: float = 3600) -> Iterator[int]:
        """A query running (pg_sleep) until the block exits; yields its backend pid once
        pg_stat_activity shows it `active`, and returns once its session has ended."""
        state = self.sandbox.require_state()
        conn = psycopg.connect(
            state.pg_dsn, autocommit=True, connect_timeout=5, application_name="sandbox-fault"
        )
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
        state = self.sandbox.require_state()
        with psycopg.connect(
            state.pg_superuser_dsn, autocommit=True, connect_timeout=5, application_name="sandbox-fault"
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
        state = self.sandbox.require_state()
        with psycopg.connect(state.pg_superuser_dsn, autocommit=True, connect_timeout=5) as conn:
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
        state = self.sandbox.require_state()
        text = "SELECT pg_sleep($1) AS sandbox_fault_slow"
        with psycopg.connect(state.pg_dsn, autocommit=True, connect_timeout=5) as conn:
            for _ in range(calls):
                conn.execute("SELECT pg_sleep(%s) AS sandbox_fault_slow", (seconds,))
        try:
            yield text
        finally:
            with psycopg.connect(state.pg_superuser_dsn, autocommit=True, connect_timeout=5) as admin:
                admin.execute(
                    "SELECT pg_stat_statements_reset(0, 0, queryid) FROM pg_stat_statements"
                    " WHERE query LIKE '%%sandbox_fault_slow%%'"
                )

    @contextmanager
    def statements_extension_dropped(self) -> Iterator[None]:
        """pg_stat_statements dropped from the app database (the library stays loaded);
        created again on exit."""
        state = self.sandbox.require_state()
        with psycopg.connect(state.pg_superuser_dsn, autocommit=True, connect_timeout=5) as admin:
            admin.execute("DROP EXTENSION pg_stat_statements")
            try:
                yield
            finally:
                admin.execute("CREATE EXTENSION pg_stat_statements")

    @contextmanager
    def alembic_behind(self, revision: str = "1c8d2e5b9a07") -> Iterator[str]:
        """alembic_version set to an older `revision`; the head is put back on exit."""
        state = self.sandbox.require_state()
        with psycopg.connect(state.pg_dsn, autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
            conn.execute("UPDATE alembic_version SET version_num = %s", (revision,))
            try:
                yield revision
            finally:
                with conn.transaction():
                    conn.execute("DELETE FROM alembic_version")
                    for (version,) in rows:
                        conn.execute("INSERT INTO alembic_version VALUES (%s)", (version,))

    # --- Redis --------------------------------------------------------------------------------
    @contextmanager
    def redis_memory_filled(self, fraction: float = 0.95) -> Iterator[float]:
        """Fill Redis until used_memory/maxmemory >= `fraction`; yields the ratio reached.

        allkeys-lru would evict instead of filling, so the policy is noeviction meanwhile;
        the fill keys are deleted and the policy restored on exit.
        """
        state = self.sandbox.require_state()
        client = redis_connect(state.redis_port, timeout=5)
        policy = str(client.config_get("maxmemory-policy")["maxmemory-policy"])
        maxmemory = int(str(client.config_get("maxmemory")["maxmemory"]))
        if maxmemory <= 0:
            raise RuntimeError("Redis has no maxmemory: nothing to fill up to")
        keys: list[str] = []
        try:
            client.config_set("maxmemory-policy", "noeviction")
            ratio = _fill(client, maxmemory, fraction, keys)
            yield ratio
        finally:
            for start in range(0, len(keys), 500):
                client.unlink(*keys[start : start + 500])
            client.config_set("maxmemory-policy", policy)
            client.close()

    @contextmanager
    def redis_keys_without_ttl(self, n: int = 10) -> Iterator[list[str]]:
        """`n` session keys `session:user:<id>:sandbox-fault-<i>` with no TTL; deleted on exit."""
        state = self.sandbox.require_state()
        keys = [f"session:user:{900 + i}:sandbox-fault-{i}" for i in range(n)]
        with redis_connect(state.redis_port, timeout=5) as client:
            if keys:
                client.mset({key: '{"user_id": 0}' for key in keys})
            try:
                yield keys
            finally:
                if keys:
                    client.unlink(*keys)

    @contextmanager
    def redis_big_key(self, size: int = 12 << 20) -> Iterator[str]:
        """One string key `cache:report:sandbox-fault` of `size` bytes; deleted on exit."""
        state = self.sandbox.require_state()
        key = "cache:report:sandbox-fault"
        with redis_connect(state.redis_port, timeout=5) as client:
            client.set(key, b"\0" * size)
            try:
                yield key
            finally:
                client.unlink(key)

    @contextmanager
    def redis_eviction_policy(self, policy: str = "noeviction") -> Iterator[str]:
        """maxmemory-policy set to `policy` (CONFIG SET); the previous policy restored on exit."""
        with self._redis_config("maxmemory-policy", policy):
            yield policy

    @contextmanager
    def redis_misses(self, misses: int = 3000, hits: int = 1000) -> Iterator[float]:
        """Lookups with a low hit rate: `misses` GETs of absent keys, `hits` GETs of present ones.

        The counters are cumulative since start, so CONFIG RESETSTAT starts them at the fault
        (the rate is exactly hits/(hits+misses), plus what the app looks up meanwhile) and again
        on exit, so later checks do not see the fault's misses. Yields the rate made, in percent.
        """
        state = self.sandbox.require_state()
        with redis_connect(state.redis_port, timeout=5) as client:
            client.config_resetstat()
            present = "sandbox:fault:hit"
            client.set(present, "1")
            pipe = client.pipeline(transaction=False)
            for i in range(misses):
                pipe.get(f"sandbox:fault:miss:{i}")
            for _ in range(hits):
                pipe.get(present)
            pipe.execute()
            client.unlink(present)
            try:
                yield 100.0 * hits / (hits + misses)
            finally:
                client.config_resetstat()

    @contextmanager
    def redis_clients_near_max(self, maxclients: int = 20, free: int = 2) -> Iterator[int]:
        """maxclients lowered to `maxclients`, then connections opened until Redis rejects one
        (rejected_connections > 0), then `free` of them closed for the checks to connect.
        Yields the connections held. Restored (maxclients, CONFIG RESETSTAT) on exit."""
        state = self.sandbox.require_state()
        held: list[redis_client.Redis] = []
        with self._redis_config("maxclients", str(maxclients)) as admin:
            try:
                for _ in range(maxclients + 1):
                    client = redis_connect(state.redis_port, timeout=5)
                    try:
                        client.client_id()  # not PING: refused while a snapshot fails (MISCONF)
                    except redis_client.RedisError as exc:
                        client.close()
                        if "max number of clients" not in str(exc):
                            raise
                        break
                    held.append(client)
                for client in held[len(held) - free :]:
                    client.close()
                del held[len(held) - free :]
                yield len(held)
            finally:
                for client in held:
                    client.close()
                admin.config_resetstat()

    @contextmanager
    def redis_bgsave_failing(self) -> Iterator[str]:
        """RDB persistence on (save 3600 1) and its snapshot failing: a directory sits where the
        dump file goes, so BGSAVE cannot rename its temp file onto it (even as root).
        rdb_last_bgsave_status is err, and Redis refuses writes (stop-writes-on-bgsave-error).
        On exit the directory goes, a successful BGSAVE clears the status, persistence is off
        again and a dump file that was not there before is removed. Yields the dump path."""
        state = self.sandbox.require_state()
        with redis_connect(state.redis_port, timeout=5) as client:
            config = client.config_get("dir")
            config.update(client.config_get("dbfilename"))
            dump = Path(str(config["dir"])) / str(config["dbfilename"])
            existed = dump.exists()
            backup = dump.with_name(dump.name + ".sandbox-fault")
            if existed:
                dump.rename(backup)
            dump.mkdir()
            try:
                with self._redis_config("save", "3600 1"):
                    client.bgsave()
                    _wait_bgsave(client, "err")
                    try:
                        yield str(dump)
                    finally:
                        dump.rmdir()
                        client.bgsave()
                        _wait_bgsave(client, "ok")
            finally:
                if dump.is_dir():
                    dump.rmdir()
                if existed:
                    backup.replace(dump)
                else:
                    dump.unlink(missing_ok=True)

    @contextmanager
    def _redis_config(self, name: str, value: str) -> Iterator[redis_client.Redis]:
        """One CONFIG SET, undone on exit; yields the admin client."""
        state = self.sandbox.require_state()
        with redis_connect(state.redis_port, timeout=5) as client:
            previous = str(client.config_get(name)[name])
            client.config_set(name, value)
            try:
                yield client
            finally:
                client.config_set(name, previous)

    # --- logs (sandbox/logs.py) ---------------------------------------------------------------
    @contextmanager
    def log_lines(self, kind: str, n: int, **options: Any) -> Iterator[list[str]]:
        """`n` lines of `kind` appended to app.log with timestamps in the last minutes, removed after.

        Kinds: errors, http_5xx, auth_failures, circuit_breaker_open, slow_requests (options:
        `duration_ms`, `path`), requests (healthy traffic).
        """
        app_log = self.sandbox.require_state().app_log
        with logs.appended(app_log, logs.fault_lines(kind, n, **options)) as lines:
            yield lines

    @contextmanager
    def slow_queries(self, n: int, seconds: float = 1.1) -> Iterator[None]:
        """`n` real statements of `seconds` (pg_sleep, run at once) that PostgreSQL logs as slow
        (log_min_duration_statement = 1000); their log lines are removed after the block."""
        state = self.sandbox.require_state()
        tag = f"sandbox-fault-{os.getpid()}-{threading.get_ident()}"

        def run() -> None:
            with psycopg.connect(state.pg_dsn, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f"SELECT pg_sleep({float(seconds)}) /* {tag} */")  # type: ignore[arg-type]

        workers = [threading.Thread(target=run, name=f"sandbox-slow-query-{i}") for i in range(n)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(seconds + 30)
        try:
            yield
        finally:
            logs.remove_matching(state.postgres_log, tag)

    # --- the app ----------------------------------------------------------------------------
    @contextmanager
    def zoho_unreachable(self) -> Iterator[None]:
        """The app's Zoho URL points at a closed port: /health is 200 "degraded"."""
        with self._app_fault("zoho_unreachable", True):
            yield

    @contextmanager
    def health_delayed(self, seconds: float) -> Iterator[None]:
        """/health answers after `seconds`."""
        with self._app_fault("health_delay_s", seconds):
            yield

    @contextmanager
    def health_status(self, code: int) -> Iterator[None]:
        """/health answers with HTTP `code` (its body unchanged)."""
        with self._app_fault("health_status", code):
            yield

    @contextmanager
    def health_garbage(self) -> Iterator[None]:
        """/health answers an HTML error page instead of JSON."""
        with self._app_fault("health_garbage", True):
            yield

    @contextmanager
    def http_errors(self, path: str = "/api/v1/users", code: int = 500) -> Iterator[None]:
        """Every request to `path` (the traffic driver sends some each second) answers `code`."""
        with self._app_fault("http_errors", {path: code}):
            yield

    @contextmanager
    def slow_endpoint(self, path: str = "/api/v1/features", seconds: float = 1.5) -> Iterator[None]:
        """Every request to `path` takes `seconds` longer."""
        with self._app_fault("slow_paths", {path: seconds}):
            yield

    @contextmanager
    def agent_failures(self) -> Iterator[None]:
        """The app's scheduled agent sessions end in failure."""
        with self._app_fault("agent_failures", True):
            yield

    @contextmanager
    def metrics_hidden(self, *prefixes: str) -> Iterator[None]:
        """/metrics leaves out the families whose names start with `prefixes`."""
        with self._app_fault("metrics_hidden", list(prefixes)):
            yield

    @contextmanager
    def traffic_paused(self) -> Iterator[None]:
        """The sandbox's traffic driver stopped (owner only): the app gets no requests."""
        driver = self.sandbox.traffic
        if driver is None:
            raise RuntimeError("traffic_paused needs the sandbox's owner (the driver runs there)")
        driver.stop()
        try:
            yield
        finally:
            driver.start()

    # --- Prometheus and Alertmanager (sandbox/prometheus.py, sandbox/alertmanager.py) ---------
    @contextmanager
    def prometheus_stopped(self) -> Iterator[None]:
        """Prometheus shut down; restarted on the same port with its data."""
        with self._stopped("prometheus"):
            yield

    @contextmanager
    def alertmanager_stopped(self) -> Iterator[None]:
        """Alertmanager shut down; restarted on the same port with its silences."""
        with self._stopped("alertmanager"):
            yield

    @contextmanager
    def alert_firing(self, name: str, severity: str = "critical", **labels: str) -> Iterator[dict[str, str]]:
        """An alert POSTed to Alertmanager (exactly what the manual's 'acknowledge' snippet does);
        resolved on exit by POSTing it again with endsAt in the past. Yields its labels."""
        url = self.sandbox.require_state().alertmanager_url
        alert_labels = {"alertname": name, "severity": severity, "instance": "sandbox", **labels}
        now = datetime.now(UTC)
        _post_json(f"{url}/api/v2/alerts", [_alert(alert_labels, now, now + timedelta(hours=1))])
        try:
            yield alert_labels
        finally:
            _post_json(f"{url}/api/v2/alerts", [_alert(alert_labels, now, datetime.now(UTC) - timedelta(seconds=1))])

    @contextmanager
    def alert_silenced(self, labels: dict[str, str], comment: str = "sandbox fault") -> Iterator[str]:
        """A silence matching `labels` (how an alert is acknowledged); expired on exit. Yields its id."""
        url = self.sandbox.require_state().alertmanager_url
        now = datetime.now(UTC)
        silence = {
            "matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in labels.items()],
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "sandbox",
            "comment": comment,
        }
        silence_id = str(_post_json(f"{url}/api/v2/silences", silence)["silenceID"])
        try:
            yield silence_id
        finally:
            request = urllib.request.Request(f"{url}/api/v2/silence/{silence_id}", method="DELETE")
            with NO_PROXY.open(request, timeout=5) as response:
                response.read()

    @contextmanager
    def _app_fault(self, key: str, value: Any) -> Iterator[None]:
        path = self.sandbox.require_state().faults_file
        lock = FileLock(str(path) + ".lock", timeout=10)

        def update(new: Any) -> Any:
            with lock:
                try:
                    faults = json.loads(path.read_text())
                except (OSError, ValueError):
                    faults = {}
                old = faults.get(key, _ABSENT)
                if new is _ABSENT:
                    faults.pop(key, None)
                else:
                    faults[key] = new
                tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                tmp.write_text(json.dumps(faults) + "\n")
                os.replace(tmp, path)  # the app never reads half a file
                return old

        previous = update(value)
        try:
            yield
        finally:
            update(previous)


def _alert(labels: dict[str, str], starts: datetime, ends: datetime) -> dict[str, Any]:
    return {
        "labels": labels,
        "annotations": {"summary": "raised by a sandbox fault"},
        "startsAt": starts.isoformat(),
        "endsAt": ends.isoformat(),
    }


def _post_json(url: str, body: Any) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with NO_PROXY.open(request, timeout=5) as response:
        text = response.read()
    return json.loads(text) if text.strip() else None


def _wait_bgsave(client: redis_client.Redis, status: str, timeout: float = 10) -> None:
    """Wait until no BGSAVE runs and the last one ended with `status` ("ok" or "err")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.info("persistence")
        if not info.get("rdb_bgsave_in_progress") and info.get("rdb_last_bgsave_status") == status:
            return
        time.sleep(0.05)
    raise RuntimeError(f"BGSAVE did not end with status {status} within {timeout} s")


def _fill(client: redis_client.Redis, maxmemory: int, fraction: float, keys: list[str]) -> float:
    """Write fill keys until the ratio is reached (or Redis refuses: noeviction OOM)."""

    def ratio() -> float:
        used = int(client.info("memory")["used_memory"])
        return used / maxmemory

    current = ratio()
    while current < fraction:
        missing = int((fraction - current) * maxmemory)
        # Big steps first, then small ones, so the target is not overshot by much.
        size = max(4096, min(_CHUNK, missing // 2 if missing < (4 << 20) else _CHUNK))
        count = max(1, min(32, missing // size))
        pipe = client.pipeline(transaction=False)
        for _ in range(count):
            key = f"{FILL_KEY_PREFIX}{len(keys)}"
            keys.append(key)
            pipe.set(key, b"\0" * size)
        try:
            pipe.execute()
        except redis_client.ResponseError as exc:
            if "OOM" not in str(exc):
                raise
            return ratio()
        current = ratio()
    return current
