"""Redis remediations: expire or delete sessions without TTL, revoke sessions, set config,
turn on active defragmentation.

Changes are atomic per key (a Lua script re-checks the TTL where it acts), batched in
pipelines, and made under a Redis lock with an expiry named for the environment and action.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis as redis_py

from actions.base import Action, ActionError, Outcome, Risk
from probes.redis import connect_redis, memory_info

BATCH = 1000
LOCK_TTL_MS = 120_000

# Act only on a key that still has no TTL: a session renewed meanwhile is left alone.
_EXPIRE_IF_PERSISTENT = (
    "if redis.call('TTL', KEYS[1]) == -1 then return redis.call('EXPIRE', KEYS[1], ARGV[1]) end return 0"
)
_DELETE_IF_PERSISTENT = "if redis.call('TTL', KEYS[1]) == -1 then return redis.call('DEL', KEYS[1]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


@contextmanager
def locked(client: redis_py.Redis, name: str, wait_s: float = 60.0) -> Iterator[None]:
    """A lock with an expiry (SET NX PX), released only by its holder."""
    key, token = f"{name}:lock", secrets.token_hex(8)
    deadline = time.monotonic() + wait_s
    while not client.set(key, token, nx=True, px=LOCK_TTL_MS):
        if time.monotonic() > deadline:
            raise ActionError(f"another run holds {key} (waited {wait_s:.0f}s)")
        time.sleep(0.1)
    try:
        yield
    finally:
        client.eval(_RELEASE, 1, key, token)


def _per_key(client: redis_py.Redis, script: str, keys: list[str], *args: str | int) -> list[str]:
    """Run `script` on each key in pipelined batches; the keys it acted on."""
    sha = client.script_load(script)
    acted = []
    for start in range(0, len(keys), BATCH):
        batch = keys[start : start + BATCH]
        pipe = client.pipeline(transaction=False)
        for key in batch:
            pipe.evalsha(sha, 1, key, *args)
        acted += [key for key, result in zip(batch, pipe.execute(), strict=True) if result]
    return acted


class ExpireSessions(Action):
    id = "expire_sessions"
    description = "give session keys without a TTL the environment's session TTL"
    risk = Risk.SAFE

    def __init__(self, *, url: str, keys: list[str], ttl_s: int):
        self.url, self.keys, self.ttl_s = url, keys, ttl_s

    def plan(self) -> list[str]:
        shown = ", ".join(self.keys[:5]) + (f" and {len(self.keys) - 5} more" if len(self.keys) > 5 else "")
        return [f"EXPIRE <key> {self.ttl_s} on {self.target} where TTL is still -1, for {len(self.keys)} keys: {shown}"]

    def apply(self) -> Outcome:
        client = connect_redis(self.url, 5.0, client_name="sergas-remediation")
        with locked(client, self.lock_name):
            acted = _per_key(client, _EXPIRE_IF_PERSISTENT, self.keys, self.ttl_s)
        outcome = Outcome(done=[f"EXPIRE {key} {self.ttl_s}" for key in acted])
        if len(acted) < len(self.keys):
            outcome.skipped.append(f"{len(self.keys) - len(acted)} keys gone or given a TTL meanwhile")
        return outcome


class DeleteStaleSessions(ExpireSessions):
    id = "delete_stale_sessions"
    description = "delete session keys without a TTL (logs those users out)"
    risk = Risk.DISRUPTIVE

    def plan(self) -> list[str]:
        return [f"DEL {key} on {self.target} if its TTL is still -1" for key in self.keys]

    def apply(self) -> Outcome:
        client = connect_redis(self.url, 5.0, client_name="sergas-remediation")
        with locked(client, self.lock_name):
            acted = _per_key(client, _DELETE_IF_PERSISTENT, self.keys)
        return Outcome(done=[f"DEL {key}" for key in acted])


class RevokeSessions(Action):
    id = "revoke_sessions"
    description = "delete the sessions of disabled users (session:user:<id>:*)"
    risk = Risk.SAFE

    def __init__(self, *, url: str, sessions: dict[str, list[str]]):
        """`sessions`: user id -> the session keys found for that (disabled) user."""
        self.url, self.sessions = url, sessions

    def plan(self) -> list[str]:
        return [
            f"UNLINK {len(keys)} session key(s) of disabled user {user} on {self.target}"
            for user, keys in self.sessions.items()
        ]

    def apply(self) -> Outcome:
        client = connect_redis(self.url, 5.0, client_name="sergas-remediation")
        outcome = Outcome()
        with locked(client, self.lock_name):
            for user, keys in self.sessions.items():
                removed = int(client.unlink(*keys)) if keys else 0
                if removed:
                    outcome.done.append(f"UNLINK {removed} session key(s) of disabled user {user}")
                else:
                    outcome.skipped.append(f"user {user}: sessions already gone")
        return outcome


class RedisConfig(Action):
    id = "redis_config"
    description = "set Redis settings (maxmemory-policy, activedefrag) to the environment's expected values"
    risk = Risk.DISRUPTIVE

    def __init__(self, *, url: str, settings: dict[str, str]):
        self.url, self.settings = url, settings

    def plan(self) -> list[str]:
        return [
            f"CONFIG SET {name} {value} on {self.target} (runtime only: persist it in redis.conf)"
            for name, value in self.settings.items()
        ]

    def apply(self) -> Outcome:
        client = connect_redis(self.url, 5.0, client_name="sergas-remediation")
        outcome = Outcome()
        with locked(client, self.lock_name):
            _config_set(client, self.settings, outcome)
        return outcome


def _config_set(client: redis_py.Redis, settings: dict[str, str], outcome: Outcome) -> None:
    """CONFIG SET each setting that CONFIG GET, read again under the caller's lock, shows differs."""
    for name, value in settings.items():
        if client.config_get(name).get(name) == value:
            outcome.skipped.append(f"{name} is already {value}")
            continue
        client.config_set(name, value)
        outcome.done.append(f"CONFIG SET {name} {value}")


def defrag_refusal(allocator: str) -> str | None:
    """Why activedefrag cannot be turned on with this allocator (mem_allocator); None with jemalloc."""
    if allocator.startswith("jemalloc"):
        return None
    return f"activedefrag needs jemalloc; this server uses {allocator or 'an unknown allocator'}"


class RedisActiveDefrag(Action):
    id = "redis_active_defrag"
    description = "turn on Redis active defragmentation (CONFIG SET activedefrag yes), where jemalloc allows it"
    risk = Risk.SAFE

    def __init__(self, *, url: str, allocator: str):
        """`allocator`: mem_allocator as the check read it; apply() reads it again."""
        self.url, self.allocator = url, allocator

    def plan(self) -> list[str]:
        refusal = defrag_refusal(self.allocator)
        if refusal is not None:
            return [f"nothing on {self.target}: {refusal}"]
        return [f"CONFIG SET activedefrag yes on {self.target} (runtime only: persist it in redis.conf)"]

    def apply(self) -> Outcome:
        client = connect_redis(self.url, 5.0, client_name="sergas-remediation")
        outcome = Outcome()
        with locked(client, self.lock_name):
            refusal = defrag_refusal(memory_info(client).allocator)
            if refusal is not None:
                outcome.refused = refusal  # nothing sent
                return outcome
            try:
                _config_set(client, {"activedefrag": "yes"}, outcome)
            except redis_py.ResponseError as exc:
                # A jemalloc without Redis's defrag support (Debian's system jemalloc): the
                # server refuses the setting and nothing changed.
                if "Active defragmentation cannot be enabled" not in str(exc):
                    raise
                reason = str(exc).split(" - ", 1)[-1]
                outcome.refused = f"{self.target} refused activedefrag: {reason}"
        outcome.done = [f"{step} (runtime only: persist it in redis.conf)" for step in outcome.done]
        return outcome
