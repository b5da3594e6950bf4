"""app.performance_baseline against the sandbox app: a first run is recorded, a slower second
run into the same archive warns with the growth, a path answering 500 is critical."""

from __future__ import annotations

import re

import pytest

from sandbox import Sandbox
from tests.conftest import RunChecks, environment_text

CHECK = "app.performance_baseline"
MODULE = "monthly/test_performance.py"


def test_first_run_recorded_then_slower_run_warns(
    run_checks: RunChecks, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> None:
    archive = tmp_path_factory.mktemp("archive")  # both runs archive here: the second sees the first
    first = run_checks(MODULE, report_dir=archive)
    assert first.result.ret == pytest.ExitCode.OK, first.output
    assert first.status(CHECK) == "ok", first.message(CHECK)
    assert re.search(r"first run: recorded \(/health p95 \S+; 20 requests each\)", first.message(CHECK))
    measurements = first.checks(CHECK)[0]["measurements"]
    assert {(m["name"], m["unit"], str(m["labels"])) for m in measurements} == {
        ("p50", "s", "{'path': '/health'}"),
        ("p95", "s", "{'path': '/health'}"),
        ("p95_max", "s", "{}"),
    }

    with sandbox.faults.slow_endpoint("/health", 0.3):
        second = run_checks(MODULE, report_dir=archive)
    assert second.status(CHECK) == "warning", second.output
    assert re.search(
        r"p95 growth since run \S+ = \d+% \(\S+ -> 3\d\dms, /health\) >= warning 25%", second.message(CHECK)
    ), second.message(CHECK)
    growth = next(m for m in second.checks(CHECK)[0]["measurements"] if m["name"] == "p95_growth")
    assert growth["unit"] == "%" and growth["warning"] == 25 and growth["value"] > 25


def test_path_answering_500_is_critical(run_checks: RunChecks, sandbox: Sandbox) -> None:
    env = environment_text().replace(
        'admin_token = "${SANDBOX_ADMIN_TOKEN}"\n',
        'admin_token = "${SANDBOX_ADMIN_TOKEN}"\nbenchmark_paths = ["/health", "/api/v1/features"]\n'
        "benchmark_requests = 5\n",
    )
    with sandbox.faults.http_errors("/api/v1/features", 500):
        run = run_checks(MODULE, env=env)
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED, run.output
    assert run.status(CHECK) == "critical", run.output
    assert "GET /api/v1/features answered HTTP 500 (request 1 of 5)" in run.message(CHECK)
    paths = {m["labels"].get("path") for m in run.checks(CHECK)[0]["measurements"]}
    assert paths == {"/health", None}, paths  # /health measured; the failing path not
