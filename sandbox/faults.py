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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
import redis as redis_client
from filelock import FileLock

from sandbox.postgres import MAX_CONNECTIONS, SUPERUSER_RESERVED_CONNECTIONS
from sandbox.redis import connect as redis_connect

if TYPE_CHECKING:
    from sandbox.stack import Sandbox

FILL_KEY_PREFIX = "sandbox:fault:fill:"
USABLE_CONNECTIONS = MAX_CONNECTIONS - SUPERUSER_RESERVED_CONNECTIONS
_ABSENT = object()
_CHUNK = (1 << 20) - 128  # fits a 1 MiB jemalloc size class with the sds header


class Faults:
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

        The role may open USABLE_CONNECTIONS (17) in all: holding them all makes the app's own
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
        """A query running (pg_sleep) until the block exits; yields its backend pid."""
        state = self.sandbox.require_state()
        conn = psycopg.connect(
            state.pg_dsn, autocommit=True, connect_timeout=5, application_name="sandbox-fault"
        )
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        pid = int(row[0]) if row else 0

        def run() -> None:
            with contextlib.suppress(psycopg.Error):  # cancelled on exit
                conn.execute("SELECT pg_sleep(%s)", (seconds,))

        worker = threading.Thread(target=run, name="sandbox-fault-long-query", daemon=True)
        worker.start()
        try:
            yield pid
        finally:
            with psycopg.connect(state.pg_dsn, autocommit=True, connect_timeout=5) as admin:
                admin.execute("SELECT pg_cancel_backend(%s)", (pid,))
            worker.join(10)
            conn.close()

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
