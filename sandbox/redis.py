"""A private Redis server as a child process, seeded with Sergas-like cache and session keys."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import redis as redis_client
from redis.backoff import NoBackoff
from redis.retry import Retry

from sandbox.ports import free_port
from sandbox.processes import ChildServer

MAXMEMORY = "64mb"
EVICTION_POLICY = "allkeys-lru"
SESSION_TTL_S = 3600
CACHE_TTL_S = 900
CACHE_KEYS = 300
SESSION_KEYS = 120


def connect(port: int, timeout: float = 1.0) -> redis_client.Redis:
    """A client with bounded timeouts and no retries (redis-py retries by default)."""
    return redis_client.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


class RedisServer(ChildServer):
    """`redis-server` on 127.0.0.1, no password, 64 MB with allkeys-lru, no persistence.

    Persistence is off, but `stop(save=True)` writes a snapshot that the next `start()` loads,
    so a server stopped by a fault comes back with its keys (and their TTLs).
    """

    title = "Redis"

    def __init__(self, root: Path) -> None:
        super().__init__(port=free_port(), log_path=root / "redis.log")
        self.root = root
        self.data_dir = root / "redis"
        self._seeded = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, timeout: float = 1.0) -> redis_client.Redis:
        return connect(self.port, timeout)

    def _launch(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "maxmemory": MAXMEMORY,
            "maxmemory-policy": EVICTION_POLICY,
            "save": "",  # no snapshots (but see stop(save=True))
            "appendonly": "no",
            "dir": str(self.data_dir),
            "protected-mode": "no",
            "daemonize": "no",
        }
        argv = [server]
        for name, value in options.items():
            argv += [f"--{name}", value]
        self._spawn(argv, cwd=self.root)

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait for PING; seed the keys after the first start."""

        def pings() -> bool:
            with self.client() as client:
                return bool(client.ping())

        self._wait_until(pings, timeout)
        if not self._seeded:
            self.seed()
            self._seeded = True

    def stop(self, *, save: bool = False) -> None:
        """Stop the server; with `save`, snapshot the keys first so a restart keeps them."""
        if self._process is None:
            return
        if save and self.is_running():
            try:
                with self.client(timeout=5) as client:
                    client.shutdown(save=True)
            except redis_client.ConnectionError:
                pass  # SHUTDOWN closes the connection: that is the expected answer
        super().stop()

    def seed(self) -> None:
        """Cache entries (TTL 15 min) and sessions `session:user:<id>:<token>` (TTL 1 h)."""
        with self.client(timeout=5) as client:
            pipe = client.pipeline(transaction=False)
            for account_id in range(1, CACHE_KEYS + 1):
                pipe.set(
                    f"cache:account:{account_id}",
                    f'{{"id": {account_id}, "health_score": {account_id % 100}}}',
                    ex=CACHE_TTL_S,
                )
            for n in range(SESSION_KEYS):
                user_id = 4 + (n * 7) % 197
                if user_id % 40 == 7:  # disabled users (schema.sql) have no sessions
                    continue
                pipe.set(
                    f"session:user:{user_id}:{secrets.token_hex(8)}",
                    f'{{"user_id": {user_id}}}',
                    ex=SESSION_TTL_S,
                )
            pipe.execute()
