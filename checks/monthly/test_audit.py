"""Monthly maintenance, step 2: audit log review (`scripts/audit_log_analysis.py --period month`).

Over `[audit] period` (30 days), read-only through [postgres] dsn: the actions by actor and kind
(evidence), against the period before. Every actor must be an enabled user of [users] (matched
by id or address, `[audit] actor_matches`): an action by an unknown or disabled actor is
critical. A privileged action (`[audit] privileged_actions`: role changes, users created or
disabled) is a warning, listed for review. A table or column the environment names and the
database lacks leaves the check unknown, naming it.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from fixtures.environment import section
from fixtures.measure import CheckRun, check
from probes.audit import activity, evidence, listing, missing, review
from sergas.config import AuditConfig, Environment, UsersConfig
from sergas.status import Limit, unknown
from sergas.units import Unit, format_quantity

pytestmark = [pytest.mark.monthly, pytest.mark.users]


@check(
    "audit.review",
    "Every audited action is by an enabled user; privilege changes are listed for review",
    unknown_actors=Limit(None, 1),
    privileged=Limit(1, None),
)
def test_audit_review(postgres: psycopg.Connection[Any], check: CheckRun, environment: Environment) -> None:
    audit: AuditConfig = section(environment, "audit", "The audit log")
    users = environment.users or UsersConfig()
    lacking = missing(postgres, audit, users)
    if lacking:
        raise unknown(f"cannot review the audit log: {lacking}")
    rows = activity(postgres, audit, users)
    period = format_quantity(audit.period, Unit.SECONDS)
    found = review(rows, audit.privileged_actions)
    check.attach(f"actions by actor and kind, last {period} (actor, action, count)", evidence(rows))
    check.record("actions", found.actions, label=f"actions in the last {period}")
    check.record("previous_actions", found.previous_actions, label=f"actions in the {period} before")
    if found.growth is not None:
        check.record("growth", round(found.growth, 1), Unit.PERCENT, label="actions against the period before")
    check.measure(
        "unknown_actors",
        len(found.strangers),
        label="actors not enabled users",
        detail=listing(found.strangers),
    )
    check.measure("privileged", len(found.privileged), label="privileged actions", detail=listing(found.privileged))
    if found.actions == 0:
        check.warning(f"no audited action in the last {period} in {audit.table}: is the app writing its audit log?")
    elif not found.strangers and not found.privileged:
        growth = f", {found.growth:+.0f}%" if found.growth is not None else ""
        check.ok(
            f"{found.actions} actions by {found.actors} enabled users in the last {period}"
            f" ({found.previous_actions} the {period} before{growth})"
        )
