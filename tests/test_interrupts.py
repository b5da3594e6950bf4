"""SIGINT or SIGTERM at any moment: the run folder is complete and says it was interrupted (every
selected check that did not run listed), `latest` points at a sealed run, and the sandbox a run
started for itself is stopped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from sandbox import Sandbox
from sandbox.plugin import STATE_VAR
from tests.conftest import ROOT

APP = "checks/daily/test_app.py"


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "pytest", "--env=demo", "-v", "-p", "no:randomly", *args]
    return subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1
    )


def _read_until(run: subprocess.Popen[str], marker: str, timeout: float = 120) -> str:
    """The run's output up to `marker` (pytest -v writes a test's name as it starts it, and its
    outcome on the same line when it ends: read characters, not lines)."""
    assert run.stdout is not None
    seen, deadline = "", time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        char = run.stdout.read(1)
        if not char:
            break
        seen += char
    assert marker in seen, f"{marker!r} never appeared:\n{seen}"
    return seen


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_a_check(sandbox: Sandbox, tmp_path: Path, signum: signal.Signals) -> None:
    reports = tmp_path / "reports"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with sandbox.faults.health_delayed(4):
        run = _start([f"--report-dir={reports}", APP], env)
        _read_until(run, "test_health_endpoint")  # the check that waits on /health now runs
        time.sleep(0.5)
        run.send_signal(signum)
        rest = run.communicate(timeout=120)[0]
    assert run.returncode == pytest.ExitCode.INTERRUPTED, rest
    [archive] = [p for p in (reports / "demo").iterdir() if p.is_dir() and not p.is_symlink()]
    summary = json.loads((archive / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["exit_status"] == pytest.ExitCode.INTERRUPTED
    ran = {c["nodeid"]: c for c in summary["checks"]}
    assert ran[f"{APP}::test_service_running[localhost]"]["status"] == "ok"
    # The check the signal stopped is not run, or unknown "interrupted" when pytest reported it.
    stopped = ran.get(f"{APP}::test_health_endpoint")
    if stopped is None:
        assert summary["not_run"] == [f"{APP}::test_health_endpoint", f"{APP}::test_zoho_connectivity"]
    else:
        assert stopped["status"] == "unknown" and stopped["message"].endswith(f"({signum.name})"), stopped
        assert summary["not_run"] == [f"{APP}::test_zoho_connectivity"]
    assert not set(ran) & set(summary["not_run"])
    assert {p.name for p in archive.iterdir()} >= {"report.html", "junit.xml", "summary.json"}
    assert not (archive / ".state").exists()
    assert (reports / "demo" / "latest").resolve() == archive
    assert "Traceback" not in rest


def _processes_under(folder: Path) -> set[int]:
    """Processes whose command line names `folder` (a sandbox's servers name their root)."""
    found = subprocess.run(["pgrep", "-f", str(folder)], capture_output=True, text=True, check=False)
    return {int(pid) for pid in found.stdout.split()}


def test_sigterm_while_the_demo_starts_its_sandbox(tmp_path: Path) -> None:
    """A run that started its own sandbox stops it, whenever it is told to stop."""
    # The run's sandbox makes its root in here (TMPDIR), a folder the postgres user can enter.
    own = Path(tempfile.mkdtemp(prefix="sergas-interrupt-"))
    own.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != STATE_VAR and not k.startswith("SANDBOX_")}
    run = _start(
        [f"--report-dir={tmp_path / 'reports'}", "-m", "daily"], {**env, "PYTHONUNBUFFERED": "1", "TMPDIR": str(own)}
    )
    _read_until(run, "collected")  # the sandbox is up and the checks are collected
    assert _processes_under(own), "the run's sandbox servers run under its TMPDIR"
    run.send_signal(signal.SIGTERM)
    rest = run.communicate(timeout=120)[0]
    assert run.returncode == pytest.ExitCode.INTERRUPTED, rest
    deadline = time.monotonic() + 15
    while _processes_under(own) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_under(own) == set(), "the run's own sandbox servers are stopped"
    shutil.rmtree(own, ignore_errors=True)
