"""probes.audit, in process: who is a stranger, what is privileged, growth, the listings; and the
[audit] section's validation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from probes.audit import Activity, evidence, listing, review
from sergas.config import ConfigError, Secrets, parse

WHEN = dt.datetime(2026, 12, 3, 10, 15, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def act(
    actor: str | None,
    action: str,
    current: int,
    previous: int = 0,
    *,
    known: bool = True,
    enabled: bool = True,
    email: str | None = None,
) -> Activity:
    return Activity(actor, action, current, previous, WHEN if current else None, known, enabled, email)


def test_strangers_are_unknown_disabled_or_missing_actors_counted_in_the_period_only() -> None:
    rows = [
        act("1", "login", 10, 8, email="admin@sergas.com"),
        act("47", "export.csv", 2, email="user47@sergas.com", enabled=False),
        act("47", "login", 1, email="user47@sergas.com", enabled=False),
        act("999", "login", 1, known=False, enabled=False),
        act(None, "login", 3, known=False, enabled=False),
        act("87", "login", 0, 5, email="user87@sergas.com", enabled=False),  # only before the period
    ]
    found = review(rows, ["user.role_change"])
    assert found.strangers == [
        ("(no actor)", 3),
        ("user 47 (user47@sergas.com, disabled)", 3),
        ("999 (no such user)", 1),
    ]
    assert (found.actions, found.previous_actions, found.actors) == (17, 13, 4)
    assert found.privileged == []


def test_privileged_actions_say_what_by_whom_and_when_in_utc() -> None:
    rows = [
        act("admin@sergas.com", "role_change", 2, email="admin@sergas.com"),
        act("ops@sergas.com", "user_create", 1, email="ops@sergas.com"),
        act("ops@sergas.com", "login", 7, email="ops@sergas.com"),
    ]
    found = review(rows, ["role_change", "user_create", "user_disable"])
    assert found.privileged == [
        ("role_change by admin@sergas.com, last 2026-12-03 09:15 UTC", 2),
        ("user_create by ops@sergas.com, last 2026-12-03 09:15 UTC", 1),
    ]
    assert found.strangers == []


@pytest.mark.parametrize(("current", "previous", "growth"), [(150, 100, 50.0), (50, 100, -50.0), (5, 0, None)])
def test_growth_against_the_period_before(current: int, previous: int, growth: float | None) -> None:
    assert review([act("a", "login", current, previous)], []).growth == growth


def test_listing_and_evidence_are_bounded() -> None:
    items = [(f"user {n}", n) for n in range(1, 8)]
    assert listing(items[:1]) == "user 1: 1 action"
    assert listing(items, limit=2) == "user 1: 1 action; user 2: 2 actions; and 5 more"
    rows = [act(str(n), "login", n, 1) for n in range(1, 5)] + [act("9", "logout", 0, 4)]
    assert evidence(rows, limit=3).splitlines() == [
        "1\tlogin\t1\t(before: 1)",
        "2\tlogin\t2\t(before: 1)",
        "3\tlogin\t3\t(before: 1)",
        "... and 1 more actor/action pairs",
    ]
    assert evidence([]) == "no actions in the period"


@pytest.mark.parametrize(
    ("audit", "error"),
    [
        ({"actor_matches": "name"}, "audit.actor_matches: Input should be 'id' or 'email'"),
        ({"period": 30}, 'audit.period: Value error, write the period with its unit, e.g. "30d"'),
        ({"when": "at"}, "audit.when: unknown key (typo?)"),
    ],
)
def test_audit_section_is_validated(audit: dict[str, object], error: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse({"name": "t", "audit": audit}, Path("f.toml"), Secrets(), environ={})
    assert error in str(raised.value)


def test_audit_section_defaults() -> None:
    env = parse({"name": "t", "audit": {}}, Path("f.toml"), Secrets(), environ={})
    assert env.audit is not None
    assert (env.audit.table, env.audit.actor, env.audit.action, env.audit.at) == ("audit_log", "actor", "action", "at")
    assert env.audit.period == 30 * 86400 and env.audit.actor_matches == "email"
    assert env.audit.privileged_actions == ["role_change", "user_create", "user_disable"]
