"""postgres.wal_archiving against the sandbox, which archives its WAL (archive_mode on, an
archive_command copying into <root>/wal_archive): ok with the archive age measured; critical
naming the failed segment when the archive_command fails (a real failure: pg_stat_archiver's);
ok with the honest note when the environment does not promise point-in-time recovery."""

from __future__ import annotations

import re

from sandbox import Sandbox
from tests.conftest import DEMO_ENV, RunChecks

CHECK = "postgres/test_postgres_wal.py"


def test_healthy_archiving_is_ok_with_its_age(run_checks: RunChecks) -> None:
    run = run_checks(CHECK)
    assert run.status("postgres.wal_archiving") == "ok", run.output
    assert re.search(
        r"last archived WAL [0-9A-F]{24} age = \S+ \(\d+ archived since ", run.message("postgres.wal_archiving")
    )
    [record] = run.checks("postgres.wal_archiving")
    measured = {m["name"]: m for m in record["measurements"]}
    assert measured["archive_age"]["unit"] == "s"
    assert measured["archive_age"]["warning"] == 3600 and measured["archive_age"]["critical"] == 7200
    assert measured["ready_files"]["value"] == 0


def test_failing_archive_command_is_critical_naming_the_segment(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.wal_archive_failing() as wal:
        run = run_checks(CHECK)
    assert run.status("postgres.wal_archiving") == "critical"
    assert re.search(
        rf"WAL archiving failing: {wal} failed at \d{{4}}-\d\d-\d\d [\d:]+ \S+ \(\d+ failures\);"
        r" last archived [0-9A-F]{24}",
        run.message("postgres.wal_archiving"),
    ), run.message("postgres.wal_archiving")
    again = run_checks(CHECK)
    assert again.status("postgres.wal_archiving") == "ok", "the fault restores archiving on exit"


def test_without_pitr_ok_with_the_note(run_checks: RunChecks) -> None:
    run = run_checks(CHECK, env=DEMO_ENV.replace("pitr = true", "pitr = false", 1))
    assert run.status("postgres.wal_archiving") == "ok"
    assert run.message("postgres.wal_archiving").endswith(
        "pg_dump backups restore to the dump's time only (pg_restore has no --target-time; recovery to a time needs"
        " archived WAL); archive_mode on"
    )
