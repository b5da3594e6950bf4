"""Backup remediations: take a backup now (`run_backup`), take this month's full backup
(`run_monthly_backup`), rotate backups and configuration archives past retention (`rotate_backups`).

They work on the database host through a runner (`run(command, timeout) -> (rc, stdout, stderr)`,
e.g. `lambda c, t: fixtures.hosts.run_bounded(host, c, t)`), and on S3 through a boto3 client
(probes.s3.make_client). Each holds a lock on the host (`mkdir <dir>/.sergas-<id>.lock`, atomic)
while it works and re-reads the folder under it.

Nothing lost: rotation never deletes the newest `keep_newest` backups (local and S3 counted
apart), never a name that does not match the backup naming pattern, and never follows a symlink
(only regular files directly in the folder are listed; a folder that is itself a symlink is refused).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from actions.base import Action, ActionError, Outcome, Risk
from probes import backups as probe
from probes.postgres import describe_dsn, host_side
from probes.s3 import SHA256_METADATA, S3Location, S3Object, list_objects
from sergas.config import BackupsConfig

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

Runner = Callable[[str, float], tuple[int, str, str]]
DUMP_TIMEOUT = 3600.0
COMMAND_TIMEOUT = 60.0


@contextmanager
def host_lock(run: Runner, directory: str, name: str) -> Iterator[None]:
    """`mkdir` is atomic: a second run finds the lock folder and stops."""
    lock = shlex.quote(f"{directory.rstrip('/')}/.sergas-{name}.lock")
    rc, _out, err = run(f"mkdir -p {shlex.quote(directory)} && mkdir {lock}", COMMAND_TIMEOUT)
    if rc != 0:
        raise ActionError(f"{directory}: another run holds the {name} lock ({err.strip()[:120] or f'exit {rc}'})")
    try:
        yield
    finally:
        run(f"rmdir {lock}", COMMAND_TIMEOUT)


# --- rotate_backups -------------------------------------------------------------------------
@dataclass(frozen=True)
class Aged:
    name: str
    age: float  # seconds
    taken: float  # sort key: when the backup was taken (epoch seconds)


def select_expired(items: list[Aged], retention: float, keep_newest: int, pattern: re.Pattern[str]) -> list[Aged]:
    """The backups to delete: past `retention`, never one of the newest `keep_newest`, never a
    name outside `pattern` (such names are not even counted among the newest)."""
    backups = sorted((i for i in items if pattern.match(i.name)), key=lambda i: (i.taken, i.name), reverse=True)
    return [item for item in backups[max(keep_newest, 0) :] if item.age > retention]


def aged_files(files: list[probe.BackupFile], now: float) -> list[Aged]:
    """Local backups: age from the file's mtime, as `find -mtime` (and backups.local_retention) count it."""
    return [Aged(f.name, f.age(now), f.mtime) for f in files]


def aged_objects(objects: list[S3Object], pattern: re.Pattern[str], now: float) -> list[Aged]:
    """S3 backups: age from the name's stamp (LastModified is reset by any re-upload), else LastModified."""
    aged = []
    for obj in objects:
        match = pattern.match(obj.name)
        when = probe.stamp_time(match["stamp"]) if match else None
        taken = when.timestamp() if when else obj.last_modified.timestamp()
        aged.append(Aged(obj.name, now - taken, taken))
    return aged


@dataclass(frozen=True)
class Series:
    """One kind of backup rotate_backups keeps: its folder on the host, its S3 prefix, its names
    and how long each copy is kept."""

    directory: str | None
    location: S3Location | None
    glob: str
    pattern: re.Pattern[str]
    local_retention: float
    s3_retention: float


def series_of(backups: BackupsConfig) -> list[Series]:
    """The database backups, and the configuration archives when the environment has them."""

    def where(url: str | None) -> S3Location | None:
        return S3Location.parse(url) if url else None

    found = [
        Series(
            backups.dir.rstrip("/"),
            where(backups.s3),
            f"{backups.file_prefix}*",
            probe.daily_name(backups.file_prefix),
            backups.local_retention,
            backups.s3_retention,
        )
    ]
    if backups.config_dir or backups.config_s3:
        directory = backups.config_dir.rstrip("/") if backups.config_dir else None
        retention = backups.config_retention
        found.append(
            Series(directory, where(backups.config_s3), probe.CONFIG_GLOB, probe.CONFIG_NAME, retention, retention)
        )
    return found


@dataclass(frozen=True)
class Expired:
    """What rotation deletes of one series: on the host, and in S3."""

    series: Series
    local: list[Aged]
    remote: list[Aged]


class RotateBackups(Action):
    id = "rotate_backups"
    description = "Delete local and S3 backups and configuration archives past retention, keeping the newest N"
    risk = Risk.SAFE

    def __init__(
        self,
        *,
        run: Runner | None,
        backups: BackupsConfig,
        s3_client: S3Client | None,
        now: Callable[[], float] = time.time,
    ) -> None:
        """`run` None: S3 only; `s3_client` None: the host only."""
        self.run = run
        self.backups = backups
        self.s3 = s3_client
        self.series = series_of(backups)
        self.now = now

    @property
    def directory(self) -> str:
        return self.backups.dir.rstrip("/")

    def _local(self, series: Series) -> list[Aged]:
        if self.run is None or series.directory is None:
            return []
        d = shlex.quote(series.directory)
        rc, out, err = self.run(
            f"if test -L {d}; then echo 'is a symlink' >&2; exit 4; fi; "
            + probe.list_command(series.directory, series.glob),
            COMMAND_TIMEOUT,
        )
        if rc == 3:
            return []
        if rc != 0:
            raise ActionError(f"cannot list {series.directory} on {self.target}: {err.strip()[:200] or f'exit {rc}'}")
        return aged_files(probe.parse_listing(out, series.pattern), probe.host_clock(out) or self.now())

    def _remote(self, series: Series) -> list[Aged]:
        if self.s3 is None or series.location is None:
            return []
        return aged_objects(list_objects(self.s3, series.location), series.pattern, self.now())

    def selection(self) -> list[Expired]:
        keep = self.backups.keep_newest
        return [
            Expired(
                series,
                select_expired(self._local(series), series.local_retention, keep, series.pattern),
                select_expired(self._remote(series), series.s3_retention, keep, series.pattern),
            )
            for series in self.series
        ]

    def plan(self) -> list[str]:
        steps = []
        for expired in self.selection():
            where, location = expired.series.directory, expired.series.location
            steps += [f"delete {where}/{i.name} ({i.age / 86400:.0f} days old) on {self.target}" for i in expired.local]
            steps += [f"delete {location}/{i.name} ({i.age / 86400:.0f} days old)" for i in expired.remote]
        return steps

    def apply(self) -> Outcome:
        outcome = Outcome()
        try:
            # S3 only (run is None): deleting a key twice is harmless, and the newest N are
            # chosen from the same listing, so concurrent runs delete the same set.
            lock = host_lock(self.run, self.directory, self.id) if self.run else contextlib.nullcontext()
            with lock:
                for expired in self.selection():  # again, under the lock
                    self._delete(expired, outcome)
                    if outcome.error:
                        break
        except ActionError as exc:
            outcome.error = str(exc)
        return outcome

    def _delete(self, expired: Expired, outcome: Outcome) -> None:
        directory, location = expired.series.directory, expired.series.location
        if expired.local and self.run is not None and directory is not None:
            names = " ".join(shlex.quote(i.name) for i in expired.local)
            # cd -P: the real folder; rm never follows a symlink (it would remove the link).
            rc, _out, err = self.run(f"cd -P {shlex.quote(directory)} && rm -f -- {names}", COMMAND_TIMEOUT)
            if rc != 0:
                outcome.error = f"rm in {directory} on {self.target}: {err.strip()[:200]}"
                return
            outcome.done += [f"deleted {directory}/{i.name} on {self.target}" for i in expired.local]
        if expired.remote and location is not None:
            assert self.s3 is not None  # remote ones are listed only with a client
            for start in range(0, len(expired.remote), 1000):
                batch = expired.remote[start : start + 1000]
                self.s3.delete_objects(
                    Bucket=location.bucket,
                    Delete={"Objects": [{"Key": location.key(i.name)} for i in batch], "Quiet": True},
                )
                outcome.done += [f"deleted {location}/{i.name}" for i in batch]


# --- run_backup, run_monthly_backup ---------------------------------------------------------
def dump_problem(found: probe.Integrity | None) -> str | None:
    """Why a dump just taken is not a usable custom-format archive; None when it is."""
    if found is None:
        return "cannot be inspected"
    if found.pg_restore_missing:
        return "pg_restore is not installed"
    problem = probe.integrity_problem(found)
    if problem is None and found.format != "custom":
        return f"{found.format}, not a custom-format archive"
    return problem


class RunBackup(Action):
    id = "run_backup"
    description = "Take a pg_dump -Fc backup now, verify it, upload it to S3 with its sha256"
    risk = Risk.SAFE

    def __init__(
        self,
        *,
        run: Runner,
        backups: BackupsConfig,
        dsn: str,
        s3_client: S3Client | None,
        fetch: Callable[[str], bytes] | None = None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        """`dsn`: the database to dump (a role that can read it all); pg_dump gets it without its
        password (`probes.postgres.host_side`). `fetch(path)`: the file's bytes from the host for
        the upload; None when the host is this machine (uploaded from the path)."""
        self.run = run
        self.backups = backups
        self.dsn = dsn
        self.s3 = s3_client
        self.location = S3Location.parse(backups.s3) if backups.s3 and s3_client is not None else None
        self.fetch = fetch
        self.name = self.name_at(now())

    def name_at(self, when: dt.datetime) -> str:
        return f"{self.backups.file_prefix}{when:%Y%m%d_%H%M%S}.dump"

    @property
    def directory(self) -> str:
        return self.backups.dir.rstrip("/")

    @property
    def path(self) -> str:
        return f"{self.directory}/{self.name}"

    @property
    def partial(self) -> str:
        # Hidden and outside the naming pattern: no check or rotation ever sees a half-written dump.
        return f"{self.directory}/.{self.name}.partial"

    def present(self) -> str | None:
        """A sound backup that makes this one needless (its name), else None. A daily backup is
        always taken: the check offering it found the newest too old."""
        return None

    def plan(self) -> list[str]:
        if self.present():
            return []
        steps = [
            f"pg_dump -Fc {describe_dsn(self.dsn)} -f {self.partial} on {self.target}",
            f"verify {self.partial} on {self.target}: pg_restore --list and a full read",
            f"rename it to {self.path}",
        ]
        if self.location is not None:
            steps.append(f"upload it to {self.location}/{self.name} with its sha256 in x-amz-meta-{SHA256_METADATA}")
        return steps

    def apply(self) -> Outcome:
        outcome = Outcome()
        try:
            with host_lock(self.run, self.directory, self.id):
                present = self.present()  # again, under the lock
                if present:
                    outcome.skipped.append(f"{self.directory}/{present} is there and sound")
                    return outcome
                self._dump(outcome)
                if outcome.error is None and self.location is not None:
                    self._upload(outcome)
        except ActionError as exc:
            outcome.error = str(exc)
        return outcome

    def inspect(self, path: str) -> probe.Integrity | None:
        """The integrity report of a backup on the host (backups.integrity's), None if unreadable."""
        _rc, out, _err = self.run(probe.integrity_command(path), DUMP_TIMEOUT)
        try:
            return probe.parse_integrity(out)
        except ValueError:
            return None

    def _dump(self, outcome: Outcome) -> None:
        lookup = "PG_DUMP=$(command -v pg_dump || ls -1 /usr/lib/postgresql/*/bin/pg_dump | sort -V | tail -n1); "
        script = f'{lookup}"$PG_DUMP" -Fc -d {shlex.quote(host_side(self.dsn))} -f {shlex.quote(self.partial)}'
        rc, _out, err = self.run(f"bash -c {shlex.quote(script)}", DUMP_TIMEOUT)
        if rc != 0:
            self.run(f"rm -f -- {shlex.quote(self.partial)}", COMMAND_TIMEOUT)
            outcome.error = (
                f"pg_dump failed on {self.target}: {err.strip().splitlines()[-1][:200] if err.strip() else rc}"
            )
            return
        outcome.done.append(f"pg_dump -Fc {describe_dsn(self.dsn)} -f {self.partial} on {self.target}")
        found = self.inspect(self.partial)
        problem = dump_problem(found)
        if problem or found is None:
            self.run(f"rm -f -- {shlex.quote(self.partial)}", COMMAND_TIMEOUT)
            outcome.error = f"the new backup failed verification ({problem}); removed"
            return
        outcome.done.append(f"verified {self.name}: {found.entries} TOC entries, {found.table_data} tables with data")
        target, partial = shlex.quote(self.path), shlex.quote(self.partial)
        # Never over an existing file: a backup of the same name stays as it is.
        rc, _out, err = self.run(
            f"if test -e {target}; then echo 'exists, not replaced' >&2; exit 1; fi; mv -- {partial} {target}",
            COMMAND_TIMEOUT,
        )
        if rc != 0:
            self.run(f"rm -f -- {partial}", COMMAND_TIMEOUT)
            outcome.error = f"mv to {self.path}: {err.strip()[:200]}"
            return
        outcome.done.append(f"renamed to {self.path}")

    def _upload(self, outcome: Outcome) -> None:
        assert self.location is not None
        assert self.s3 is not None  # a location is set only with a client
        rc, out, err = self.run(probe.sha256_command(self.path), DUMP_TIMEOUT)
        digest = out.strip()
        if rc != 0 or not re.fullmatch(r"[0-9a-f]{64}", digest):
            outcome.error = f"sha256 of {self.path}: {err.strip()[:200] or 'no digest'}"
            return
        key = self.location.key(self.name)
        extra: dict[str, Any] = {"Metadata": {SHA256_METADATA: digest}}  # boto3's ExtraArgs type
        if self.fetch is None:
            self.s3.upload_file(self.path, self.location.bucket, key, ExtraArgs=extra)
        else:
            self.s3.put_object(Bucket=self.location.bucket, Key=key, Body=self.fetch(self.path), **extra)
        outcome.done.append(f"uploaded {self.location}/{self.name} (sha256 {digest[:12]}…)")


class RunMonthlyBackup(RunBackup):
    """The monthly maintenance's step 1 (`pg_dump ... | gzip > monthly/<prefix>$(date +%Y%m).sql.gz`),
    done right: `pg_dump -Fc` to `<monthly_dir>/<prefix>YYYYmm.dump`, verified as run_backup
    verifies. Nothing to do when this month's full backup is there and passes the integrity check."""

    id = "run_monthly_backup"
    description = "Take this month's full backup (pg_dump -Fc, verified) into [backups] monthly_dir"
    risk = Risk.SAFE

    def __init__(
        self,
        *,
        run: Runner,
        backups: BackupsConfig,
        dsn: str,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        if backups.monthly_dir is None:
            raise ValueError("run_monthly_backup needs [backups] monthly_dir")
        self.monthly_dir = backups.monthly_dir
        when = now()
        self.month = f"{when:%Y%m}"
        super().__init__(run=run, backups=backups, dsn=dsn, s3_client=None, now=lambda: when)

    def name_at(self, when: dt.datetime) -> str:
        return f"{self.backups.file_prefix}{when:%Y%m}.dump"  # the manual's `date +%Y%m`

    @property
    def directory(self) -> str:
        return self.monthly_dir.rstrip("/")

    def present(self) -> str | None:
        """This month's newest full backup, when it passes the integrity check."""
        pattern = probe.monthly_name(self.backups.file_prefix)
        rc, out, err = self.run(probe.list_command(self.directory, f"{self.backups.file_prefix}*"), COMMAND_TIMEOUT)
        if rc == 3:
            return None
        if rc != 0:
            raise ActionError(f"cannot list {self.directory} on {self.target}: {err.strip()[:200] or f'exit {rc}'}")
        ours = [
            f for f in probe.parse_listing(out, pattern) if (m := pattern.match(f.name)) and m["stamp"] == self.month
        ]
        if not ours:
            return None
        newest = ours[-1].name
        found = self.inspect(f"{self.directory}/{newest}")
        sound = found is not None and not found.pg_restore_missing and probe.integrity_problem(found) is None
        return newest if sound else None
