"""users.admin_present against the sandbox's PostgreSQL (sandbox/schema.sql: 3 admins, the
first admin@sergas.com, which the demo environment's [users] admins requires)."""

from __future__ import annotations

from sandbox import Sandbox
from tests.conftest import RunChecks, environment_text

ADMIN = "users/test_admins.py"


def test_admin_present(run_checks: RunChecks) -> None:
    run = run_checks(ADMIN)
    assert run.status("users.admin_present") == "ok", run.output
    assert run.message("users.admin_present").endswith(": 3 enabled admin(s) of 3, including admin@sergas.com")


def test_required_admin_disabled(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.admins_disabled("admin@sergas.com"):
        run = run_checks(ADMIN)
    assert run.status("users.admin_present") == "critical", run.output
    assert run.message("users.admin_present").endswith(": admin@sergas.com: admin but disabled")


def test_no_enabled_admin(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.admins_disabled() as disabled:
        run = run_checks(ADMIN)
    assert len(disabled) == 3
    assert run.status("users.admin_present") == "critical", run.output
    message = run.message("users.admin_present")
    assert "no enabled admin in users" in message and "admin@sergas.com: admin but disabled" in message, message


def test_required_address_missing_or_not_admin(run_checks: RunChecks) -> None:
    env = environment_text().replace(
        'admins = ["admin@sergas.com"]', 'admins = ["admin@sergas.com", "user4@sergas.com", "nobody@sergas.com"]'
    )
    run = run_checks(ADMIN, env=env)
    assert run.status("users.admin_present") == "critical", run.output
    message = run.message("users.admin_present")
    assert "user4@sergas.com: role account_manager, not admin" in message, message
    assert "nobody@sergas.com: no such user in users" in message, message
