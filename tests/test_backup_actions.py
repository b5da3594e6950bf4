"""The backup actions, alone: rotate_backups keeps the newest N even when every backup is past
retention, never touches a name outside the pattern or anything behind a symlink, and cleans S3
the same way; run_backup takes a real pg_dump -Fc of the sandbox, verifies it, uploads it with
its sha256, and the checks accept the result (custom format .dump layout); run_monthly_backup
does the same for this month's full backup and then has nothing to do; both offered by their
checks, plan, apply, re-verify, and find nothing to do the next run; rotation covers the
configuration archives, on the host and in S3."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
import testinfra

from actions.backups import Aged, RotateBackups, RunBackup, RunMonthlyBackup, select_expired
from fixtures.hosts import run_bounded
from probes.backups import daily_name
from probes.s3 import make_client
from sandbox import Sandbox
from sergas.config import BackupsConfig
from tests.conftest import RunChecks
from tests.test_remediation import audit_lines

DAY = 86400.0
PATTERN = daily_name("sergas_prod_")
FILE = "backups/test_backups.py"
LOCAL = testinfra.get_host("local://")


def run(command: str, timeout: float) -> tuple[int, str, str]:
    return run_bounded(LOCAL, command, timeout)


def stamp(days_ago: float, now: dt.datetime) -> str:
    return f"sergas_prod_{now - dt.timedelta(days=days_ago):%Y%m%d_%H%M%S}.sql.gz"


def test_every_backup_past_retention_keeps_the_newest_n() -> None:
    now = dt.datetime.now(dt.UTC)
    items = [Aged(stamp(d, now), d * DAY, now.timestamp() - d * DAY) for d in range(40, 60)]
    deleted = select_expired(items, 30 * DAY, 7, PATTERN)
    kept = {i.name for i in items} - {i.name for i in deleted}
    assert kept == {stamp(d, now) for d in range(40, 47)}, "the seven newest stay, however old"
    assert len(deleted) == 13
    assert select_expired(items[:7], 30 * DAY, 7, PATTERN) == []


def test_names_outside_the_pattern_are_never_selected_nor_counted() -> None:
    now = dt.datetime.now(dt.UTC)
    strangers = [
        "notes.txt",
        "sergas_prod_latest.dump",
        "sergas_prod_20200101_000000.dump.bak",
        "other_20200101_000000.dump",
    ]
    items = [Aged(n, 999 * DAY, 0) for n in strangers] + [Aged(stamp(d, now), d * DAY, -d) for d in (50, 51)]
    assert [i.name for i in select_expired(items, 30 * DAY, 1, PATTERN)] == [stamp(51, now)]


def _config(directory: Path, s3: str | None = None, **overrides: Any) -> BackupsConfig:
    return BackupsConfig(dir=str(directory), s3=s3, **overrides)


def test_rotate_local_folder(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    folder, outside = tmp_path / "database", tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    for days in range(1, 45, 3):  # 15 backups, 5 of them older than 30 days
        path = folder / stamp(days, now)
        path.write_bytes(b"x")
        os.utime(path, (now.timestamp() - days * DAY,) * 2)
    precious = outside / stamp(100, now)  # an old backup outside, reached through a symlink
    precious.write_bytes(b"keep")
    os.utime(precious, (now.timestamp() - 100 * DAY,) * 2)
    (folder / stamp(101, now)).symlink_to(precious)
    stranger = folder / "sergas_prod_manual_copy.sql.gz"
    stranger.write_bytes(b"x")
    os.utime(stranger, (now.timestamp() - 200 * DAY,) * 2)
    (folder / "sergas_prod_20200101_000000.dump.d").mkdir()

    action = RotateBackups(run=run, backups=_config(folder), s3_client=None).bind(
        environment="test", target="localhost"
    )
    plan = action.plan()
    assert plan == [f"delete {folder}/{stamp(d, now)} ({d} days old) on localhost" for d in (31, 34, 37, 40, 43)]
    outcome = action.apply()
    assert outcome.error is None and len(outcome.done) == 5, outcome
    left = sorted(p.name for p in folder.iterdir())
    assert stamp(101, now) in left and precious.read_bytes() == b"keep", "symlinks and their targets are untouched"
    assert stranger.name in left and "sergas_prod_20200101_000000.dump.d" in left
    assert action.plan() == [], "idempotent: nothing left to do"
    assert not list(folder.glob(".sergas-*.lock")), "the lock is released"


def test_rotate_refuses_a_held_lock_and_a_symlinked_folder(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    held = RotateBackups(run=run, backups=_config(tmp_path / "real"), s3_client=None).bind(environment="t", target="h")
    (tmp_path / "real" / ".sergas-rotate_backups.lock").mkdir()
    assert "another run holds the rotate_backups lock" in (held.apply().error or "")
    linked = RotateBackups(run=run, backups=_config(tmp_path / "link"), s3_client=None).bind(
        environment="t", target="h"
    )
    with pytest.raises(Exception, match="is a symlink"):
        linked.plan()


def _s3(sandbox: Sandbox) -> Any:
    state = sandbox.require_state()
    return make_client(
        endpoint_url=state.s3_endpoint,
        region="eu-west-1",
        access_key_id=state.s3_access_key_id,
        secret_access_key=state.s3_secret_access_key,
        connect_timeout=5,
        read_timeout=30,
    )


def test_rotate_s3_keeps_the_newest_n(sandbox: Sandbox, tmp_path: Path) -> None:
    client, prefix = _s3(sandbox), f"actions-test-{secrets.token_hex(4)}"
    now = dt.datetime.now(dt.UTC)
    names = [stamp(d, now) for d in range(95, 105)]  # every one past 90 days
    for name in [*names, "readme.txt"]:
        client.put_object(Bucket="sergas-backups", Key=f"{prefix}/{name}", Body=b"x")
    config = _config(tmp_path / "none", s3=f"s3://sergas-backups/{prefix}", keep_newest=3)
    action = RotateBackups(run=run, backups=config, s3_client=client).bind(environment="t", target="localhost")
    assert action.plan() == [
        f"delete s3://sergas-backups/{prefix}/{stamp(d, now)} ({d} days old)" for d in range(98, 105)
    ]
    assert action.apply().error is None
    left = sorted(o["Key"] for o in client.list_objects_v2(Bucket="sergas-backups", Prefix=f"{prefix}/")["Contents"])
    assert left == sorted(f"{prefix}/{n}" for n in [*names[:3], "readme.txt"])
    client.delete_objects(Bucket="sergas-backups", Delete={"Objects": [{"Key": k} for k in left]})


def test_run_backup_dumps_verifies_uploads_and_the_checks_accept_it(sandbox: Sandbox, run_checks: RunChecks) -> None:
    state = sandbox.require_state()
    folder = state.root / "backups" / "database"
    config = BackupsConfig(dir=str(folder), s3="s3://sergas-backups/database")
    client = _s3(sandbox)
    action = RunBackup(
        run=run,
        backups=config,
        dsn=state.pg_superuser_dsn,
        s3_client=client,
        now=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),
    ).bind(environment="demo", target="localhost")
    partial = f"{folder}/.{action.name}.partial"
    assert action.plan() == [
        f"pg_dump -Fc postgresql://postgres@{state.root}/pgsock:{state.pg_port}/sergas -f {partial} on localhost",
        f"verify {folder}/.{action.name}.partial on localhost: pg_restore --list and a full read",
        f"rename it to {folder}/{action.name}",
        f"upload it to s3://sergas-backups/database/{action.name} with its sha256 in x-amz-meta-sha256",
    ]
    key = f"database/{action.name}"
    try:
        outcome = action.apply()
        assert outcome.error is None, outcome
        assert re.fullmatch(r"verified \S+\.dump: \d+ TOC entries, 5 tables with data", outcome.done[1])
        data = (folder / action.name).read_bytes()
        assert data.startswith(b"PGDMP")
        head = client.head_object(Bucket="sergas-backups", Key=key)
        assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
        checked = run_checks("backups/test_backups.py", args=("-k", "integrity or offsite_copy or latest_age"))
        assert {c["status"] for c in checked.summary["checks"]} == {"ok"}, checked.output
        assert f"{action.name} (" in checked.message("backups.integrity")
        assert "pg_dump -Fc custom format written to a file (.dump)" in checked.message("backups.integrity")
    finally:
        (folder / action.name).unlink(missing_ok=True)
        client.delete_object(Bucket="sergas-backups", Key=key)


def test_run_monthly_backup_dumps_verifies_and_then_has_nothing_to_do(sandbox: Sandbox, tmp_path: Path) -> None:
    state = sandbox.require_state()
    folder = tmp_path / "monthly"
    config = BackupsConfig(monthly_dir=str(folder))
    action = RunMonthlyBackup(run=run, backups=config, dsn=state.pg_superuser_dsn).bind(
        environment="demo", target="localhost"
    )
    name = f"sergas_prod_{dt.datetime.now(dt.UTC):%Y%m}.dump"
    assert action.plan() == [
        f"pg_dump -Fc postgresql://postgres@{state.root}/pgsock:{state.pg_port}/sergas -f {folder}/.{name}.partial"
        " on localhost",
        f"verify {folder}/.{name}.partial on localhost: pg_restore --list and a full read",
        f"rename it to {folder}/{name}",
    ], "the manual's monthly layout, done right: custom format, no gzip on top, never uploaded"
    outcome = action.apply()
    assert outcome.error is None, outcome
    assert re.fullmatch(r"verified \S+\.dump: \d+ TOC entries, 5 tables with data", outcome.done[1])
    assert (folder / name).read_bytes().startswith(b"PGDMP")
    assert action.plan() == [], "this month's full backup is there and sound"
    again = action.apply()
    assert again.done == [] and again.skipped == [f"{folder}/{name} is there and sound"], again
    assert sorted(p.name for p in folder.iterdir()) == [name], "no partial file, no lock left"


def test_monthly_full_missing_is_remediated_once(run_checks: RunChecks, sandbox: Sandbox) -> None:
    args = ("-m", "monthly", "-k", "monthly_full")
    with sandbox.faults.monthly_broken("missing") as name:
        planned = run_checks(FILE, args=args)
        assert planned.status("backups.monthly_full") == "critical"
        assert "PLANNED run_monthly_backup (safe) for backups.monthly_full" in planned.output
        assert audit_lines(planned)[0]["decision"] == "planned"

        applied = run_checks(FILE, args=(*args, "--remediate=safe"))
        [record] = applied.checks("backups.monthly_full")
        assert record["status"] == "ok", applied.output
        assert record["before"]["status"] == "critical"
        made = name.replace(".sql.gz", ".dump")
        assert f"{made} (" in record["message"] and "pg_dump -Fc custom format written to a file" in record["message"]
        assert [line["decision"] for line in audit_lines(applied)] == ["applied"]

        again = run_checks(FILE, args=(*args, "--remediate=safe"))
        assert again.status("backups.monthly_full") == "ok"
        assert audit_lines(again) == [], "a second run finds nothing to do"


def test_rotate_backups_deletes_expired_config_archives_locally_and_in_s3(
    run_checks: RunChecks, sandbox: Sandbox
) -> None:
    args = ("-m", "weekly", "-k", "config_offsite")
    state, client = sandbox.require_state(), _s3(sandbox)
    folder = state.root / "backups" / "config"
    with sandbox.faults.config_archive_expired(days=100) as name:
        planned = run_checks(FILE, args=args)
        assert planned.status("backups.config_offsite") == "warning"
        assert re.search(
            rf"configuration archives older than 90 days = 2 \(1 on localhost, 1 in s3://sergas-backups/config/; "
            rf"oldest {name}\) >= warning 1$",
            planned.message("backups.config_offsite"),
        ), planned.message("backups.config_offsite")
        [line] = audit_lines(planned)
        assert line["plan"] == [
            f"delete {folder}/{name} (100 days old) on localhost",
            f"delete s3://sergas-backups/config/{name} (100 days old)",
        ]

        applied = run_checks(FILE, args=(*args, "--remediate=rotate_backups"))
        assert applied.status("backups.config_offsite") == "ok", applied.output
        assert not (folder / name).exists()
        assert "Contents" not in client.list_objects_v2(Bucket="sergas-backups", Prefix=f"config/{name}")
        assert len(list(folder.glob("config_*.tar.gz"))) == 12, "the sandbox's twelve weeks stay"

        again = run_checks(FILE, args=(*args, "--remediate=rotate_backups"))
        assert again.status("backups.config_offsite") == "ok"
        assert audit_lines(again) == []
