"""User Management, "Creating Admin User": the application keeps an administrator.

At least one enabled account holds the admin role, and every address of `[users] admins`
exists, holds it and is enabled. Read-only SQL on the users table ([users] names the table and
its columns; the defaults are the Sergas schema's).
"""

from __future__ import annotations

import psycopg
import pytest

from fixtures.measure import CheckRun, check
from probes.users import admin_accounts, admin_problems
from sergas.config import Environment, UsersConfig

pytestmark = [pytest.mark.weekly, pytest.mark.users]


@check("users.admin_present", "An enabled admin exists, and every address of [users] admins is one")
def test_admin_present(postgres: psycopg.Connection, check: CheckRun, environment: Environment) -> None:
    users = environment.users or UsersConfig()
    accounts = admin_accounts(postgres, users)
    admins = [a for a in accounts if a.role == users.admin_role]
    enabled = [a for a in admins if not a.disabled]
    check.record("admins", len(admins))
    check.record("enabled_admins", len(enabled))
    check.attach(
        f"{users.admin_role} accounts and required addresses",
        "\n".join(f"{a.email}: {a.role}{', disabled' if a.disabled else ''}" for a in accounts) or "none",
    )
    problems = admin_problems(accounts, users)
    for problem in problems:
        check.critical(problem)
    if not problems:
        required = f", including {', '.join(users.admins)}" if users.admins else ""
        check.ok(f"{len(enabled)} enabled {users.admin_role}(s) of {len(admins)}{required}")
