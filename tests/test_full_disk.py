"""A full disk under the archive: the run ends non-zero with one line naming the folder, and
`latest` stays on the last complete run."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import Sandbox
from tests.conftest import RunChecks


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, for one small run's archive; the test fills what is left."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_under_the_archive(run_checks: RunChecks, sandbox: Sandbox, small_disk: Path) -> None:
    reports = small_disk / "reports"
    first = run_checks("daily/test_host.py", args=("-k", "disk_space"), report_dir=reports)
    assert first.result.ret == 0, first.output
    latest = (reports / "demo" / "latest").resolve()
    free = os.statvfs(small_disk)
    (small_disk / "ballast").write_bytes(b"\0" * max(0, free.f_bavail * free.f_frsize - 8192))

    full = run_checks("daily/test_host.py", args=("-k", "disk_space"), report_dir=reports)
    assert full.result.ret == pytest.ExitCode.INTERNAL_ERROR, full.output
    lines = [line for line in full.result.stderr.lines if line.startswith("sergas: cannot write the run archive")]
    assert len(lines) == 1 and "No space left on device" in lines[0], full.output
    assert str(reports / "demo") in lines[0]
    assert "Traceback" not in full.output and "INTERNALERROR" not in full.output, full.output
    assert (reports / "demo" / "latest").resolve() == latest, "latest stays on the last complete run"
