"""The backup checks: ok on the sandbox's healthy backup history, and the right status with a
one-line message under each real fault (a stopped backup job, a truncated / corrupt / empty
newest backup, a missing S3 copy, a rotation that stopped, S3 down, S3 credentials revoked, a
truncated monthly full, a configuration archive's S3 copy missing or different).
The restore drill restores the sandbox's real pg_dump into a scratch database and drops it; a
drill on a truncated archive fails with pg_restore's reason and leaves no scratch database."""

from __future__ import annotations

import re

import psycopg
import pytest

from sandbox import Sandbox
from tests.conftest import Run, RunChecks, environment_text

BACKUP_IDS = {
    "backups.latest_age",
    "backups.integrity",
    "backups.offsite_copy",
    "backups.local_retention",
    "backups.s3_retention",
    "backups.monthly_full",
    "backups.config_backup",
    "backups.config_offsite",
}
FILE = "backups/test_backups.py"


def assert_no_credentials(run: Run, sandbox: Sandbox) -> None:
    """Neither the S3 keys nor the database password reach the terminal or any archived file."""
    state = sandbox.require_state()
    texts = [run.output] + [p.read_text(errors="replace") for p in run.report_dir.rglob("*") if p.is_file()]
    for secret in (state.s3_access_key_id, state.s3_secret_access_key, state.pg_password):
        assert secret and all(secret not in text for text in texts), "a credential leaked into the output"


def scratch_databases(sandbox: Sandbox) -> list[str]:
    with psycopg.connect(sandbox.require_state().pg_superuser_dsn, connect_timeout=5) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'sergas_drill_%'").fetchall()
    return [r[0] for r in rows]


@pytest.mark.timeout(180)  # eight checks and a restore: room for a loaded machine
def test_healthy_backups_are_all_ok_and_the_drill_restores(run_checks: RunChecks, sandbox: Sandbox) -> None:
    run = run_checks("backups", args=("-m", "daily or weekly or monthly or drill"))
    assert run.result.ret == pytest.ExitCode.OK, run.output
    statuses = {c["id"]: c["status"] for c in run.summary["checks"]}
    assert statuses == dict.fromkeys(BACKUP_IDS | {"backups.restore_drill"}, "ok"), statuses
    integrity = run.message("backups.integrity")
    assert "the manual's layout" in integrity and "double-compressed" in integrity, integrity
    assert "no data offsets" in integrity, integrity
    assert re.search(r"sergas_prod_\d{8}_\d{6}\.sql\.gz \([\d.]+ KiB, \d+ TOC entries, 5 tables with data\)", integrity)
    assert "size and sha256 match" in run.message("backups.offsite_copy")
    assert "lifecycle rule database-backups-90d expires them after 90 days" in run.message("backups.s3_retention")
    drill = run.message("backups.restore_drill")
    assert re.search(
        r"restored in [\d.]+m?s into sergas_drill_\w+ \(dropped\): accounts 2000, users 200; "
        r"alembic head 4f2e9c1a7b3d",
        drill,
    ), drill
    assert any(m["name"] == "restore_time" for m in run.checks("backups.restore_drill")[0]["measurements"])
    assert scratch_databases(sandbox) == []
    assert_no_credentials(run, sandbox)


def test_backup_job_stopped(run_checks: RunChecks, sandbox: Sandbox) -> None:
    """And the drill is opt-in: `-m monthly` alone does not select it."""
    with sandbox.faults.backup_too_old(hours=48) as moved:
        run = run_checks(FILE, args=("-m", "daily or weekly or monthly"))
    assert moved
    assert run.status("backups.latest_age") == "critical"
    assert re.fullmatch(
        r"localhost: newest backup sergas_prod_\d{8}_020000\.sql\.gz age = 2d\w+ >= critical 1d2h",
        run.message("backups.latest_age"),
    ), run.message("backups.latest_age")
    assert "backups.restore_drill" not in {c["id"] for c in run.summary["checks"]}


def test_truncated_backup_fails_integrity_and_the_drill_leaves_nothing(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.backup_broken("truncated") as name:
        run = run_checks(FILE, args=("-m", "daily or drill", "-k", "integrity or restore_drill"))
    assert name.endswith(".dump")
    assert run.status("backups.integrity") == "critical"
    assert run.message("backups.integrity") == (
        f"localhost: newest backup {name}: pg_restore cannot read it to the end: "
        "pg_restore: error: could not read from input file: end of file"
    )
    assert run.status("backups.restore_drill") == "critical"
    assert re.fullmatch(
        rf"localhost: {name} did not restore into scratch database sergas_drill_\w+: pg_restore: error: .+",
        run.message("backups.restore_drill"),
    ), run.message("backups.restore_drill")
    assert scratch_databases(sandbox) == [], "the drill dropped its scratch database"


def test_corrupt_gzip(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.backup_broken("corrupt_gzip") as name:
        run = run_checks(FILE, args=("-k", "integrity"))
    assert run.status("backups.integrity") == "critical"
    assert re.match(
        rf"localhost: newest backup {name}: gzip -t failed: gzip: \S+: invalid compressed data--",
        run.message("backups.integrity"),
    ), run.message("backups.integrity")


def test_empty_backup(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.backup_broken("empty") as name:
        run = run_checks(FILE, args=("-k", "integrity or latest_age"))
    assert run.status("backups.integrity") == "critical"
    assert run.message("backups.integrity") == f"localhost: newest backup {name}: empty (0 bytes)"
    assert run.status("backups.latest_age") == "ok", "an empty file is recent: integrity is what catches it"


def test_newest_backup_missing_in_s3(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.backup_missing_in_s3() as key:
        run = run_checks(FILE, args=("-k", "offsite_copy"))
    name = key.rsplit("/", 1)[1]
    assert run.status("backups.offsite_copy") == "critical"
    assert run.message("backups.offsite_copy") == (
        f"localhost: newest backup {name} is not in s3://sergas-backups/database/ (no object {key})"
    )


def test_retention_not_applied(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.retention_not_applied():
        run = run_checks(FILE, args=("-m", "weekly", "-k", "retention"))
    assert run.status("backups.local_retention") == "warning"
    assert re.fullmatch(
        r"localhost: backups older than 30 days = 10 \(oldest sergas_prod_\d{8}_020000\.sql\.gz, "
        r"40d\w* old\) >= warning 1",
        run.message("backups.local_retention"),
    ), run.message("backups.local_retention")
    assert run.status("backups.s3_retention") == "warning"
    assert re.search(
        r"objects older than 90 days = 10 \(oldest sergas_prod_\d{8}_020000\.sql\.gz\) >= warning 1",
        run.message("backups.s3_retention"),
    ), run.message("backups.s3_retention")


def test_truncated_monthly_full_fails_the_integrity_check(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.monthly_broken("truncated") as name:
        run = run_checks(FILE, args=("-m", "monthly", "-k", "monthly_full"))
    assert run.status("backups.monthly_full") == "critical"
    assert re.fullmatch(
        rf"localhost: monthly full backup {name}: gzip -t failed: gzip: \S+: unexpected end of file",
        run.message("backups.monthly_full"),
    ), run.message("backups.monthly_full")
    assert "PLANNED run_monthly_backup (safe) for backups.monthly_full" in run.output


def test_healthy_config_archive_copy(run_checks: RunChecks) -> None:
    run = run_checks(FILE, args=("-m", "weekly", "-k", "config_offsite"))
    assert run.status("backups.config_offsite") == "ok", run.output
    assert re.fullmatch(
        r"localhost: config_\d{8}_\d{6}\.tar\.gz is in s3://sergas-backups/config/: size and sha256 match; "
        r"configuration archives older than 90 days = 0",
        run.message("backups.config_offsite"),
    ), run.message("backups.config_offsite")


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (
            "missing",
            r"newest configuration archive (?P<name>\S+) is not in s3://sergas-backups/config/ \(no object {key}\)",
        ),
        ("size", r"{key} is (?P<s3>\d+) bytes in S3, (?P<local>\d+) bytes on localhost: incomplete upload"),
        ("sha256", r"{key}: sha256 in S3 metadata [0-9a-f]{{12}}… differs from the local [0-9a-f]{{12}}…"),
    ],
)
def test_config_archive_copy_missing_or_different(
    run_checks: RunChecks, sandbox: Sandbox, kind: str, message: str
) -> None:
    with sandbox.faults.config_copy_broken(kind) as key:
        run = run_checks(FILE, args=("-m", "weekly", "-k", "config_offsite"))
    assert run.status("backups.config_offsite") == "critical"
    assert re.fullmatch("localhost: " + message.format(key=re.escape(key)), run.message("backups.config_offsite")), (
        run.message("backups.config_offsite")
    )


def test_s3_unreachable(run_checks: RunChecks, sandbox: Sandbox) -> None:
    endpoint = sandbox.require_state().s3_endpoint
    with sandbox.faults.s3_stopped():
        run = run_checks(FILE, args=("-k", "offsite_copy or s3_retention", "-m", "daily or weekly"))
    for check_id in ("backups.offsite_copy", "backups.s3_retention"):
        assert run.status(check_id) == "unknown"
        assert run.message(check_id) == (
            f"cannot connect to s3://sergas-backups/database at {endpoint}: connection refused"
        ), run.message(check_id)


def test_s3_credentials_revoked(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.s3_credentials_revoked():
        run = run_checks(FILE, args=("-k", "offsite_copy or s3_retention", "-m", "daily or weekly"))
    assert run.status("backups.offsite_copy") == "unknown"
    assert "S3 refused the credentials (InvalidAccessKeyId)" in run.message("backups.offsite_copy")
    assert run.status("backups.s3_retention") == "unknown"
    assert_no_credentials(run, sandbox)


def test_drill_refuses_the_production_database(run_checks: RunChecks, sandbox: Sandbox) -> None:
    production = 'drill_dsn = "postgresql://sergas:${SANDBOX_PG_PASSWORD}@127.0.0.1:${SANDBOX_PG_PORT}/sergas"\n'
    env = environment_text().replace('drill_dsn = "postgresql://postgres@', '# drill_dsn = "')
    env = env.replace("[backups]\n", "[backups]\n" + production)
    run = run_checks(FILE, env=env, args=("--drill", "-k", "restore_drill"))
    port = sandbox.require_state().pg_port
    assert run.status("backups.restore_drill") == "unknown"
    assert run.message("backups.restore_drill") == (
        f"localhost: drill_dsn points at the production database localhost:{port}/sergas: refusing to restore"
    )
    assert scratch_databases(sandbox) == []
