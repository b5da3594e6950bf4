"""No secret on any command line: every process's argv is readable by every user of the host
(`ps`, /proc/*/cmdline). Sampled throughout a backup, a restore drill and a full run."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sandbox import Sandbox
from tests.conftest import DEMO_ENV, RunChecks

BACKUPS = "backups/test_backups.py"


@contextmanager
def command_lines(every_s: float = 0.005) -> Iterator[set[str]]:
    """Every distinct command line seen on this machine while the block runs."""
    seen: set[str] = set()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    raw = Path(entry.path, "cmdline").read_bytes()
                except OSError:  # the process ended meanwhile
                    continue
                if raw:
                    seen.add(raw.replace(b"\0", b" ").decode(errors="replace"))
            done.wait(every_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield seen
    finally:
        done.set()
        sampler.join()


def test_no_secret_on_any_command_line(
    run_checks: RunChecks, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = sandbox.require_state()
    # pg_dump reaches PostgreSQL with [postgres] dsn (its password), as a site without dump_dsn
    # would: the password comes from a ~/.pgpass-style file on the host, never from argv.
    env = "\n".join(line for line in DEMO_ENV.splitlines() if not line.startswith("dump_dsn"))
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{state.pg_port}:*:sergas:{state.pg_password}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    secrets = [state.pg_password, state.admin_token, state.s3_secret_access_key, state.s3_access_key_id]
    created: list[Path] = []
    with command_lines() as seen:
        with sandbox.faults.backup_too_old(48):
            backup = run_checks(BACKUPS, env=env, args=("-k", "latest_age", "--remediate=run_backup"))
        created = [Path(w) for w in backup.output.split() if w.startswith("/") and w.endswith(".dump")]
        drill = run_checks(BACKUPS, env=env, args=("--drill", "-k", "restore_drill"))
        everything = run_checks(env=env)
    try:
        assert backup.status("backups.latest_age") == "ok", backup.output
        assert drill.status("backups.restore_drill") == "ok", drill.output
        assert everything.summary["checks"], everything.output
        assert any("pg_dump" in line for line in seen), "the sampler saw the backup"
        assert any("pg_restore" in line or "psql" in line for line in seen), "the sampler saw the drill"
        leaked = sorted({line[:200] for line in seen for secret in secrets if secret and secret in line})
        assert leaked == [], leaked
    finally:
        for path in created:
            path.unlink(missing_ok=True)
