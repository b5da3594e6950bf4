"""Backup and Recovery: the database backups are fresh, intact, off-site, retained, and restorable.

Files are inspected on the database host (gzip and pg_restore run there, nothing is pulled); the
off-site copies in S3. What Barman's `check` and pgBackRest's `check`/`verify` do for their own
backups, done for the manual's pg_dump backups, plus the restore drill they leave to people
(opt-in: `-m drill` or `--drill`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from testinfra.host import Host

from actions.backups import (
    RotateBackups,
    RunBackup,
    RunMonthlyBackup,
    Runner,
    aged_files,
    aged_objects,
    select_expired,
)
from fixtures.backups import BackupStore, store_or_none
from fixtures.hosts import run_bounded
from fixtures.measure import CheckRun, check
from fixtures.remediation import Remediation
from probes import backups as probe
from probes.drill import DrillRefused, run_drill
from probes.s3 import ObjectHead, S3Unavailable, head_object, lifecycle_rules, list_objects
from sergas.config import BackupsConfig, Environment
from sergas.status import Limit, Status, unknown
from sergas.units import Unit, format_quantity

pytestmark = [pytest.mark.backups, pytest.mark.hosts("db")]

HOUR = 3600.0
DAY = 86400.0
SCAN_TIMEOUT = 600  # integrity and the sha256 read whole files on the host


def _listing(
    host: Host, directory: str, glob: str, pattern: re.Pattern[str], timeout: float
) -> tuple[float, list[probe.BackupFile]] | None:
    """(host clock, matching files oldest first); None when the folder does not exist."""
    rc, out, err = run_bounded(host, probe.list_command(directory, glob), timeout)
    if rc == 3:
        return None
    now = probe.host_clock(out)
    if rc != 0 or now is None:
        raise unknown(f"cannot list {directory}: {(err or out).strip()[:200] or f'exit {rc}'}")
    return now, probe.parse_listing(out, pattern)


def _daily(host: Host, check: CheckRun, backups: BackupsConfig, timeout: float) -> tuple[float, list[probe.BackupFile]]:
    found = _listing(host, backups.dir, f"{backups.file_prefix}*", probe.daily_name(backups.file_prefix), timeout)
    if found is None:
        check.critical(f"{backups.dir} does not exist: no backups")
        return 0.0, []
    now, files = found
    if not files:
        check.critical(f"no backup named {backups.file_prefix}YYYYmmdd_HHMMSS.(dump|sql.gz|sql) in {backups.dir}")
    return now, files


@pytest.mark.daily
@pytest.mark.gate
@check(
    "backups.latest_age",
    "The newest database backup is recent",
    age=Limit(None, 26 * HOUR, Unit.SECONDS),
    offers=(RunBackup,),
)
def test_latest_age(
    host: Host,
    backups: BackupsConfig,
    check: CheckRun,
    remediation: Remediation,
    environment: Environment,
    request: pytest.FixtureRequest,
) -> None:
    now, files = _daily(host, check, backups, environment.command_timeout)
    if files:
        newest = files[-1]
        check.record("backups", len(files))
        check.measure("age", newest.age(now), label=f"newest backup {newest.name} age", context={"file": newest.name})
    if check.status in (Status.WARNING, Status.CRITICAL):
        store = store_or_none(request.config, backups)
        if environment.postgres is not None:
            remediation.offer(
                RunBackup(
                    run=_runner(host),
                    backups=backups,
                    dsn=backups.dump_dsn or environment.postgres.dsn,
                    s3_client=store.client if store else None,
                    fetch=_fetcher(host),
                )
            )


def _runner(host: Host) -> Runner:
    return lambda command, timeout: run_bounded(host, command, timeout)


def _fetcher(host: Host) -> Callable[[str], bytes] | None:
    """How an action gets a file's bytes for the upload: none needed when the host is this machine."""
    return None if host.backend.NAME == "local" else (lambda path: host.file(path).content)


def _verify(host: Host, check: CheckRun, directory: str, file: probe.BackupFile, what: str) -> bool:
    """Read `file` whole on the host as backups.integrity does (gzip -t, pg_restore --list and a
    full read, or the SQL trailer) and judge it: critical when it cannot be restored, else ok
    with what it holds. True when it is sound. Serves the daily and the monthly backups."""
    path = f"{directory.rstrip('/')}/{file.name}"
    rc, out, err = run_bounded(host, probe.integrity_command(path), SCAN_TIMEOUT)
    check.attach(f"integrity of {file.name}", out + err)
    try:
        found = probe.parse_integrity(out)
    except ValueError:
        raise unknown(f"cannot inspect {path}: {(err or out).strip()[:200] or f'exit {rc}'}") from None
    check.record("size", found.size, Unit.BYTES)
    if found.pg_restore_missing:
        raise unknown(f"pg_restore is not installed: cannot read {file.name}")
    problem = probe.integrity_problem(found)
    if problem:
        check.critical(f"{what} {file.name}: {problem}")
        return False
    if found.format == "custom":
        check.record("toc_entries", found.entries)
        check.record("tables_with_data", found.table_data)
    contents = (
        f"{found.entries} TOC entries, {found.table_data} tables with data" if found.format == "custom" else "SQL"
    )
    check.ok(f"{file.name} ({format_quantity(found.size, Unit.BYTES)}, {contents}): {found.layout}")
    return True


@pytest.mark.daily
@pytest.mark.timeout(SCAN_TIMEOUT + 60)
@check(
    "backups.integrity",
    "The newest backup is complete and readable by pg_restore",
    shrink=Limit(50, None, Unit.PERCENT),
)
def test_integrity(host: Host, backups: BackupsConfig, check: CheckRun, environment: Environment) -> None:
    _now, files = _daily(host, check, backups, environment.command_timeout)
    if not files:
        return
    newest = files[-1]
    if _verify(host, check, backups.dir, newest, "newest backup") and len(files) > 1 and files[-2].size > 0:
        previous = files[-2]
        shrink = 100.0 * (previous.size - newest.size) / previous.size
        check.measure(
            "shrink",
            max(shrink, 0.0),
            label=f"{newest.name} shrink",
            context={"file": newest.name},
            detail=f"{format_quantity(newest.size, Unit.BYTES)} against "
            f"{format_quantity(previous.size, Unit.BYTES)} of {previous.name}; a table may be missing",
        )


def _compare_copy(
    host: Host, check: CheckRun, store: BackupStore, directory: str, file: probe.BackupFile, what: str
) -> ObjectHead | None:
    """Judge the S3 copy of `file` (in `directory` on the host): critical when it is missing or
    differs in size or sha256 (kept in its metadata), else ok. Its head, when there is a copy."""
    try:
        head = head_object(store.client, store.location, file.name)
    except S3Unavailable as exc:
        raise unknown(f"{store.label}: {exc}") from None
    where = store.location.key(file.name)
    if head is None:
        check.critical(f"{what} {file.name} is not in {store.location}/ (no object {where})")
        return None
    if head.size != file.size:  # no need to hash: they differ
        check.critical(f"{where} is {head.size} bytes in S3, {file.size} bytes on {check.target}: incomplete upload")
    elif head.sha256:
        rc, out, err = run_bounded(host, probe.sha256_command(f"{directory.rstrip('/')}/{file.name}"), SCAN_TIMEOUT)
        local = out.strip()
        if rc != 0 or not re.fullmatch(r"[0-9a-f]{64}", local):
            raise unknown(f"cannot compute the sha256 of {file.name}: {err.strip()[:200]}")
        if local != head.sha256.lower():
            check.critical(f"{where}: sha256 in S3 metadata {head.sha256[:12]}… differs from the local {local[:12]}…")
        check.ok(f"{file.name} is in {store.location}/: size and sha256 match")
    else:
        check.ok(
            f"{file.name} is in {store.location}/: size matches; no sha256 in the object's metadata"
            f" (ETag {head.etag} is not always an MD5)"
        )
    return head


@pytest.mark.daily
@pytest.mark.timeout(SCAN_TIMEOUT + 60)
@check(
    "backups.offsite_copy",
    "The newest backup is in S3, same size and sha256, uploaded recently",
    upload_age=Limit(None, 26 * HOUR, Unit.SECONDS),
)
def test_offsite_copy(
    host: Host, backups: BackupsConfig, backup_store: BackupStore, check: CheckRun, environment: Environment
) -> None:
    now, files = _daily(host, check, backups, environment.command_timeout)
    if not files:
        return
    newest = files[-1]
    head = _compare_copy(host, check, backup_store, backups.dir, newest, "newest backup")
    if head is not None:
        where = backup_store.location.key(newest.name)
        check.measure("upload_age", now - head.last_modified.timestamp(), label=f"{where} uploaded")


@pytest.mark.weekly
@check(
    "backups.local_retention",
    "Nothing older than the local retention remains, and the newest are kept",
    expired=Limit(1, None),
    offers=(RotateBackups,),
)
def test_local_retention(
    host: Host, backups: BackupsConfig, check: CheckRun, remediation: Remediation, environment: Environment
) -> None:
    now, files = _daily(host, check, backups, environment.command_timeout)
    days = backups.local_retention / DAY
    if not files:
        return
    # What rotate_backups would delete: past retention, never one of the newest keep_newest.
    pattern = probe.daily_name(backups.file_prefix)
    expired = select_expired(aged_files(files, now), backups.local_retention, backups.keep_newest, pattern)
    check.record("backups", len(files))
    detail = f"oldest {files[0].name}, {format_quantity(files[0].age(now), Unit.SECONDS)} old" if expired else ""
    check.measure("expired", len(expired), label=f"backups older than {days:g} days", detail=detail)
    if expired:
        remediation.offer(RotateBackups(run=_runner(host), backups=backups, s3_client=None))
    if len(files) < backups.keep_newest:
        check.critical(f"only {len(files)} backups in {backups.dir}, fewer than keep_newest {backups.keep_newest}")
    elif not expired:
        check.ok(
            f"{len(files)} backups in {backups.dir}, the oldest {format_quantity(files[0].age(now), Unit.SECONDS)} old"
        )


@pytest.mark.weekly
@check(
    "backups.s3_retention",
    "Nothing older than the S3 retention remains, and a lifecycle rule covers the prefix",
    expired=Limit(1, None),
    offers=(RotateBackups,),
)
def test_s3_retention(
    backups: BackupsConfig,
    backup_store: BackupStore,
    check: CheckRun,
    remediation: Remediation,
    environment: Environment,
) -> None:
    check.target = backup_store.label
    pattern = probe.daily_name(backups.file_prefix)
    try:
        objects = [o for o in list_objects(backup_store.client, backup_store.location) if pattern.match(o.name)]
        rules = lifecycle_rules(backup_store.client, backup_store.location)
    except S3Unavailable as exc:
        raise unknown(f"{backup_store.label}: {exc}") from None
    if not objects:
        check.critical(f"no backup in {backup_store.location}/")
        return
    aged = aged_objects(objects, pattern, dt.datetime.now(dt.UTC).timestamp())
    ages = sorted((a.age, a.name) for a in aged)
    days = backups.s3_retention / DAY
    expired = select_expired(aged, backups.s3_retention, backups.keep_newest, pattern)
    check.record("objects", len(objects))
    check.measure(
        "expired",
        len(expired),
        label=f"objects older than {days:g} days",
        detail=f"oldest {ages[-1][1]}" if expired else "",
    )
    if expired:
        remediation.offer(RotateBackups(run=None, backups=backups, s3_client=backup_store.client))
    if len(objects) < backups.keep_newest:
        check.critical(
            f"only {len(objects)} backups in {backup_store.location}/, fewer than keep_newest {backups.keep_newest}"
        )
    if not rules:
        check.warning(
            f"no enabled lifecycle rule expires objects under {backup_store.location}/:"
            " retention relies on the backup script"
        )
    else:
        rule = rules[0]
        check.ok(
            f"{len(objects)} objects, the oldest {format_quantity(ages[-1][0], Unit.SECONDS)} old; lifecycle rule "
            f"{rule.get('ID', '?')} expires them after {rule['Expiration'].get('Days', '?')} days"
        )


@pytest.mark.monthly
@pytest.mark.timeout(SCAN_TIMEOUT + 60)
@check(
    "backups.monthly_full",
    "A monthly full backup exists for the current month and is readable by pg_restore",
    offers=(RunMonthlyBackup,),
)
def test_monthly_full(
    host: Host, backups: BackupsConfig, check: CheckRun, remediation: Remediation, environment: Environment
) -> None:
    if backups.monthly_dir is None:
        pytest.skip("no monthly full backups in this environment ([backups] monthly_dir is not set)")
    pattern = probe.monthly_name(backups.file_prefix)
    found = _listing(host, backups.monthly_dir, f"{backups.file_prefix}*", pattern, environment.command_timeout)
    current: list[probe.BackupFile] = []
    if found is None:
        check.critical(f"{backups.monthly_dir} does not exist: no monthly backups")
    else:
        now, files = found
        due = probe.monthly_due(dt.datetime.fromtimestamp(now, dt.UTC).date())
        current = [f for f in files if (m := pattern.match(f.name)) and m["stamp"] >= due]
        if not current:
            newest = f" (newest: {files[-1].name})" if files else ""
            check.critical(f"no monthly full backup for {due[:4]}-{due[4:]} in {backups.monthly_dir}{newest}")
    sound = bool(current) and _verify(host, check, backups.monthly_dir, current[-1], "monthly full backup")
    if not sound and environment.postgres is not None:
        dsn = backups.dump_dsn or environment.postgres.dsn
        remediation.offer(RunMonthlyBackup(run=_runner(host), backups=backups, dsn=dsn))


def _config_archives(
    host: Host, check: CheckRun, directory: str, timeout: float
) -> tuple[float, list[probe.BackupFile]]:
    """(host clock, the configuration archives oldest first); critical when there is none."""
    found = _listing(host, directory, probe.CONFIG_GLOB, probe.CONFIG_NAME, timeout)
    if found is None or not found[1]:
        check.critical(f"no configuration archive config_YYYYmmdd_HHMMSS.tar.gz in {directory}")
        return 0.0, []
    return found


@pytest.mark.weekly
@check(
    "backups.config_backup",
    "The newest configuration archive is recent and holds the listed files",
    age=Limit(8 * DAY, 15 * DAY, Unit.SECONDS),
)
def test_config_backup(host: Host, backups: BackupsConfig, check: CheckRun, environment: Environment) -> None:
    if backups.config_dir is None:
        pytest.skip("no configuration backups in this environment ([backups] config_dir is not set)")
    timeout = environment.command_timeout
    now, files = _config_archives(host, check, backups.config_dir, timeout)
    if not files:
        return
    newest = files[-1]
    check.measure(
        "age", newest.age(now), label=f"newest configuration archive {newest.name} age", context={"file": newest.name}
    )
    rc, out, err = run_bounded(host, probe.tar_list_command(f"{backups.config_dir.rstrip('/')}/{newest.name}"), timeout)
    check.attach(f"tar -tzf {newest.name}", out + err)
    if rc != 0:
        check.critical(
            f"{newest.name} cannot be read: {err.strip().splitlines()[0] if err.strip() else f'tar exit {rc}'}"
        )
        return
    missing = probe.missing_members(out, backups.config_files)
    if missing:
        check.critical(f"{newest.name} lacks {', '.join(missing)}")
    else:
        check.ok(f"{newest.name} holds all {len(backups.config_files)} listed files")


@pytest.mark.weekly
@pytest.mark.timeout(SCAN_TIMEOUT + 60)
@check(
    "backups.config_offsite",
    "The newest configuration archive is in S3, same size and sha256; none past retention remains",
    expired=Limit(1, None),
    offers=(RotateBackups,),
)
def test_config_offsite(
    host: Host,
    backups: BackupsConfig,
    config_store: BackupStore,
    check: CheckRun,
    remediation: Remediation,
    environment: Environment,
) -> None:
    if backups.config_dir is None:
        pytest.skip("no configuration backups in this environment ([backups] config_dir is not set)")
    now, files = _config_archives(host, check, backups.config_dir, environment.command_timeout)
    if not files:
        return
    _compare_copy(host, check, config_store, backups.config_dir, files[-1], "newest configuration archive")
    pattern, retention = probe.CONFIG_NAME, backups.config_retention
    try:
        objects = [o for o in list_objects(config_store.client, config_store.location) if pattern.match(o.name)]
    except S3Unavailable as exc:
        raise unknown(f"{config_store.label}: {exc}") from None
    local = select_expired(aged_files(files, now), retention, backups.keep_newest, pattern)
    aged = aged_objects(objects, pattern, dt.datetime.now(dt.UTC).timestamp())
    remote = select_expired(aged, retention, backups.keep_newest, pattern)
    check.record("archives", len(files))
    check.record("objects", len(objects))
    oldest = max([*local, *remote], key=lambda a: a.age, default=None)
    check.measure(
        "expired",
        len(local) + len(remote),
        label=f"configuration archives older than {retention / DAY:g} days",
        detail=f"{len(local)} on {check.target}, {len(remote)} in {config_store.location}/; oldest {oldest.name}"
        if oldest
        else "",
    )
    if oldest:
        remediation.offer(RotateBackups(run=_runner(host), backups=backups, s3_client=config_store.client))


@pytest.mark.monthly
@pytest.mark.drill
@pytest.mark.timeout(3900)
@check("backups.restore_drill", "The newest backup restores into a scratch database, with its rows and alembic head")
def test_restore_drill(host: Host, backups: BackupsConfig, check: CheckRun, environment: Environment) -> None:
    if backups.drill_dsn is None:
        pytest.skip("no drill server in this environment ([backups] drill_dsn is not set)")
    _now, files = _daily(host, check, backups, environment.command_timeout)
    if not files:
        return
    newest = files[-1]
    path = f"{backups.dir.rstrip('/')}/{newest.name}"
    # Which way to restore it, from its first bytes (backups.integrity reads it whole).
    _rc, out, _err = run_bounded(host, probe.layout_command(path), environment.command_timeout)
    fmt, gzipped = probe.parse_layout(out)
    if fmt not in ("custom", "plain"):
        check.critical(f"{newest.name} cannot be restored: it is {fmt}")
        return
    try:
        result = run_drill(
            _runner(host),
            backup_path=path,
            fmt=fmt,
            gzipped=gzipped,
            drill_dsn=backups.drill_dsn,
            production_dsn=environment.postgres.dsn if environment.postgres else None,
            tables=list(backups.tables),
            timeout=backups.drill_timeout,
            connect_timeout=environment.connect_timeout,
        )
    except DrillRefused as exc:
        raise unknown(str(exc)) from None
    except Exception as exc:  # the drill server: unreachable, refused CREATE DATABASE
        raise unknown(f"restore drill could not run: {str(exc).strip().splitlines()[0][:200]}") from None
    if result.restore_seconds is not None:
        check.record("restore_time", round(result.restore_seconds, 2), Unit.SECONDS)
    if result.error:
        check.critical(f"{newest.name} did not restore into scratch database {result.database}: {result.error}")
        return
    for table, minimum in backups.tables.items():
        count = result.counts.get(table, -1)
        check.record("rows", count, label=f"rows in {table}", labels={"table": table})
        if count < 0:
            check.critical(f"restored {newest.name} has no table {table}")
        elif count < minimum:
            check.critical(f"restored {newest.name}: {table} has {count} rows, expected at least {minimum}")
    expected = environment.postgres.alembic_head if environment.postgres else None
    heads = ", ".join(result.alembic_versions) if result.alembic_versions else "none"
    if expected and result.alembic_versions != [expected]:
        check.critical(f"restored {newest.name}: alembic head {heads} != expected {expected}")
    counts = ", ".join(f"{t} {n}" for t, n in result.counts.items())
    check.ok(
        f"{newest.name} restored in {format_quantity(result.restore_seconds or 0, Unit.SECONDS)} "
        f"into {result.database} "
        f"(dropped): {counts}; alembic head {heads}"
    )
