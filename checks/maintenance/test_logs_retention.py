"""Weekly Maintenance, step 2: "Clean old logs (keep 30 days)"."""

from __future__ import annotations

import time

import pytest
from testinfra.host import Host

from actions.logs import CleanOldLogs
from fixtures.hosts import run_bounded
from fixtures.logs import Logs
from fixtures.measure import CheckRun, check
from fixtures.remediation import Remediation
from probes.host import old_logs_command, parse_old_logs
from sergas.config import Environment
from sergas.status import Limit, unknown
from sergas.units import Unit, format_quantity

pytestmark = [pytest.mark.weekly, pytest.mark.logs, pytest.mark.hosts("app")]


@check(
    "logs.retention",
    "No log file older than the retention is left in the log folder",
    old_files=Limit(1, None),
    offers=(CleanOldLogs,),
)
def test_logs_retention(
    host: Host, logs: Logs, check: CheckRun, remediation: Remediation, environment: Environment
) -> None:
    folder = logs.config.dir
    if folder is None:
        pytest.skip("no log folder to hold to a retention ([logs] dir)")
    days = round(logs.config.retention / 86400)
    rc, out, err = run_bounded(host, old_logs_command(folder, days), logs.timeout)
    if rc != 0:
        raise unknown(f"cannot list {folder}: {err.strip()[:160]}")
    old = parse_old_logs(out, time.time())
    size = sum(f.size for f in old)
    check.measure(
        "old_files",
        len(old),
        label=f"log files in {folder} older than {days}d",
        detail=f"{format_quantity(size, Unit.BYTES)}, oldest {old[0].name} {old[0].age_days:.0f}d" if old else "",
    )
    if old:
        check.attach("old log files", "\n".join(f"{f.age_days:6.1f}d {f.size:>12} {f.name}" for f in old))
        remediation.offer(
            CleanOldLogs(
                host=host,
                directory=folder,
                files=[f.name for f in old],
                retention_days=days,
                journald=logs.config.source == "journald",
            )
        )
