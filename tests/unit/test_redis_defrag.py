"""redis_active_defrag without a server: what it plans and sends for each allocator and state,
and the keyspace share redis.memory records (a fake client answers INFO and CONFIG)."""

from __future__ import annotations

from typing import Any

import pytest
import redis as redis_py

import actions.redis
from actions.base import Outcome
from actions.redis import RedisActiveDefrag, defrag_refusal
from probes.redis import KeyspaceDb, memory_and_keyspace

REFUSED = (
    "CONFIG SET failed (possibly related to argument 'activedefrag') - Active defragmentation cannot be enabled:"
    " it requires a Redis server compiled with a modified Jemalloc like the one shipped by default"
)


class FakeRedis:
    """INFO, CONFIG GET/SET and the lock's SET NX / EVAL; every command is logged."""

    def __init__(self, allocator: str, activedefrag: str = "no", refuse: str | None = None) -> None:
        self.allocator, self.activedefrag, self.refuse = allocator, activedefrag, refuse
        self.sent: list[str] = []
        self.connection_pool = type("Pool", (), {"connection_kwargs": {"db": 0}})()

    def info(self, section: str | None = None) -> dict[str, Any]:
        self.sent.append(f"INFO {section or ''}".strip())
        return {
            "used_memory": 1000,
            "used_memory_rss": 3000,
            "mem_allocator": self.allocator,
            "db0": {"keys": 8, "expires": 6, "avg_ttl": 0},
        }

    def config_get(self, name: str) -> dict[str, str]:
        self.sent.append(f"CONFIG GET {name}")
        return {name: self.activedefrag}

    def config_set(self, name: str, value: str) -> bool:
        self.sent.append(f"CONFIG SET {name} {value}")
        if self.refuse:
            raise redis_py.ResponseError(self.refuse)
        self.activedefrag = value
        return True

    def set(self, key: str, value: str, **_: object) -> bool:
        return True

    def eval(self, *_: object) -> int:
        return 1


def applied(client: FakeRedis, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    monkeypatch.setattr(actions.redis, "connect_redis", lambda *_a, **_k: client)
    action = RedisActiveDefrag(url="redis://cache:6379/0", allocator=client.allocator)
    return action.bind(environment="test", target="cache:6379").apply()


def test_plan_names_the_server_and_the_setting() -> None:
    action = RedisActiveDefrag(url="redis://cache:6379/0", allocator="jemalloc-5.3.0").bind(
        environment="test", target="cache:6379"
    )
    assert action.plan() == ["CONFIG SET activedefrag yes on cache:6379 (runtime only: persist it in redis.conf)"]
    assert action.lock_name == "sergas:test:redis_active_defrag"


def test_libc_is_refused_and_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeRedis("libc")
    outcome = applied(client, monkeypatch)
    assert (
        outcome.done == []
        and outcome.summary == "refused by the target: activedefrag needs jemalloc; this server uses libc"
    )
    assert not [c for c in client.sent if c.startswith("CONFIG")]
    assert RedisActiveDefrag(url="", allocator="libc").plan() == [
        "nothing on : activedefrag needs jemalloc; this server uses libc"
    ]
    assert defrag_refusal("") == "activedefrag needs jemalloc; this server uses an unknown allocator"


def test_jemalloc_sets_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeRedis("jemalloc-5.3.0")
    outcome = applied(client, monkeypatch)
    assert outcome.done == ["CONFIG SET activedefrag yes (runtime only: persist it in redis.conf)"]
    assert client.sent[-2:] == ["CONFIG GET activedefrag", "CONFIG SET activedefrag yes"]
    again = applied(client, monkeypatch)
    assert again.done == [] and again.skipped == ["activedefrag is already yes"]
    assert client.sent.count("CONFIG SET activedefrag yes") == 1


def test_a_build_without_defrag_support_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = applied(FakeRedis("jemalloc-5.3.0", refuse=REFUSED), monkeypatch)
    assert outcome.done == [] and outcome.error is None
    assert outcome.refused == f"cache:6379 refused activedefrag: {REFUSED.split(' - ', 1)[1]}"


def test_another_error_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(redis_py.ResponseError, match="NOPERM"):
        applied(FakeRedis("jemalloc-5.3.0", refuse="NOPERM this user has no permissions"), monkeypatch)


def test_memory_and_keyspace_read_one_info() -> None:
    client = FakeRedis("jemalloc-5.3.0")
    memory, db, space = memory_and_keyspace(client)  # type: ignore[arg-type]
    assert (memory.allocator, db, space) == ("jemalloc-5.3.0", 0, KeyspaceDb(8, 6))
    assert client.sent == ["INFO"]
    assert space.with_ttl_pct == 75.0 and KeyspaceDb(0, 0).with_ttl_pct is None
