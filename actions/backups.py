"""Backup remediations: take a backup now (`run_backup`), rotate past retention (`rotate_backups`).

Both work on the database host through a runner (`run(command, timeout) -> (rc, stdout, stderr)`,
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


class RotateBackups(Action):
    id = "rotate_backups"
    description = "Delete local and S3 backups past retention, keeping the newest N"
    risk = Risk.SAFE

    def __init__(
        self,
        *,
        run: Runner | None,
        backups: BackupsConfig,
        s3_client: S3Client | None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.run = run
        self.backups = backups
        self.s3 = s3_client
        self.location = S3Location.parse(backups.s3) if backups.s3 and s3_client is not None else None
        self.pattern = probe.daily_name(backups.file_prefix)
        self.now = now

    @property
    def directory(self) -> str:
        return self.backups.dir.rstrip("/")

    def _local(self) -> list[Aged]:
        if self.run is None:  # S3 only
            return []
        d = shlex.quote(self.directory)
        rc, out, err = self.run(
            f"if test -L {d}; then echo 'is a symlink' >&2; exit 4; fi; "
            + probe.list_command(self.directory, f"{self.backups.file_prefix}*"),
            COMMAND_TIMEOUT,
        )
        if rc == 3:
            return []
        if rc != 0:
            raise ActionError(f"cannot list {self.directory} on {self.target}: {err.strip()[:200] or f'exit {rc}'}")
        return aged_files(probe.parse_listing(out, self.pattern), probe.host_clock(out) or self.now())

    def _remote(self) -> list[Aged]:
        if self.location is None:
            return []
        assert self.s3 is not None  # a location is set only with a client
        return aged_objects(list_objects(self.s3, self.location), self.pattern, self.now())

    def selection(self) -> tuple[list[Aged], list[Aged]]:
        local = select_expired(self._local(), self.backups.local_retention, self.backups.keep_newest, self.pattern)
        remote = select_expired(self._remote(), self.backups.s3_retention, self.backups.keep_newest, self.pattern)
        return local, remote

    def plan(self) -> list[str]:
        local, remote = self.selection()
        steps = [f"delete {self.directory}/{i.name} ({i.age / 86400:.0f} days old) on {self.target}" for i in local]
        if self.location is not None:
            steps += [f"delete {self.location}/{i.name} ({i.age / 86400:.0f} days old)" for i in remote]
        return steps

    def apply(self) -> Outcome:
        outcome = Outcome()
        try:
            # S3 only (run is None): deleting a key twice is harmless, and the newest N are
            # chosen from the same listing, so concurrent runs delete the same set.
            lock = host_lock(self.run, self.directory, self.id) if self.run else contextlib.nullcontext()
            with lock:
                local, remote = self.selection()  # again, under the lock
                if local and self.run is not None:
                    names = " ".join(shlex.quote(i.name) for i in local)
                    # cd -P: the real folder; rm never follows a symlink (it would remove the link).
                    rc, _out, err = self.run(
                        f"cd -P {shlex.quote(self.directory)} && rm -f -- {names}", COMMAND_TIMEOUT
                    )
                    if rc != 0:
                        outcome.error = f"rm in {self.directory} on {self.target}: {err.strip()[:200]}"
                        return outcome
                    outcome.done += [f"deleted {self.directory}/{i.name} on {self.target}" for i in local]
                if remote and self.location is not None:
                    assert self.s3 is not None  # a location is set only with a client
                    for start in range(0, len(remote), 1000):
                        batch = remote[start : start + 1000]
                        self.s3.delete_objects(
                            Bucket=self.location.bucket,
                            Delete={"Objects": [{"Key": self.location.key(i.name)} for i in batch], "Quiet": True},
                        )
                        outcome.done += [f"deleted {self.location}/{i.name}" for i in batch]
        except ActionError as exc:
            outcome.error = str(exc)
        return outcome


# --- run_backup -----------------------------------------------------------------------------
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
        self.name = f"{backups.file_prefix}{now():%Y%m%d_%H%M%S}.dump"

    @property
    def path(self) -> str:
        return f"{self.backups.dir.rstrip('/')}/{self.name}"

    @property
    def partial(self) -> str:
        # Hidden and outside the naming pattern: no check or rotation ever sees a half-written dump.
        return f"{self.backups.dir.rstrip('/')}/.{self.name}.partial"

    def plan(self) -> list[str]:
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
            with host_lock(self.run, self.backups.dir, self.id):
                self._dump(outcome)
                if outcome.error is None and self.location is not None:
                    self._upload(outcome)
        except ActionError as exc:
            outcome.error = str(exc)
        return outcome

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
        _rc, out, _err = self.run(probe.integrity_command(self.partial), DUMP_TIMEOUT)
        try:
            found = probe.parse_integrity(out)
        except ValueError:
            found = None
        problem = (
            "cannot be inspected"
            if found is None
            else "is empty"
            if found.format == "empty"
            else f"is {found.format}, not a custom-format archive"
            if found.format != "custom"
            else found.list_error or found.read_error
        )
        if problem:
            self.run(f"rm -f -- {shlex.quote(self.partial)}", COMMAND_TIMEOUT)
            outcome.error = f"the new backup failed verification ({problem}); removed"
            return
        assert found is not None
        outcome.done.append(f"verified {self.name}: {found.entries} TOC entries, {found.table_data} tables with data")
        rc, _out, err = self.run(f"mv -- {shlex.quote(self.partial)} {shlex.quote(self.path)}", COMMAND_TIMEOUT)
        if rc != 0:
            outcome.error = f"mv {self.partial}: {err.strip()[:200]}"
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
