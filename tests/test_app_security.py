"""app.static_analysis and app.dependency_vulnerabilities against the sandbox's app host.

bandit runs for real over the sandbox app's source (a copy of its modules), clean, then with a
module that runs a shell command (`SourceFaults.insecure_code`: B602). pip-audit runs for real on
the runner over what the app's python lists on the host. This machine reaches no vulnerability
service (PyPI's JSON API answers 404 here): the healthy sandbox's audit is unknown, never ok.
The vulnerable cases REPLAY PyPI's JSON API (sandbox/pypi_replay.py, through `[app]
audit_proxy`/`audit_ca_file`) over a real virtual environment holding requests 2.19.0.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sandbox import Sandbox, liars
from sandbox.pypi_replay import replaying
from tests.conftest import DEMO_ENV, RunChecks

PATH = "monthly/test_app_security.py"
DEPS = "app.dependency_vulnerabilities"
BANDIT = "app.static_analysis"


def with_app(**keys: str | None) -> str:
    """The demo environment with these `[app]` keys set (None: left out)."""
    text = DEMO_ENV
    for key in keys:
        text = re.sub(rf"(?m)^{key} = .*\n", "", text)
    lines = "".join(f'{key} = "{value}"\n' for key, value in keys.items() if value is not None)
    return text.replace("[app]\n", f"[app]\n{lines}", 1)


def test_healthy_sandbox(run_checks: RunChecks, sandbox: Sandbox) -> None:
    run = run_checks(PATH, env=with_app(python="${SANDBOX_APP_PYTHON}"), args=("-m", "monthly"))
    assert run.status(BANDIT) == "ok", run.output
    source = sandbox.require_state().env_vars()["SANDBOX_APP_SOURCE"]
    clean = rf"localhost: no high or medium severity finding in {source} \(\d+ lines\)"
    assert re.fullmatch(clean, run.message(BANDIT)), run.message(BANDIT)
    (record,) = run.checks(BANDIT)
    assert {m["name"]: m["value"] for m in record["measurements"]} == {"high": 0, "medium": 0, "low": 0}
    # No vulnerability service answers here (pypi.org's JSON API is 404 through the proxy): every
    # package is skipped, and that is unknown, never ok. A machine that reaches the service gets
    # the project's own packages really judged: then they were audited.
    (deps,) = run.checks(DEPS)
    if deps["status"] == "unknown":
        assert re.fullmatch(r"localhost: pip-audit could not audit any of \d+ packages: .+", deps["message"]), deps
    else:
        audited = {m["name"]: m["value"] for m in deps["measurements"]}["audited"]
        assert audited > 0, deps


def test_insecure_code_is_critical(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.insecure_code() as module:
        run = run_checks(PATH, args=("-k", "static_analysis"))
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    assert run.status(BANDIT) == "critical"
    assert run.message(BANDIT) == (f"localhost: 1 high severity, high confidence finding: B602 at {module}:8")
    (record,) = run.checks(BANDIT)
    assert {m["name"]: m["value"] for m in record["measurements"]} == {"high": 1, "medium": 0, "low": 1}
    evidence = record["evidence"][0]["content"]
    assert "   1 B602 subprocess_popen_with_shell_equals_true (high)" in evidence
    assert f"high: {module}:8 B602 subprocess_popen_with_shell_equals_true (HIGH/HIGH)" in evidence


def test_bandit_missing_and_source_missing(run_checks: RunChecks, tmp_path: Path) -> None:
    run = run_checks(PATH, env=with_app(bandit=str(tmp_path / "no-bandit")), args=("-k", "static_analysis"))
    assert run.status(BANDIT) == "unknown"
    assert run.message(BANDIT).startswith(f"localhost: bandit is not installed on localhost ({tmp_path}/no-bandit: ")
    run = run_checks(PATH, env=with_app(source=str(tmp_path / "nowhere")), args=("-k", "static_analysis"))
    assert run.status(BANDIT) == "unknown"
    assert run.message(BANDIT) == (
        f"localhost: bandit found no Python code in {tmp_path}/nowhere: No such file or directory"
    )


def test_not_configured_is_skipped(run_checks: RunChecks) -> None:
    run = run_checks(PATH, env=with_app(python=None, source=None))
    assert run.status(DEPS) == run.status(BANDIT) == "skipped"
    assert "not named ([app] python): its packages are not audited" in run.message(DEPS)
    assert "not named ([app] source): it is not scanned" in run.message(BANDIT)


def test_vulnerable_packages_replayed(run_checks: RunChecks, sandbox: Sandbox) -> None:
    """REPLAY of PyPI's JSON API: a real venv with requests 2.19.0 (four fixed advisories) and the
    app's own private package (not on PyPI: skipped), audited by the real pip-audit."""
    state = sandbox.require_state()
    pins = ("requests==2.19.0", "sergas-super-account-manager==1.4.2")
    with sandbox.faults.python_environment(*pins) as python, replaying(state.root / "tls") as proxy:
        env = with_app(python=str(python), audit_proxy=proxy, audit_ca_file=state.tls_ca_file)
        run = run_checks(PATH, env=env, args=("-k", "dependency"))
    assert run.status(DEPS) == "critical", run.output
    assert run.message(DEPS) == (
        "localhost: 4 known vulnerabilities with a fixed release in requests 2.19.0 (upgrade to 2.32.4)"
    )
    (record,) = run.checks(DEPS)
    measured = {m["name"]: (m["value"], m.get("status")) for m in record["measurements"]}
    assert measured == {
        "audited": (1, "ok"),
        "fixable": (4, "critical"),
        "unfixable": (0, "ok"),
        "skipped": (1, "warning"),
    }
    evidence = record["evidence"][0]["content"]
    assert "requests 2.19.0: PYSEC-2018-28 (CVE-2018-18074) fixed in 2.20.0" in evidence
    assert "sergas-super-account-manager: not audited: Dependency not found on PyPI" in evidence


def test_unfixable_is_a_warning_replayed(run_checks: RunChecks, sandbox: Sandbox) -> None:
    """REPLAY of PyPI's JSON API: py 1.11.0's advisory has no fixed release."""
    state = sandbox.require_state()
    with sandbox.faults.python_environment("py==1.11.0") as python, replaying(state.root / "tls") as proxy:
        env = with_app(python=str(python), audit_proxy=proxy, audit_ca_file=state.tls_ca_file)
        run = run_checks(PATH, env=env, args=("-k", "dependency"))
    assert run.status(DEPS) == "warning"
    assert run.message(DEPS) == "localhost: 1 known vulnerability without a fix yet in py 1.11.0"


def test_service_unreachable_and_python_missing(run_checks: RunChecks, tmp_path: Path) -> None:
    with liars.refused() as port:
        env = with_app(python="${SANDBOX_APP_PYTHON}", audit_proxy=f"http://127.0.0.1:{port}")
        run = run_checks(PATH, env=env, args=("-k", "dependency"))
    assert run.status(DEPS) == "unknown"
    assert re.fullmatch(
        r"localhost: \d+ packages of \S+ not audited: "
        r"pip-audit failed \(exit 1\): requests\.exceptions\.ProxyError: .*",
        run.message(DEPS),
    ), run.message(DEPS)
    run = run_checks(PATH, env=with_app(python=str(tmp_path / "python")), args=("-k", "dependency"))
    assert run.status(DEPS) == "unknown"
    assert run.message(DEPS).startswith(f"localhost: cannot list the packages of {tmp_path}/python: ")
