"""runtime = "docker-compose", for real: a private Docker engine (sandbox/docker.py) runs the
sandbox app as compose project `sergas`, service `app`, two replicas with a healthcheck
(sandbox/compose.py). The checks read it as on a production app host: the docker CLI there,
`docker inspect` of the service's containers."""

from __future__ import annotations

import re
import threading

import pytest

from sandbox.compose import ComposeApp
from tests.conftest import DEMO_ENV, Run, RunChecks

PATHS = ("daily/test_app.py", "scaling/test_scaling.py", "config/test_config_loaded.py")
SELECT = ("-k", "service_running or replicas or workers or config_loaded")

COMPOSE_APP = """[app]
url = "${SANDBOX_COMPOSE_APP_URL}"
runtime = "docker-compose"
service = "app"
compose_project = "sergas"
docker_host = "${SANDBOX_DOCKER_HOST}"
replicas = 2
"""


def compose_env() -> str:
    return re.sub(r"(?ms)^\[app\]\n.*?(?=^\[)", lambda _: COMPOSE_APP + "\n", DEMO_ENV, count=1)


def run(run_checks: RunChecks, *args: str) -> Run:
    return run_checks(*PATHS, env=compose_env(), args=(*SELECT, *args))


def test_healthy_compose_service(run_checks: RunChecks, compose_app: ComposeApp) -> None:
    result = run(run_checks)
    for check_id in ("app.service_running", "app.replicas", "app.workers", "app.config_loaded"):
        assert result.status(check_id) == "ok", (check_id, result.message(check_id))
    assert result.message("app.service_running").startswith(
        "localhost: 2/2 docker-compose instance(s) of app running and ready"
    )
    assert result.message("app.replicas") == "localhost: 2 of 2 replicas ready"
    evidence = result.checks("app.service_running")[0]["evidence"][0]["content"]
    assert "sergas_app_1: running (healthy), ready, 0 restarts" in evidence
    # docker inspect holds the containers' environment (the .env): only the summary is kept.
    assert "Config" not in evidence and "Env" not in evidence


def test_stopped_container(run_checks: RunChecks, compose_app: ComposeApp) -> None:
    with compose_app.container_exited(1):
        result = run(run_checks)
    assert result.status("app.service_running") == "critical"
    assert re.match(
        r"localhost: sergas_app_1 is exited \(unhealthy\) \(exit code 0\)", result.message("app.service_running")
    )
    assert result.status("app.replicas") == "critical"
    assert result.message("app.replicas").startswith("localhost: 1 of 2 replicas ready: sergas_app_1 exit code 0")


def test_unhealthy_container(run_checks: RunChecks, compose_app: ComposeApp) -> None:
    with compose_app.container_unhealthy(2):
        result = run(run_checks)
    assert result.status("app.service_running") == "critical"
    assert re.match(
        r"localhost: sergas_app_2 is running \(unhealthy\): .*/run/sergas/unhealthy exists",
        result.message("app.service_running"),
    ), result.message("app.service_running")
    assert result.status("app.replicas") == "critical"


def test_restart_loop(run_checks: RunChecks, compose_app: ComposeApp) -> None:
    with compose_app.restart_loop(1):
        result = run(run_checks, "-k", "service_running")
    record = result.checks("app.service_running")[0]
    assert record["status"] == "critical", (record["message"], record["evidence"])
    assert "sergas_app_1" in record["message"]
    restarts = {m["name"]: m for m in record["measurements"]}["new_restarts"]
    assert restarts["value"] >= 2 and restarts["status"] == "warning"


def test_gate_waits_while_a_replica_restarts(run_checks: RunChecks, compose_app: ComposeApp) -> None:
    """The rollout gate: a replica in a restart loop when the gate starts, fixed while it retries."""
    loop = compose_app.restart_loop(1)
    loop.__enter__()
    fixed = threading.Timer(3.0, loop.__exit__, args=(None, None, None))
    fixed.start()
    try:
        result = run(run_checks, "-k", "service_running", "--retry-timeout", "90s", "--retry-interval", "1s")
    finally:
        fixed.join()
    record = result.checks("app.service_running")[0]
    assert record["status"] == "ok", record["message"]
    retries = record["retries"]
    assert retries["attempts"][0]["status"] == "critical" and retries["healthy_after_s"] > 0
    assert not retries["flapping"]
    assert result.result.ret == pytest.ExitCode.OK


def test_containers_as_docker_hosts(
    run_checks: RunChecks, compose_app: ComposeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """testinfra's docker:// backend as `[hosts]` entries: the host checks run inside each
    replica (testinfra's `docker exec` takes the engine from DOCKER_HOST)."""
    monkeypatch.setenv("DOCKER_HOST", compose_app.engine.host)
    hosts = '[hosts]\napp = ["docker://sergas_app_1", "docker://sergas_app_2"]\n'
    env = re.sub(r"(?ms)^\[hosts\]\n.*?(?=^\[)", lambda _: hosts + "\n", DEMO_ENV, count=1)
    result = run_checks("daily/test_host.py", env=env, args=("-k", "host.memory"))
    records = result.checks("host.memory")
    assert sorted(r["target"] for r in records) == ["sergas_app_1", "sergas_app_2"], result.output
    assert {r["status"] for r in records} == {"ok"}, [r["message"] for r in records]
