"""The sandbox's backups: a database backup folder with 40 days of history, a monthly full, a
configuration archive, and their copies in the sandbox's S3.

Made the way the manual's scripts make them, from a REAL pg_dump of the sandbox database:
- daily `sergas_prod_YYYYmmdd_HHMMSS.sql.gz` = `pg_dump -F c | gzip` (the manual's layout). The
  newest is taken now; the 29 before it are copies of it (gzip levels vary, so sizes do too) dated
  02:00 UTC on each previous day, mtimes set to match. Local retention (30 days) is applied, so
  the days 30..39 exist only in S3 (within its 90 days);
- monthly `monthly/sergas_prod_YYYYmm.sql.gz` = `pg_dump | gzip` (plain SQL), this month;
- `config/config_YYYYmmdd_HHMMSS.tar.gz` holding the files listed in environments/demo.toml,
  weekly over 12 weeks (the newest 2 days old);
- S3 `s3://sergas-backups/database/<name>` for each daily, `s3://sergas-backups/config/<name>`
  for the configuration archive, each with its sha256 in the metadata.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import os
import subprocess
import tarfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sandbox.control import Handler, undone_after
from sandbox.s3 import BUCKET
from sandbox.s3 import client as s3_client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "sergas_prod_"
S3_PREFIX = "database"
CONFIG_S3_PREFIX = "config"
CONFIG_WEEKS = 12
DAYS_LOCAL = 30  # today and the 29 days before it
DAYS_TOTAL = 40
CONFIG_FILES = {
    "etc/systemd/system/sergas-app.service": "[Service]\nExecStart=/home/sergas/venv/bin/uvicorn app:app\n",
    "etc/nginx/sites-available/sergas": "server { listen 443 ssl; location / { proxy_pass http://127.0.0.1:8000; } }\n",
    "home/sergas/super-account-manager/.env": (
        "ENVIRONMENT=sandbox\nLOG_LEVEL=INFO\n"
        "# app.config_env reads these by name: their values never leave the host\n"
        'export SECRET_KEY="sandbox-env-secret-value-7f3a9c"\n'
        "ZOHO_CLIENT_ID=1000.SANDBOXCLIENT\n"
        "ZOHO_CLIENT_SECRET='sandbox-zoho-secret-value-b41d7e'  # quoted, with a comment\n"
        "DATABASE_POOL_SIZE=5\n"
        "DATABASE_MAX_OVERFLOW=5  # 10 per worker, of the 17 connections the sandbox's PostgreSQL accepts\n"
    ),
    "home/sergas/super-account-manager/alembic.ini": "[alembic]\nscript_location = migrations\n",
}


@dataclass(frozen=True)
class BackupLayout:
    root: Path

    @property
    def database(self) -> Path:
        return self.root / "backups" / "database"

    @property
    def monthly(self) -> Path:
        return self.root / "backups" / "monthly"

    @property
    def config(self) -> Path:
        return self.root / "backups" / "config"

    @property
    def config_sources(self) -> list[Path]:
        return [self.root / rel for rel in CONFIG_FILES]


def daily_name(when: dt.datetime, ext: str = "sql.gz") -> str:
    return f"{PREFIX}{when:%Y%m%d_%H%M%S}.{ext}"


def config_archive_name(when: dt.datetime) -> str:
    return f"config_{when:%Y%m%d_%H%M%S}.tar.gz"


def pg_dump(bin_dir: Path, dsn: str, *, custom: bool = True, timeout: float = 600) -> bytes:
    argv = [str(bin_dir / "pg_dump"), "-d", dsn] + (["-Fc"] if custom else [])
    result = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pg_dump failed ({result.returncode}): {result.stderr.decode().strip()}")
    return result.stdout


def write(path: Path, data: bytes, when: dt.datetime) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def upload(client: S3Client, key: str, data: bytes) -> None:
    client.put_object(Bucket=BUCKET, Key=key, Body=data, Metadata={"sha256": hashlib.sha256(data).hexdigest()})


def build(
    root: Path, bin_dir: Path, superuser_dsn: str, s3_client: S3Client, now: dt.datetime | None = None
) -> BackupLayout:
    """Create the whole history under `root/backups` and in S3; return where it is."""
    layout = BackupLayout(root)
    now = now or dt.datetime.now(dt.UTC)
    custom = pg_dump(bin_dir, superuser_dsn)
    plain = pg_dump(bin_dir, superuser_dsn, custom=False)
    uploads: list[tuple[str, bytes]] = []

    newest = now - dt.timedelta(minutes=5)
    data = gzip.compress(custom, compresslevel=6, mtime=0)
    write(layout.database / daily_name(newest), data, newest)
    uploads.append((f"{S3_PREFIX}/{daily_name(newest)}", data))
    midnight = now.replace(hour=2, minute=0, second=0, microsecond=0)
    for day in range(1, DAYS_TOTAL):
        when = midnight - dt.timedelta(days=day)
        data = gzip.compress(custom, compresslevel=1 + day % 9, mtime=0)
        if day < DAYS_LOCAL:
            write(layout.database / daily_name(when), data, when)
        uploads.append((f"{S3_PREFIX}/{daily_name(when)}", data))

    month_start = now.replace(day=1, hour=3, minute=0, second=0, microsecond=0)
    write(layout.monthly / f"{PREFIX}{now:%Y%m}.sql.gz", gzip.compress(plain, mtime=0), min(month_start, now))

    for rel, text in CONFIG_FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for source in layout.config_sources:
            tar.add(source, arcname=str(source).lstrip("/"))
    for week in range(CONFIG_WEEKS):  # weekly, the newest 2 days old: all within the 90 days
        config_time = now - dt.timedelta(days=2 + 7 * week)
        config_name = config_archive_name(config_time)
        write(layout.config / config_name, buffer.getvalue(), config_time)
        uploads.append((f"{CONFIG_S3_PREFIX}/{config_name}", buffer.getvalue()))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda item: upload(s3_client, *item), uploads))
    return layout


class BackupFaults:
    """The backup and S3 fault states (part of `sandbox.faults`); each restores on exit.

    The backups are under `root` (`BackupLayout`), their copies in the S3 at `s3_endpoint`,
    reached with the environment's key; `lifecycle` stops and starts the S3 server and revokes
    and restores that key (see `sandbox.control.Handler`).
    """

    def __init__(
        self, root: Path, s3_endpoint: str, s3_access_key_id: str, s3_secret_access_key: str, lifecycle: Handler
    ) -> None:
        self.backup_layout = BackupLayout(root)
        self.s3_endpoint = s3_endpoint
        self.s3_access_key_id = s3_access_key_id
        self.s3_secret_access_key = s3_secret_access_key
        self.lifecycle = lifecycle

    def _s3(self) -> S3Client:
        return s3_client(self.s3_endpoint, self.s3_access_key_id, self.s3_secret_access_key)

    def _newest(self) -> Path:
        return max(self.backup_layout.database.glob(f"{PREFIX}*"), key=lambda p: p.stat().st_mtime)

    @contextmanager
    def backup_too_old(self, hours: float = 48) -> Iterator[list[str]]:
        """The backup job stopped `hours` ago: the backups taken since then leave the folder (to
        `backups/.held`) and come back on exit. Yields their names."""
        layout = self.backup_layout
        held = layout.root / "backups" / ".held"
        held.mkdir(exist_ok=True)
        cutoff = time.time() - hours * 3600
        moved = [p for p in layout.database.glob(f"{PREFIX}*") if p.stat().st_mtime > cutoff]
        for path in moved:
            path.rename(held / path.name)
        try:
            yield [p.name for p in moved]
        finally:
            for path in moved:
                (held / path.name).rename(path)

    @contextmanager
    def backup_broken(self, kind: str) -> Iterator[str]:
        """A newest backup that is broken, taken now (removed on exit); yields its name.

        "truncated": a real pg_dump -Fc archive (.dump) cut at 60%; "corrupt_gzip": the manual's
        layout (.sql.gz) with bytes flipped in the middle; "empty": 0 bytes (.sql.gz), as when
        pg_dump failed under a script without pipefail writing nothing.
        """
        newest = self._newest()
        custom = gzip.decompress(newest.read_bytes())
        if kind == "truncated":
            ext, data = "dump", custom[: int(len(custom) * 0.6)]
        elif kind == "corrupt_gzip":
            raw = bytearray(gzip.compress(custom, mtime=0))
            for i in range(len(raw) // 2, len(raw) // 2 + 16):
                raw[i] ^= 0xFF
            ext, data = "sql.gz", bytes(raw)
        elif kind == "empty":
            ext, data = "sql.gz", b""
        else:
            raise ValueError(f"unknown broken backup {kind!r}: truncated, corrupt_gzip or empty")
        now = dt.datetime.now(dt.UTC)
        path = write(self.backup_layout.database / daily_name(now, ext), data, now)
        try:
            yield path.name
        finally:
            path.unlink(missing_ok=True)

    @contextmanager
    def backup_missing_in_s3(self) -> Iterator[str]:
        """The newest backup's S3 copy is gone (the upload stopped); put back on exit."""
        client, key = self._s3(), f"{S3_PREFIX}/{self._newest().name}"
        saved = client.get_object(Bucket=BUCKET, Key=key)
        body, metadata = saved["Body"].read(), saved.get("Metadata", {})
        client.delete_object(Bucket=BUCKET, Key=key)
        try:
            yield key
        finally:
            client.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata=metadata)

    @contextmanager
    def retention_not_applied(self) -> Iterator[None]:
        """The rotation stopped: local backups 31..40 days old and S3 objects 91..100 days old
        remain (removed on exit)."""
        layout, client = self.backup_layout, self._s3()
        data = self._newest().read_bytes()
        midnight = dt.datetime.now(dt.UTC).replace(hour=2, minute=0, second=0, microsecond=0)
        local = [
            write(layout.database / daily_name(midnight - dt.timedelta(days=d)), data, midnight - dt.timedelta(days=d))
            for d in range(31, 41)
        ]
        keys = [f"{S3_PREFIX}/{daily_name(midnight - dt.timedelta(days=d))}" for d in range(91, 101)]
        for key in keys:
            upload(client, key, data)
        try:
            yield
        finally:
            for path in local:
                path.unlink(missing_ok=True)
            client.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in keys]})

    @contextmanager
    def monthly_broken(self, kind: str) -> Iterator[str]:
        """This month's full backup "missing" (moved to `backups/.held`) or "truncated" (its
        gzip cut in half); put back on exit, and whatever was written in its place meanwhile
        (a run_monthly_backup) removed. Yields its name."""
        monthly = self.backup_layout.monthly
        [path] = monthly.glob(f"{PREFIX}{dt.datetime.now(dt.UTC):%Y%m}.*")
        before = set(monthly.iterdir())
        saved, stat = path.read_bytes(), path.stat()
        if kind == "missing":
            path.unlink()
        elif kind == "truncated":
            path.write_bytes(saved[: len(saved) // 2])
        else:
            raise ValueError(f"unknown broken monthly backup {kind!r}: missing or truncated")
        try:
            yield path.name
        finally:
            for extra in set(monthly.iterdir()) - before:
                extra.unlink(missing_ok=True)
            path.write_bytes(saved)
            os.utime(path, (stat.st_atime, stat.st_mtime))

    def _newest_config(self) -> tuple[Path, str]:
        path = max(self.backup_layout.config.glob("config_*.tar.gz"), key=lambda p: p.stat().st_mtime)
        return path, f"{CONFIG_S3_PREFIX}/{path.name}"

    @contextmanager
    def config_copy_broken(self, kind: str) -> Iterator[str]:
        """The newest configuration archive's S3 copy "missing", or differing in "size" (cut, its
        metadata the original's sha256) or in "sha256" (same size, bytes flipped, metadata the
        flipped bytes' sha256: a faithful upload of a changed file). Put back on exit; yields the key."""
        client, (path, key) = self._s3(), self._newest_config()
        data = path.read_bytes()
        if kind == "missing":
            client.delete_object(Bucket=BUCKET, Key=key)
        elif kind == "size":
            client.put_object(
                Bucket=BUCKET, Key=key, Body=data[:-10], Metadata={"sha256": hashlib.sha256(data).hexdigest()}
            )
        elif kind == "sha256":
            upload(client, key, data[:-1] + bytes([data[-1] ^ 0xFF]))
        else:
            raise ValueError(f"unknown broken configuration copy {kind!r}: missing, size or sha256")
        try:
            yield key
        finally:
            upload(client, key, data)

    @contextmanager
    def config_archive_expired(self, days: int = 100) -> Iterator[str]:
        """A configuration archive `days` old left on the host and in S3 (past the 90 days); both
        removed on exit if still there. Yields its name."""
        client, (newest, _key) = self._s3(), self._newest_config()
        when = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        data = newest.read_bytes()
        path = write(self.backup_layout.config / config_archive_name(when), data, when)
        key = f"{CONFIG_S3_PREFIX}/{path.name}"
        upload(client, key, data)
        try:
            yield path.name
        finally:
            path.unlink(missing_ok=True)
            client.delete_object(Bucket=BUCKET, Key=key)

    @contextmanager
    def s3_stopped(self) -> Iterator[None]:
        """The S3 endpoint down (connection refused); started again on the same port with the same
        bucket, objects, lifecycle rule and key (sandbox/s3.py keeps them across the restart)."""
        with undone_after(self.lifecycle, "s3"):
            yield

    @contextmanager
    def s3_credentials_revoked(self) -> Iterator[None]:
        """The access key the environment holds no longer exists on the server (rotated away):
        every request is refused with InvalidAccessKeyId. Restored on exit."""
        with undone_after(self.lifecycle, "s3", "revoke_key", "restore_key"):
            yield
