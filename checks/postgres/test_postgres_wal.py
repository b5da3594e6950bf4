"""Backup and Recovery: WAL archiving, what point-in-time recovery (`--target-time`) restores from.

`[postgres] pitr = true` says the environment promises point-in-time recovery: archive_mode on,
an archive_command or archive_library that keeps the WAL, no failure since the last success
(pg_stat_archiver: `last_failed_time > last_archived_time`), and a recent last archived WAL.

The age limits: warning at 1 hour, critical at 2 (`[thresholds."postgres.wal_archiving"]`): the
recovery point is lost by the age of the newest archived WAL, and an idle server
archives nothing unless archive_timeout forces a switch. `ready_files` counts the segments
waiting for the archiver (`.ready` files in pg_wal/archive_status, as check_postgres'
archive_ready does, read through pg_ls_archive_statusdir(): pg_monitor). A no-op
archive_command (`/bin/true`, `:`, `exit 0`) is judged critical: it reports success and keeps
nothing, so the promise is broken while pg_stat_archiver looks healthy.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from fixtures.measure import CheckRun, check
from probes.postgres import Archiving, wal_archiving
from sergas.config import Environment
from sergas.status import Limit
from sergas.units import Unit

pytestmark = [pytest.mark.postgres, pytest.mark.daily, pytest.mark.weekly]

NOT_PROMISED = (
    "point-in-time recovery not promised ([postgres] pitr = false): pg_dump backups restore to the dump's time "
    "only (pg_restore has no --target-time; recovery to a time needs archived WAL)"
)


def _at(t: dt.datetime | None) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S %Z}".strip() if t is not None else "never"


def _evidence(a: Archiving) -> str:
    return "\n".join(
        [
            f"archive_mode     {a.mode}",
            f"archive_command  {'(not readable by this role)' if a.command is None else repr(a.command)}",
            f"archive_library  {a.library!r}",
            f"archive_timeout  {a.timeout_s}s" + (" (an idle server archives nothing)" if a.timeout_s == 0 else ""),
            f"archived_count   {a.archived_count}, last {a.last_archived_wal or '-'} at {_at(a.last_archived_time)}",
            f"failed_count     {a.failed_count}, last {a.last_failed_wal or '-'} at {_at(a.last_failed_time)}",
            f"counting since   {_at(a.counting_since)}",
            "ready files      " + ("not readable: GRANT pg_monitor" if a.ready_files is None else str(a.ready_files)),
        ]
    )


@check(
    "postgres.wal_archiving",
    "WAL archived for point-in-time recovery: archive_mode, the archiver, no failure, last archive age",
    archive_age=Limit(3600, 7200, Unit.SECONDS),
    ready_files=Limit(10, 50),
)
def test_wal_archiving(postgres: psycopg.Connection, check: CheckRun, environment: Environment) -> None:
    assert environment.postgres is not None  # the postgres fixture skipped otherwise
    config = environment.postgres
    archiving = wal_archiving(postgres)
    check.attach("WAL archiving (pg_settings, pg_stat_archiver)", _evidence(archiving))
    if not config.pitr:
        check.ok(f"{NOT_PROMISED}; archive_mode {archiving.mode}")
        return
    if archiving.mode == "off":
        check.critical(
            "archive_mode = off: no WAL is archived, yet [postgres] pitr = true promises point-in-time recovery "
            "(archive_mode needs a restart)"
        )
        return
    if not archiving.archiver and archiving.command is not None:
        check.critical(
            f"archive_mode = {archiving.mode} but neither archive_command nor archive_library is set: "
            "nothing is archived and WAL piles up in pg_wal"
        )
    elif archiving.is_no_op:
        check.critical(f"{archiving.archiver} succeeds without copying: no WAL is kept for point-in-time recovery")
    if archiving.is_failing:
        check.critical(
            f"WAL archiving failing: {archiving.last_failed_wal} failed at {_at(archiving.last_failed_time)} "
            f"({archiving.failed_count} failures); last archived {archiving.last_archived_wal or 'none'} "
            f"at {_at(archiving.last_archived_time)}"
        )
    never = archiving.last_archived_time is None
    check.measure(
        "archive_age",
        archiving.age,
        label=(
            "no WAL archived since the counters began"
            if never
            else f"last archived WAL {archiving.last_archived_wal} age"
        ),
        detail=f"{archiving.archived_count} archived since {_at(archiving.counting_since)}"
        + (", archive_timeout 0: an idle server archives nothing" if archiving.timeout_s == 0 else ""),
    )
    if archiving.ready_files is None:
        check.attach("segments waiting", "pg_ls_archive_statusdir() not allowed to this role: GRANT pg_monitor")
    else:
        check.measure(
            "ready_files",
            archiving.ready_files,
            label="WAL segments waiting to be archived (.ready files)",
        )
