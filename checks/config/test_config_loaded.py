"""Configuration management: the running app has read the configuration it was last started with."""

from __future__ import annotations

import datetime as dt
import shlex
import time

import pytest

from fixtures.hosts import run_bounded
from fixtures.logs import Logs
from fixtures.measure import CheckRun, check
from fixtures.service import Service
from probes.logs import CONFIG_LOADED
from probes.service import Instance
from sergas.config import Environment
from sergas.status import unknown

pytestmark = [pytest.mark.daily, pytest.mark.app]

# Log timestamps have whole seconds in some formats, start times sub-second precision.
START_SLACK_S = 2


@check("app.config_loaded", '"Configuration loaded" is logged after the service last started')
def test_config_loaded(service: Service, check: CheckRun, environment: Environment) -> None:
    running = [i for i in service.state.instances if i.running]
    if not running:
        raise unknown("the service is not running: nothing to compare its configuration with")
    for instance in running:
        if instance.started_at is None:
            raise unknown(f"{service.runtime} does not tell when {instance.name} started")
        count, where = _count_since_start(service, instance, check, environment)
        started = dt.datetime.fromtimestamp(instance.started_at, dt.UTC).isoformat(timespec="seconds")
        check.record("loaded", count, labels={"instance": instance.name} if len(running) > 1 else None)
        if count:
            check.ok(f"{instance.name} logged its configuration after its start at {started}")
        else:
            check.warning(
                f"no {CONFIG_LOADED!r} in {where} since {instance.name} started at {started}: "
                "the running process may not have the current configuration"
            )


def _count_since_start(service: Service, instance: Instance, check: CheckRun, env: Environment) -> tuple[int, str]:
    """How many times the instance logged its configuration since it started, and where that was read."""
    assert instance.started_at is not None
    since = int(instance.started_at) - START_SLACK_S
    if service.host is None:  # Kubernetes: the pod's log, through the API
        return _count_in_pod_log(service, instance, since), f"the log of pod {instance.name}"
    if service.runtime == "docker-compose":
        host = service.config.docker_host
        docker = f"DOCKER_HOST={shlex.quote(host)} docker" if host else "docker"
        command = (
            f"{docker} logs --since {since} {shlex.quote(instance.name)} 2>&1 "
            f"| grep -c -F -e {shlex.quote(CONFIG_LOADED)}"
        )
        rc, out, err = run_bounded(service.host, command, env.command_timeout)
        if rc > 1 or not out.strip().isdigit():
            raise unknown(f"docker logs {instance.name}: {(err or out).strip()[:160] or f'exit {rc}'}")
        return int(out), f"docker logs {instance.name}"
    if env.logs is None:
        raise unknown("no [logs] section: the app log cannot be read")
    logs = Logs(env.logs, env.command_timeout)
    window = max(int(time.time()) - since, 1)
    found = logs.count(service.host, check, "config", window, kinds="configuration loads")
    return found.count, logs.app_source.describe()


def _count_in_pod_log(service: Service, instance: Instance, since: int) -> int:
    from probes.kubernetes import KubeError, count_in_log

    assert service.cluster is not None
    try:
        return count_in_log(
            service.cluster, service.config.namespace, instance.name, CONFIG_LOADED, int(time.time()) - since
        )
    except KubeError as exc:
        raise unknown(str(exc)) from None
