"""Two runs of one environment at the same minute (the timer and a person): both complete with
their own archive, `latest` points at a complete run, the index lists both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sandbox import Sandbox
from tests.conftest import DEMO_ENV, ROOT, RunChecks


def test_overlapping_runs_keep_their_own_archives(run_checks: RunChecks, sandbox: Sandbox, tmp_path: Path) -> None:
    env = tmp_path / "demo.toml"
    env.write_text(DEMO_ENV)
    reports = tmp_path / "reports"
    # checks/daily alone: Prometheus' windows keep other tests' faults for minutes.
    command = [sys.executable, "-m", "pytest", f"--env={env}", "-q", f"--report-dir={reports}", "checks/daily"]
    runs = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=240)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    archives = sorted(p for p in (reports / "demo").iterdir() if p.is_dir() and not p.is_symlink())
    assert len(archives) == 2, archives
    for archive in archives:
        summary = json.loads((archive / "summary.json").read_text())
        assert summary["run_id"] == archive.name and summary["counts"]["ok"] == len(summary["checks"]) > 0
        assert {p.name for p in archive.iterdir()} >= {"report.html", "junit.xml", "summary.json"}
        assert not (archive / ".state").exists()
    assert (reports / "demo" / "latest").resolve() in archives
    index = (reports / "index.html").read_text()
    assert all(archive.name in index for archive in archives)
