"""The fault matrix: every component pointed at a server that fails one way. Each check of that
component ends critical where answering is its own finding (app.health_endpoint, redis.ping,
alerts.alertmanager_healthy) and unknown otherwise, never ok or warning; its message names the
target; the run completes and archives its summary."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import pytest

from sandbox import liars
from tests.conftest import DEMO_ENV, RunChecks

# Short timeouts keep a hung server's cost small; the statuses do not depend on them.
TIMEOUTS = "[timeouts]\nconnect = 1\ncommand = 2\nstatement = 2\n"


@dataclass(frozen=True)
class Component:
    checks: str  # the check file, below checks/
    prefix: str  # the ids of its checks
    line: str  # its line in the demo environment, replaced by the failing server
    point: Callable[[int], str]  # the replacement, given the failing server's port
    own_finding: frozenset[str] = frozenset()  # checks for which no answer is the finding: critical
    only: frozenset[str] = frozenset()  # when the file holds checks of other targets too: these
    target: str | None = None  # ... on this target


COMPONENTS = {
    "app": Component(
        "daily/test_app.py",
        "app.",
        'url = "${SANDBOX_APP_URL}"',
        lambda port: f'url = "http://127.0.0.1:{port}"',
        frozenset({"app.health_endpoint"}),
    ),
    "prometheus": Component(
        "metrics/test_prometheus.py",
        "metrics.",
        'url = "${SANDBOX_PROMETHEUS_URL}"',
        lambda port: f'url = "http://127.0.0.1:{port}"',
    ),
    "alertmanager": Component(
        "alerts/test_alertmanager.py",
        "alerts.",
        'url = "${SANDBOX_ALERTMANAGER_URL}"',
        lambda port: f'url = "http://127.0.0.1:{port}"',
        frozenset({"alerts.alertmanager_healthy"}),
    ),
    "postgres": Component(
        "daily/test_postgres.py",
        "postgres.",
        'dsn = "postgresql://sergas:${SANDBOX_PG_PASSWORD}@127.0.0.1:${SANDBOX_PG_PORT}/sergas"',
        lambda port: f'dsn = "postgresql://sergas:${{SANDBOX_PG_PASSWORD}}@127.0.0.1:{port}/sergas"',
    ),
    "redis": Component(
        "daily/test_redis.py",
        "redis.",
        'url = "redis://127.0.0.1:${SANDBOX_REDIS_PORT}/0"',
        lambda port: f'url = "redis://127.0.0.1:{port}/0"',
        frozenset({"redis.ping"}),
    ),
    "s3": Component(
        "backups/test_backups.py",
        "backups.",
        's3_endpoint = "${SANDBOX_S3_ENDPOINT}"',
        lambda port: f's3_endpoint = "http://127.0.0.1:{port}"',
        only=frozenset({"backups.offsite_copy", "backups.s3_retention"}),
    ),
    "ssh": Component(
        "daily/test_host.py",
        "host.",
        'app = ["local://"]',
        lambda port: f'app = ["ssh://root@127.0.0.1:{port}"]',
        target="127.0.0.1",
    ),
}

FAILURES: dict[str, Callable[[], AbstractContextManager[int]]] = {
    "refused": liars.refused,
    "hung": lambda: liars.serving("hung"),
    "liar": lambda: liars.serving("liar"),
    "wrong-protocol": lambda: liars.serving("wrong-protocol"),
    "garbage": lambda: liars.serving("garbage"),
}


def _cells() -> Iterator[object]:
    for component in COMPONENTS:
        for failure in FAILURES:
            yield pytest.param(component, failure, id=f"{component}-{failure}")


@pytest.mark.parametrize(("component", "failure"), list(_cells()))
def test_fault_matrix(run_checks: RunChecks, component: str, failure: str) -> None:
    spec = COMPONENTS[component]
    with FAILURES[failure]() as port:
        assert DEMO_ENV.count(spec.line) == 1, spec.line
        env = DEMO_ENV.replace(spec.line, spec.point(port)) + "\n" + TIMEOUTS
        run = run_checks(spec.checks, env=env)
    records = [c for c in run.summary["checks"] if c["id"].startswith(spec.prefix) and c["status"] != "skipped"]
    judged = [
        c
        for c in records
        if c["id"] != "app.service_running"  # the process, not the URL
        and (not spec.only or c["id"] in spec.only)
        and (spec.target is None or c["target"] == spec.target)
    ]
    assert judged, run.output
    observed = {c["id"]: c["status"] for c in judged}
    print(f"{component} x {failure}: {observed}")
    for record in judged:
        expected = "critical" if record["id"] in spec.own_finding else "unknown"
        assert record["status"] == expected, (record["id"], record["message"])
        assert re.search(rf"\b{port}\b", record["message"]), f"the message names the target: {record['message']}"
        assert "\n" not in record["message"]
