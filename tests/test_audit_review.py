"""audit.review against the sandbox's audit_log (sandbox/schema.sql: 5000 entries over 90 days;
in the last 30 only enabled users act and nothing privileged happens): ok when healthy, critical
for an action by a disabled user or by an id no user has, a warning listing a recent role
change, unknown naming a table or column the environment names and the database lacks."""

from __future__ import annotations

import re

from sandbox import Sandbox
from tests.conftest import RunChecks, environment_text

AUDIT = "monthly/test_audit.py"
DISABLED_USER = 47  # disabled in sandbox/schema.sql (id % 40 == 7)


def test_healthy_audit_log_is_ok(run_checks: RunChecks) -> None:
    run = run_checks(AUDIT)
    assert run.status("audit.review") == "ok", run.output
    message = run.message("audit.review")
    assert re.fullmatch(
        r"\S+/sergas: actors not enabled users = 0; privileged actions = 0; "
        r"\d+ actions by \d+ enabled users in the last 30d \(\d+ the 30d before, [+-]\d+%\)",
        message,
    ), message
    [record] = run.checks("audit.review")
    measured = {m["name"]: m["value"] for m in record["measurements"]}
    assert measured["unknown_actors"] == 0 and measured["privileged"] == 0
    assert measured["actions"] > 0 and measured["previous_actions"] > 0 and "growth" in measured
    [evidence] = record["evidence"]
    assert re.search(r"^user \d+ \(user\d+@sergas\.com\)\tlogin\t\d+\t\(before: \d+\)$", evidence["content"], re.M)


def test_actions_by_a_disabled_user_and_an_unknown_id_are_critical(run_checks: RunChecks, sandbox: Sandbox) -> None:
    faults = sandbox.faults
    with faults.audit_logged(DISABLED_USER, "export.csv"), faults.audit_logged(999999, "login", minutes_ago=5):
        run = run_checks(AUDIT)
    assert run.status("audit.review") == "critical", run.output
    message = run.message("audit.review")
    assert message.endswith(
        ": actors not enabled users = 2 (999999 (no such user): 1 action;"
        f" user {DISABLED_USER} (user{DISABLED_USER}@sergas.com, disabled): 1 action) >= critical 1"
    ), message


def test_a_recent_role_change_is_listed_for_review(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.audit_logged(1, "user.role_change", minutes_ago=90):
        run = run_checks(AUDIT)
    assert run.status("audit.review") == "warning", run.output
    assert re.search(
        r": privileged actions = 1 \(user\.role_change by user 1 \(admin@sergas\.com\), "
        r"last \d{4}-\d\d-\d\d \d\d:\d\d UTC: 1 action\) >= warning 1$",
        run.message("audit.review"),
    ), run.message("audit.review")


def test_a_column_or_table_the_database_lacks_is_unknown(run_checks: RunChecks) -> None:
    run = run_checks(AUDIT, env=environment_text().replace('at = "created_at"', 'at = "occurred_at"'))
    assert run.status("audit.review") == "unknown", run.output
    assert run.message("audit.review").endswith(
        ": cannot review the audit log: audit_log has no column occurred_at ([audit] at)"
    )
    run = run_checks(
        AUDIT, env=environment_text().replace('actor = "user_id"', 'table = "app.audit"\nactor = "user_id"')
    )
    assert run.status("audit.review") == "unknown", run.output
    assert run.message("audit.review").endswith(": cannot review the audit log: no table app.audit ([audit] table)")
