"""The `service` fixture's checks against the sandbox app (runtime "process"): the service
runs, it logged its configuration after its start, and it has the workers the file says."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import Sandbox
from sandbox.app_process import AppProcess
from sandbox.ports import free_port
from tests.conftest import DEMO_ENV, RunChecks, environment_text

PATHS = ("daily/test_app.py", "config/test_config_loaded.py", "scaling/test_scaling.py")


def test_healthy_service(run_checks: RunChecks) -> None:
    run = run_checks(*PATHS, args=("-k", "service_running or config_loaded or workers or replicas"))
    assert run.status("app.service_running") == "ok"
    assert re.fullmatch(r"localhost: 1 process\(es\) matching '.+', pid \d+", run.message("app.service_running"))
    assert run.status("app.config_loaded") == "ok", run.message("app.config_loaded")
    assert "logged its configuration after its start at 20" in run.message("app.config_loaded")
    assert run.status("app.workers") == "ok"
    assert run.status("app.replicas") == "skipped"
    assert "runs one instance per host" in run.message("app.replicas")
    evidence = run.checks("app.service_running")[0]["evidence"][0]["content"]
    assert evidence.startswith("process ") and "started 20" in evidence


def test_configuration_not_logged_since_the_start(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.config_load_unlogged():
        run = run_checks("config/test_config_loaded.py")
    assert run.status("app.config_loaded") == "warning"
    assert re.fullmatch(
        r"localhost: no 'Configuration loaded' in .*app\.log.* since pid \d+ started at \S+: "
        r"the running process may not have the current configuration",
        run.message("app.config_loaded"),
    ), run.message("app.config_loaded")


def test_fewer_workers_than_the_file_says(run_checks: RunChecks) -> None:
    base, count = re.subn(r"(?m)^workers = 1\b", "workers = 3", DEMO_ENV)
    assert count == 1, "demo.toml's [app] workers line moved"
    env = environment_text(base=base)
    run = run_checks("scaling/test_scaling.py", env=env, args=("-k", "workers"))
    assert run.status("app.workers") == "critical"
    assert re.fullmatch(r"localhost: pid \d+: 0 of 3 worker processes", run.message("app.workers"))


def test_service_gone(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.app_stopped():
        run = run_checks(*PATHS, args=("-k", "service_running or config_loaded or workers"))
    assert run.status("app.service_running") == "critical"
    assert run.message("app.service_running").startswith("localhost: no process matching ")
    assert run.status("app.config_loaded") == "unknown"
    assert run.status("app.workers") == "unknown"


@pytest.fixture
def prefork_app(sandbox: Sandbox, tmp_path: Path) -> Iterator[AppProcess]:
    """A second sandbox app run as a prefork server with two workers (as `uvicorn --workers 2`)."""
    state = sandbox.require_state()
    settings = json.loads((state.root / "app.json").read_text())
    settings.pop("name"), settings.pop("port")
    marker = f"sergas-prefork-{tmp_path.name[-6:]}"
    app = AppProcess(
        tmp_path, marker=marker, port=free_port(), log_path=tmp_path / "app.log", settings={**settings, "workers": 2}
    )
    app.start()
    try:
        yield app
    finally:
        app.stop()


def _prefork_env(app: AppProcess) -> str:
    base, count = re.subn(r"(?m)^workers = 1\b", "workers = 2", DEMO_ENV)
    assert count == 1, "demo.toml's [app] workers line moved"
    base = base.replace('service = "${SANDBOX_APP_MARKER}"', f'service = "{app.marker}"', 1)
    return environment_text(base=base)


def test_prefork_workers_and_one_killed(run_checks: RunChecks, prefork_app: AppProcess) -> None:
    env = _prefork_env(prefork_app)
    run = run_checks("scaling/test_scaling.py", env=env, args=("-k", "workers"))
    assert run.status("app.workers") == "ok", run.message("app.workers")
    assert run.message("app.workers") == f"localhost: pid {prefork_app.pid}: 2 worker processes"
    workers = subprocess.run(
        ["pgrep", "-P", str(prefork_app.pid)], capture_output=True, text=True, check=True
    ).stdout.split()
    os.kill(int(workers[0]), signal.SIGKILL)  # the prefork main process does not replace it
    run = run_checks("scaling/test_scaling.py", env=env, args=("-k", "workers"))
    assert run.status("app.workers") == "critical"
    assert run.message("app.workers") == f"localhost: pid {prefork_app.pid}: 1 of 2 worker processes"
