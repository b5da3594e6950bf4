"""The `service` fixture's checks against the sandbox app (runtime "process"): the service
runs, it logged its configuration after its start, and it has the workers the file says."""

from __future__ import annotations

import re

from sandbox import Sandbox
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
