"""Fuzzing the probes that read a client's answers: Redis INFO (as redis-py parses its text) and
script replies, PostgreSQL rows (with NULL wherever the server may answer one), S3 listings.
Same contract and profiles as tests/unit/test_fuzz_parsers.py (see there how to run it long).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import psycopg
import pytest
import redis as redis_py
from hypothesis import example, given
from hypothesis import strategies as st
from redis._parsers.helpers import parse_info

from probes import postgres, redis, s3
from sergas.status import CheckOutcome
from tests.unit.test_fuzz_parsers import FUZZ, GARBAGE, documented, judged, mutated_json, text_of

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# --- Redis -----------------------------------------------------------------------------------

INFO = """\
# Server\r
redis_version:7.2.4\r
uptime_in_seconds:86400\r
# Clients\r
connected_clients:12\r
blocked_clients:0\r
maxclients:10000\r
# Memory\r
used_memory:1048576000\r
used_memory_rss:1258291200\r
maxmemory:2147483648\r
maxmemory_policy:allkeys-lru\r
mem_fragmentation_ratio:1.20\r
allocator_frag_ratio:1.01\r
# Persistence\r
rdb_changes_since_last_save:12\r
rdb_last_save_time:1764590000\r
rdb_last_bgsave_status:ok\r
aof_enabled:0\r
aof_last_bgrewrite_status:ok\r
aof_last_write_status:ok\r
# Stats\r
keyspace_hits:987654\r
keyspace_misses:12345\r
rejected_connections:0\r
# Keyspace\r
db0:keys=10234,expires=9000,avg_ttl=3600000,subexpiry=0\r
"""


class FakeRedis:
    """What the probes call on a client: INFO answers `info` as redis-py parses it, CONFIG GET
    `config`, a script `reply`."""

    def __init__(self, info: str = "", config: dict[str, str] | None = None, reply: Any = None) -> None:
        self.parsed = parse_info(info)  # type: ignore[no-untyped-call]
        self.config = config or {}
        self.reply = reply
        self.connection_pool = SimpleNamespace(connection_kwargs={"db": 0})

    def info(self, section: str) -> dict[str, Any]:
        return cast(dict[str, Any], self.parsed)

    def config_get(self, name: str) -> dict[str, str]:
        return {k: v for k, v in self.config.items() if k == name}

    def time(self) -> tuple[int, int]:
        return 1764600000, 123456

    def execute_command(self, *args: Any, **options: Any) -> Any:
        return self.reply


def client_of(fake: FakeRedis) -> redis_py.Redis:
    return cast(redis_py.Redis, fake)


@FUZZ
@given(text_of(INFO), st.dictionaries(st.sampled_from(["maxclients", "save"]), GARBAGE))
@example(INFO.replace("used_memory:1048576000", "used_memory:²"), {})  # ValueError: isdigit() takes it
@example(INFO.replace("used_memory:", "used_mem:"), {})  # KeyError
@example(INFO.replace("1.20", "1,2"), {})  # TypeError: redis-py reads a list
@example(INFO.replace("1.20", "x"), {})  # ValueError from float()
@example(INFO.replace("1.20", "nan"), {})  # NaN ratio, judged ok
@example(INFO.replace("maxclients:10000", ""), {"maxclients": "x"})  # ValueError from CONFIG GET
@example(INFO.replace("86400", "--1"), {})  # ValueError
@example(INFO.replace("1048576000", "9" * 400), {})  # OverflowError in used_pct
def test_redis_info(info: str, config: dict[str, str]) -> None:
    client = client_of(FakeRedis(info, config))
    memory = documented(lambda: redis.memory_info(client), CheckOutcome)
    if memory is not None:
        judged(memory.used_pct)
        judged(memory.fragmentation_ratio)
        judged(memory.allocator_ratio)
    judged(redis.lookups(client).hit_rate)
    judged(redis.clients(client).used_pct)
    state = redis.persistence(client)
    assert state.last_save_age >= 0 and isinstance(state.is_on, bool)
    _db, space = redis.keyspace_db(client)
    judged(space.without_ttl)
    judged(redis.server_clock(client).started)


REPLY = st.recursive(
    st.none() | st.integers() | st.binary(max_size=8) | GARBAGE.map(str.encode),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=10,
)


@FUZZ
@given(REPLY | mutated_json([b"1712", 250, [b"session:user:42:abc", b"session:user:7:def"]], REPLY))
@example([None, 1, []])  # TypeError: int(None)
@example([b"x", 1, []])  # ValueError
@example([b"0", [], []])  # TypeError
@example([b"0", 1, [1]])  # a key that is not bytes: AttributeError when decoded
def test_redis_ttl_page_reply(reply: Any) -> None:
    client = client_of(FakeRedis(reply=reply))
    documented(lambda: redis.no_ttl_page_scripted(client, 0, "session:*", 250), redis_py.DataError)


# --- PostgreSQL: rows as psycopg returns them ---------------------------------------------


class FakeConnection:
    """Answers every query with `rows` (the probes under test run one query each)."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def execute(self, query: object, params: object = None) -> FakeConnection:
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def transaction(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()


NAME = st.text(max_size=8)
BIGINT = st.integers(0, 2**63 - 1)
SIZE = BIGINT | st.none()  # pg_*_size() of a relation dropped while the query ran is NULL
SECONDS = st.floats(-1e3, 1e10)  # EXTRACT(epoch FROM now() - t): a little negative under clock skew
FLOAT8 = st.floats(allow_nan=False, allow_infinity=False)
WHEN = st.datetimes(timezones=st.just(dt.UTC))
# reltuples (-1 before the first ANALYZE), autovacuum threshold and scale factor, autovacuum on
ANALYZED = (st.floats(-1, 1e12), st.floats(0, 2**31), st.floats(0, 100), st.booleans())

# Each probe that reads rows, the columns of its query, and what its callers compute from them.
ROWS: dict[str, tuple[Callable[[psycopg.Connection], Any], tuple[st.SearchStrategy[Any], ...]]] = {
    "connection_usage": (postgres.connection_usage, (BIGINT, st.integers(0, 100), BIGINT, BIGINT, BIGINT)),
    "running_statements": (
        postgres.running_statements,
        (BIGINT, NAME, NAME, NAME, SECONDS | st.none(), NAME | st.none(), WHEN),
    ),
    "largest_tables": (postgres.largest_tables, (NAME, NAME, SIZE, SIZE, SIZE)),
    "table_activity": (
        postgres.table_activity,
        (NAME, NAME, *[BIGINT] * 4, *[st.booleans()] * 2, SECONDS, SECONDS, *ANALYZED),
    ),
    "bloat_estimates": (
        postgres.bloat_estimates,
        (st.sampled_from(["table", "index"]), NAME, NAME, NAME, BIGINT, BIGINT, st.booleans()),
    ),
    "unused_and_invalid_indexes": (postgres.unused_and_invalid_indexes, (NAME, NAME, NAME, SIZE, st.booleans())),
    "sequentially_scanned_tables": (
        functools.partial(postgres.sequentially_scanned_tables, min_size=0, min_scans=10),
        (NAME, NAME, SIZE, st.integers(10, 2**63 - 1), BIGINT, BIGINT, BIGINT),
    ),
    "statements": (
        postgres.statements,
        (BIGINT | st.none(), NAME, st.integers(1, 2**63 - 1), FLOAT8, FLOAT8, NAME | st.none(), FLOAT8 | st.none()),
    ),
    "frozen_ages": (postgres.frozen_ages, (NAME, BIGINT, BIGINT)),
}
_DERIVED = ("used_pct", "share", "dead_share", "autovacuum_trigger", "seq_share", "rows_per_seq_scan")


def _read(name: str, rows: list[tuple[Any, ...]]) -> None:
    found = ROWS[name][0](cast(psycopg.Connection, FakeConnection(rows)))
    for item in found if isinstance(found, list | tuple) else [found]:
        for each in item if isinstance(item, list) else [item]:  # unused_and_invalid_indexes: two lists
            for attribute in _DERIVED:
                if hasattr(each, attribute):
                    judged(getattr(each, attribute))


@pytest.mark.parametrize("name", list(ROWS))
@FUZZ
@given(data=st.data())
def test_postgres_rows(name: str, data: st.DataObject) -> None:
    _read(name, data.draw(st.lists(st.tuples(*ROWS[name][1]), min_size=1, max_size=4), label="rows"))


# The examples that failed (st.data() takes no @example): a relation dropped while the query ran.
@pytest.mark.parametrize(
    ("name", "row"),
    [
        ("largest_tables", ("public", "t", None, None, None)),  # TypeError: int(None)
        ("unused_and_invalid_indexes", ("public", "t", "t_idx", None, True)),
        ("sequentially_scanned_tables", ("public", "t", None, 10, 0, 0, 0)),
    ],
)
def test_postgres_rows_of_a_dropped_relation(name: str, row: tuple[Any, ...]) -> None:
    _read(name, [row])


# --- S3 --------------------------------------------------------------------------------------

OBJECT = st.fixed_dictionaries(
    {},
    optional={
        "Key": st.sampled_from(["database/sergas_prod_20251201_020000.dump", "database/"]) | st.text(max_size=20),
        "Size": st.integers(0, 2**63 - 1),
        "LastModified": WHEN,
        "ETag": st.text(max_size=10),
    },
)
PAGE = st.fixed_dictionaries({}, optional={"Contents": st.lists(OBJECT, max_size=3), "KeyCount": BIGINT})
HEAD = st.fixed_dictionaries(
    {},
    optional={
        "ContentLength": st.integers(0, 2**63 - 1),
        "LastModified": WHEN,
        "Metadata": st.dictionaries(st.sampled_from(["sha256", "SHA256", "other"]), st.text(max_size=10)),
        "ETag": st.text(max_size=10),
    },
)
RULE = st.fixed_dictionaries(
    {},
    optional={
        "Status": st.sampled_from(["Enabled", "Disabled"]),
        "Expiration": st.fixed_dictionaries({}, optional={"Days": st.integers(0, 3650)}),
        "Filter": st.fixed_dictionaries(
            {}, optional={"Prefix": NAME, "And": st.fixed_dictionaries({}, optional={"Prefix": NAME})}
        ),
        "Prefix": NAME,
    },
)


class FakeS3:
    """A boto3 S3 client's answers, as botocore parses them (typed, any member left out)."""

    def __init__(self, pages: list[dict[str, Any]], head: dict[str, Any], rules: list[dict[str, Any]]) -> None:
        self.pages, self.head, self.rules = pages, head, rules

    def get_paginator(self, name: str) -> SimpleNamespace:
        return SimpleNamespace(paginate=lambda **kwargs: iter(self.pages))

    def head_object(self, **kwargs: Any) -> dict[str, Any]:
        return self.head

    def get_bucket_lifecycle_configuration(self, **kwargs: Any) -> dict[str, Any]:
        return {"Rules": self.rules}


@FUZZ
@given(st.lists(PAGE, max_size=3), HEAD, st.lists(RULE, max_size=3))
@example([{"Contents": [{"Key": "database/x.dump"}]}], {}, [])  # was KeyError: 'Size', 'ContentLength'
@example([{"Contents": [{"Size": 1, "LastModified": dt.datetime(2025, 12, 1, tzinfo=dt.UTC)}]}], {}, [])  # 'Key'
@example([{"Contents": [{"Key": "database/x.dump", "Size": 1}]}], {"ContentLength": 1}, [])  # 'LastModified'
def test_s3_answers(pages: list[dict[str, Any]], head: dict[str, Any], rules: list[dict[str, Any]]) -> None:
    client = cast("S3Client", FakeS3(pages, head, rules))
    location = s3.S3Location("sergas-backups", "database")
    for found in documented(lambda: s3.list_objects(client, location), s3.S3Unavailable) or []:
        assert isinstance(found.name, str)
    documented(lambda: s3.head_object(client, location, "sergas_prod_20251201_020000.dump"), s3.S3Unavailable)
    documented(lambda: s3.lifecycle_rules(client, location), s3.S3Unavailable)
