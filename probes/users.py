"""Users and their sessions: disabled accounts in the app's database, sessions in Redis."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import psycopg
import redis as redis_py
from psycopg import sql

from probes.redis import SCAN_COUNT
from sergas.config import UsersConfig

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


@dataclass(frozen=True)
class Account:
    email: str
    role: str
    disabled: bool


def admin_accounts(conn: psycopg.Connection, users: UsersConfig) -> list[Account]:
    """The accounts holding `users.admin_role`, and those whose address is in `users.admins`
    (whatever their role), from the table and columns [users] names. Read-only."""
    table = sql.Identifier(*users.table.split("."))
    email, role, disabled = (sql.Identifier(c) for c in (users.email_column, users.role_column, users.disabled_column))
    query = sql.SQL(
        "SELECT {email}::text, {role}::text, coalesce({disabled}, false) FROM {table}"
        " WHERE {role} = %s OR lower({email}) = ANY(%s) ORDER BY {email}"
    ).format(email=email, role=role, disabled=disabled, table=table)
    wanted = [address.lower() for address in users.admins]
    return [Account(*row) for row in conn.execute(query, (users.admin_role, wanted))]


def admin_problems(accounts: list[Account], users: UsersConfig) -> list[str]:
    """What is wrong with the admins: none enabled, or a required address missing, not admin, disabled."""
    by_email = {a.email.lower(): a for a in accounts}
    enabled = [a for a in accounts if a.role == users.admin_role and not a.disabled]
    problems = [] if enabled else [f"no enabled {users.admin_role} in {users.table}"]
    for address in users.admins:
        account = by_email.get(address.lower())
        if account is None:
            problems.append(f"{address}: no such user in {users.table}")
        elif account.role != users.admin_role:
            problems.append(f"{address}: role {account.role}, not {users.admin_role}")
        elif account.disabled:
            problems.append(f"{address}: {users.admin_role} but disabled")
    return problems
