"""User Management, "Revoking Access": a disabled user keeps no live session."""

from __future__ import annotations

import psycopg
import pytest
import redis as redis_py

from actions.redis import RevokeSessions
from fixtures.measure import CheckRun, check
from fixtures.remediation import Remediation
from probes.users import disabled_users, sessions_of
from sergas.config import Environment
from sergas.status import Limit
from sergas.units import Unit

pytestmark = [pytest.mark.daily, pytest.mark.users]


@check(
    "users.disabled_sessions",
    "Disabled users have no sessions left in Redis (session:user:<id>:*)",
    sessions=Limit(None, 1, Unit.COUNT),
    offers=(RevokeSessions,),
)
def test_disabled_users_have_no_sessions(
    postgres: psycopg.Connection,
    redis: redis_py.Redis,
    redis_target: str,
    check: CheckRun,
    remediation: Remediation,
    environment: Environment,
) -> None:
    disabled = disabled_users(postgres)
    sessions = sessions_of(redis, disabled)
    count = sum(len(keys) for keys in sessions.values())
    check.record("disabled_users", len(disabled))
    users = ", ".join(sorted(sessions, key=int))
    check.measure("sessions", count, label="sessions of disabled users", detail=f"users {users}" if users else "")
    if sessions:
        check.attach("sessions of disabled users", "\n".join(f"{u}: {', '.join(k)}" for u, k in sessions.items()))
        remediation.offer(RevokeSessions(url=redis_target, sessions=sessions))
