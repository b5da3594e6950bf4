"""The audit log review (monthly step 2, the manual's `audit_log_analysis.py --period month`):
who did what over the period and the one before it, each actor matched to a user of [users].

One read-only query aggregates on the server (actor and kind, both periods); identifiers from
the environment file are quoted with `psycopg.sql.Identifier`, never formatted in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from sergas.config import AuditConfig, UsersConfig


def _table(name: str) -> sql.Identifier:
    return sql.Identifier(*name.split("."))


def missing(conn: psycopg.Connection[Any], audit: AuditConfig, users: UsersConfig) -> str | None:
    """What `activity` needs and the database lacks, in one line naming the key; None when all is there."""
    user_columns = {users.email_column: "email_column", users.disabled_column: "disabled_column"}
    if audit.actor_matches == "id":
        user_columns[users.id_column] = "id_column"
    needs = [
        ("audit", audit.table, {audit.actor: "actor", audit.action: "action", audit.at: "at"}),
        ("users", users.table, user_columns),
    ]
    for section, table, columns in needs:
        row = conn.execute("SELECT to_regclass(%s)::oid", (_table(table).as_string(conn),)).fetchone()
        if row is None or row[0] is None:
            return f"no table {table} ([{section}] table)"
        present = {
            r[0]
            for r in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped", (row[0],)
            )
        }
        for column, key in columns.items():
            if column not in present:
                return f"{table} has no column {column} ([{section}] {key})"
    return None


@dataclass(frozen=True)
class Activity:
    """One actor's actions of one kind: in the period, in the period before, and who the actor is."""

    actor: str | None
    action: str
    current: int
    previous: int
    last_at: dt.datetime | None  # the latest in the period
    known: bool  # a user of the [users] table
    enabled: bool
    email: str | None  # the user's address

    def who(self, note: str = "") -> str:
        """The actor as a person reads it: `user 47 (user47@sergas.com, disabled)`."""
        if self.actor is None:
            return "(no actor)"
        if self.email and self.email.lower() != self.actor.lower():
            name, details = f"user {self.actor}", [self.email]
        else:
            name, details = self.actor, []
        details += [note] if note else []
        return f"{name} ({', '.join(details)})" if details else name


def _key(expr: sql.Composable, by_email: bool) -> sql.Composable:
    """What an actor and a user are matched on: ids as text (an actor column may hold them as
    text), addresses without case."""
    return sql.SQL("lower({}::text)" if by_email else "{}::text").format(expr)


def activity(conn: psycopg.Connection[Any], audit: AuditConfig, users: UsersConfig) -> list[Activity]:
    """Actions by actor and kind over the last two periods (by the server's clock), with each
    actor's account. Read-only."""
    ident = sql.Identifier
    by_email = audit.actor_matches == "email"
    column = ident(users.email_column if by_email else users.id_column)
    query = sql.SQL(
        "WITH acts AS ("
        " SELECT {actor}::text AS actor, {action}::text AS action,"
        " count(*) FILTER (WHERE {at} >= now() - %(period)s) AS current,"
        " count(*) FILTER (WHERE {at} < now() - %(period)s) AS previous,"
        " max({at}) FILTER (WHERE {at} >= now() - %(period)s) AS last_at"
        " FROM {audit} WHERE {at} >= now() - 2 * %(period)s GROUP BY 1, 2),"
        " accounts AS ("
        " SELECT {user_key} AS key, bool_or(NOT coalesce({disabled}, false)) AS enabled,"
        " min({email}::text) AS email FROM {users} GROUP BY 1)"
        " SELECT acts.actor, acts.action, acts.current, acts.previous, acts.last_at,"
        " accounts.key IS NOT NULL, coalesce(accounts.enabled, false), accounts.email"
        " FROM acts LEFT JOIN accounts ON accounts.key = {actor_key}"
        " ORDER BY acts.current DESC, acts.actor, acts.action"
    ).format(
        actor=ident(audit.actor),
        action=ident(audit.action),
        at=ident(audit.at),
        audit=_table(audit.table),
        user_key=_key(column, by_email),
        disabled=ident(users.disabled_column),
        email=ident(users.email_column),
        users=_table(users.table),
        actor_key=_key(sql.SQL("acts.actor"), by_email),
    )
    return [Activity(*row) for row in conn.execute(query, {"period": dt.timedelta(seconds=audit.period)})]


@dataclass(frozen=True)
class Review:
    """What the period's activity says: totals, actors who are not enabled users, privilege changes."""

    actions: int
    previous_actions: int
    actors: int
    strangers: list[tuple[str, int]]  # (who, and why not: actions in the period), most first
    privileged: list[tuple[str, int]]  # (what, by whom, when last: actions in the period), most first

    @property
    def growth(self) -> float | None:
        """This period's actions against the one before, in %; None when there were none before."""
        if self.previous_actions == 0:
            return None
        return 100.0 * (self.actions - self.previous_actions) / self.previous_actions


def review(rows: list[Activity], privileged_actions: list[str]) -> Review:
    current = [r for r in rows if r.current > 0]
    strangers: dict[str, int] = {}
    for row in current:
        if not row.enabled:
            who = row.who("disabled" if row.known else "no such user")
            strangers[who] = strangers.get(who, 0) + row.current
    wanted = set(privileged_actions)
    privileged = [(f"{r.action} by {r.who()}{_last(r.last_at)}", r.current) for r in current if r.action in wanted]
    return Review(
        actions=sum(r.current for r in rows),
        previous_actions=sum(r.previous for r in rows),
        actors=len({r.actor for r in current}),
        strangers=sorted(strangers.items(), key=lambda s: (-s[1], s[0])),
        privileged=sorted(privileged, key=lambda p: (-p[1], p[0])),
    )


def _last(when: dt.datetime | None) -> str:
    if when is None:
        return ""
    if when.tzinfo is None:  # a timestamp without time zone: as the table has it
        return f", last {when:%Y-%m-%d %H:%M}"
    return f", last {when.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def listing(items: list[tuple[str, int]], limit: int = 5) -> str:
    """`who: N action(s)`, the first `limit` of them, and how many more."""
    shown = [f"{who}: {n} action{'s' if n != 1 else ''}" for who, n in items[:limit]]
    more = len(items) - limit
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def evidence(rows: list[Activity], limit: int = 500) -> str:
    """Actions by actor and kind in the period (the previous period's count beside), most first."""
    current = [r for r in rows if r.current > 0]
    lines = [f"{r.who()}\t{r.action}\t{r.current}\t(before: {r.previous})" for r in current[:limit]]
    if len(current) > limit:
        lines.append(f"... and {len(current) - limit} more actor/action pairs")
    return "\n".join(lines) or "no actions in the period"
