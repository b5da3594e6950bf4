"""A private Redis server as a child process, seeded with Sergas-like cache and session keys;
and its fault states (`RedisFaults`)."""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis as redis_client
from redis.backoff import NoBackoff
from redis.retry import Retry

from sandbox.control import Handler, undone_after
from sandbox.ports import free_port
from sandbox.processes import ChildServer

MAXMEMORY = "64mb"
EVICTION_POLICY = "allkeys-lru"
SESSION_TTL_S = 3600
CACHE_TTL_S = 900
CACHE_KEYS = 300
SESSION_KEYS = 120
FILL_KEY_PREFIX = "sandbox:fault:fill:"
_CHUNK = (1 << 20) - 128  # fits a 1 MiB jemalloc size class with the sds header


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


class RedisFaults:
    """Redis's fault states (part of `sandbox.faults`) on the server at 127.0.0.1:`redis_port`;
    each restores on exit. `lifecycle` stops and starts the server (see `sandbox.control.Handler`)."""

    def __init__(self, redis_port: int, lifecycle: Handler) -> None:
        self.redis_port = redis_port
        self.lifecycle = lifecycle

    @contextmanager
    def redis_stopped(self) -> Iterator[None]:
        """Redis shut down (keys saved); restarted on the same port with the same keys."""
        with undone_after(self.lifecycle, "redis"):
            yield

    @contextmanager
    def redis_memory_filled(self, fraction: float = 0.95) -> Iterator[float]:
        """Fill Redis until used_memory/maxmemory >= `fraction`; yields the ratio reached.

        allkeys-lru would evict instead of filling, so the policy is noeviction meanwhile;
        the fill keys are deleted and the policy restored on exit.
        """
        client = connect(self.redis_port, timeout=5)
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
        keys = [f"session:user:{900 + i}:sandbox-fault-{i}" for i in range(n)]
        with connect(self.redis_port, timeout=5) as client:
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
        key = "cache:report:sandbox-fault"
        with connect(self.redis_port, timeout=5) as client:
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
        with connect(self.redis_port, timeout=5) as client:
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
        held: list[redis_client.Redis] = []
        with self._redis_config("maxclients", str(maxclients)) as admin:
            try:
                for _ in range(maxclients + 1):
                    client = connect(self.redis_port, timeout=5)
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
        with connect(self.redis_port, timeout=5) as client:
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
        with connect(self.redis_port, timeout=5) as client:
            previous = str(client.config_get(name)[name])
            client.config_set(name, value)
            try:
                yield client
            finally:
                client.config_set(name, previous)


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
