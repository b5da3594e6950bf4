"""`--retry-timeout`: a post-deploy gate that waits for the rollout.

Against the sandbox: the app is down when the gate starts and comes back while it retries (ok,
with the attempts and how long it took), or stays down (the last attempt's status, said so). With
a check whose answers are scripted (a file of statuses, one per attempt): ok and then not ok on
the confirming attempt is flapping."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from sandbox import Sandbox
from tests.conftest import ROOT, Run, RunChecks

CHECK = "app.health_endpoint"
GATE = ("-k", CHECK, "--retry-interval", "1s")


def _record(run: Run, check_id: str = CHECK) -> dict[str, Any]:
    (record,) = run.checks(check_id)
    return record


def test_gate_waits_for_the_app_to_come_back(run_checks: RunChecks, sandbox: Sandbox) -> None:
    fault = sandbox.faults.app_stopped()
    fault.__enter__()
    comeback = threading.Timer(4.0, fault.__exit__, args=(None, None, None))
    comeback.start()
    try:
        run = run_checks("daily/test_app.py", args=(*GATE, "--retry-timeout", "90s"))
    finally:
        comeback.join()
    record = _record(run)
    assert record["status"] == "ok", run.output
    retries = record["retries"]
    statuses = [a["status"] for a in retries["attempts"]]
    assert statuses[0] == "critical" and statuses[-2:] == ["ok", "ok"], statuses
    assert retries["healthy_after_s"] >= 3 and not retries["flapping"]
    assert record["message"].endswith(f"(ok after {retries['healthy_after_s']:g}s, {len(statuses)} attempts)")
    assert run.result.ret == pytest.ExitCode.OK


def test_gate_gives_up_with_the_last_status(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.app_stopped():
        run = run_checks("daily/test_app.py", args=(*GATE, "--retry-timeout", "3s"))
    record = _record(run)
    assert record["status"] == "critical"
    attempts = record["retries"]["attempts"]
    assert len(attempts) >= 3 and {a["status"] for a in attempts} == {"critical"}
    assert record["retries"]["healthy_after_s"] is None
    assert f"(still critical after {len(attempts)} attempts in" in record["message"]
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED


def test_without_the_option_a_check_runs_once(run_checks: RunChecks) -> None:
    record = _record(run_checks("daily/test_app.py", args=("-k", CHECK)))
    assert record["status"] == "ok" and record["retries"] is None


SCRIPTED = """
from pathlib import Path

from fixtures.measure import CheckRun, check


@check("demo.scripted", "Answers what answers.txt says, one word per attempt")
def test_scripted(check: CheckRun) -> None:
    answers = Path(__file__).with_name("answers.txt")
    first, *rest = answers.read_text().split()
    answers.write_text(" ".join(rest))
    getattr(check, first)(f"answered {first}")
"""


@pytest.mark.parametrize(
    ("answers", "status", "statuses", "flapping"),
    [
        ("critical ok critical", "critical", ["critical", "ok", "critical"], True),
        ("unknown warning ok ok", "ok", ["unknown", "warning", "ok", "ok"], False),
        ("ok", "ok", None, False),
    ],
)
def test_scripted_attempts(
    pytester: pytest.Pytester, answers: str, status: str, statuses: list[str] | None, flapping: bool
) -> None:
    pytester.makepyfile(test_scripted=SCRIPTED)
    (pytester.path / "answers.txt").write_text(answers)
    (pytester.path / "env.toml").write_text('name = "scripted"\n')
    result = pytester.runpytest_subprocess(
        f"--rootdir={ROOT}",
        f"-c={ROOT / 'pyproject.toml'}",
        f"--env={pytester.path / 'env.toml'}",
        f"--report-dir={pytester.path / 'reports'}",
        "--retry-timeout=30s",
        "--retry-interval=0.1s",
        str(pytester.path / "test_scripted.py"),
    )
    record = _record(Run(result, pytester.path / "reports"), "demo.scripted")
    assert record["status"] == status, result.stdout.str()
    if statuses is None:
        assert record["retries"] is None
        return
    assert [a["status"] for a in record["retries"]["attempts"]] == statuses
    assert record["retries"]["flapping"] is flapping
    if flapping:
        assert "(flapping: ok after" in record["message"] and record["message"].endswith("then critical again)")
