"""Users and their sessions: disabled accounts in the app's database, sessions in Redis."""

from __future__ import annotations

from collections import defaultdict

import psycopg
import redis as redis_py

from probes.redis import SCAN_COUNT

DISABLED_USERS_SQL = "SELECT id::text FROM users WHERE disabled"


def disabled_users(conn: psycopg.Connection) -> set[str]:
    return {row[0] for row in conn.execute(DISABLED_USERS_SQL)}


def sessions_of(client: redis_py.Redis, users: set[str], prefix: str = "session:user:") -> dict[str, list[str]]:
    """The session keys (`<prefix><id>:<token>`, the manual's pattern) of `users`, by user id.

    One SCAN over the session prefix, not one per user: the disabled users are usually few, but
    a SCAN per user would walk the whole keyspace each time.
    """
    found: dict[str, list[str]] = defaultdict(list)
    for key in client.scan_iter(match=f"{prefix}*", count=SCAN_COUNT):
        user = key[len(prefix) :].split(":", 1)[0]
        if user in users and key not in found[user]:
            found[user].append(key)
    return dict(found)
