"""Weekly maintenance, step 6: security updates. Pending package updates on every host, judged
as monitoring-plugins' check_apt judges them: a security update pending is critical, any other
upgrade a warning (`[updates] other_updates`: critical, warning or ignore). apt package lists
older than `[updates] max_lists_age` make both counts meaningless: unknown. Read-only: apt only
simulates the upgrade (no lock taken), dnf only lists advisories."""

from __future__ import annotations

import pytest
from testinfra.host import Host

from fixtures.environment import section
from fixtures.hosts import run_bounded
from fixtures.measure import CheckRun, check
from probes.updates import COMMANDS, DAY, Pending, Survey, brief, pending_command, read_pending, survey_command
from sergas.config import Environment, UpdatesConfig
from sergas.status import Limit, Status, unknown
from sergas.units import Unit

pytestmark = [pytest.mark.weekly, pytest.mark.host, pytest.mark.hosts("*")]


@check(
    "host.security_updates",
    "No security update pending on any host; other upgrades flagged (check_apt)",
    security=Limit(None, 1),
)
def test_security_updates(host: Host, check: CheckRun, environment: Environment) -> None:
    updates: UpdatesConfig = section(environment, "updates", "package updates")
    timeout = environment.command_timeout
    survey = Survey.parse(*run_bounded(host, survey_command(updates.apt_config), timeout))
    if survey.manager == "apt":
        age = survey.lists_age()
        check.record("lists_age", age, Unit.SECONDS, label="age of the apt package lists")
        if age > updates.max_lists_age:
            raise unknown(f"apt lists are {int(age // DAY)} days old, run apt-get update")

    rc, out, err = run_bounded(host, pending_command(survey.manager, updates.apt_config), timeout)
    check.attach(COMMANDS[survey.manager], out + err or "(no output)")
    pending = read_pending(survey.manager, rc, out, err)
    check.attach("pending updates", pending.listing())
    check.measure("security", len(pending.security), label="security updates", detail=brief(pending.security))
    judge_other(check, pending, updates.other_updates)
    if pending.warning is not None:
        check.warning(pending.warning)


def judge_other(check: CheckRun, pending: Pending, policy: str) -> None:
    """Other upgrades: counted always, judged as `[updates] other_updates` says."""
    count = len(pending.other)
    check.record("other", count, label="other upgrades")
    text = f"other upgrades = {count}" + (f" ({brief(pending.other)})" if count else "")
    if count and policy != "ignore":
        check.findings.append((Status(policy), text))
    else:
        check.ok(text + (" (ignored: [updates] other_updates)" if count else ""))
