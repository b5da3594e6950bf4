"""tls.certificate_expiry against the sandbox's TLS endpoint (its own CA): ok when healthy, and
the right status and message with a certificate that expires soon, has expired, names another
host or comes from another CA; unknown for an endpoint that refuses, hangs or speaks no TLS."""

from __future__ import annotations

import re

import pytest

from sandbox import Sandbox, liars
from tests.conftest import DEMO_ENV, RunChecks, environment_text

CHECK = "tls.certificate_expiry"
PATH = "weekly/test_tls.py"


def with_endpoints(*endpoints: str, extra: str = "") -> str:
    """The demo environment with `[tls] endpoints` replaced."""
    listed = ", ".join(f'"{e}"' for e in endpoints)
    base, count = re.subn(r"(?m)^endpoints = \[.*\]$", f"endpoints = [{listed}]", DEMO_ENV)
    assert count == 1, "demo.toml's [tls] endpoints line moved"
    return environment_text(extra, base=base)


def target(sandbox: Sandbox) -> str:
    return f"localhost:{sandbox.require_state().tls_port}"


def test_healthy_certificate_is_ok(run_checks: RunChecks, sandbox: Sandbox) -> None:
    run = run_checks(PATH, args=("-m", "weekly"))
    assert run.result.ret == pytest.ExitCode.OK, run.output
    (record,) = run.checks(CHECK)
    assert record["status"] == "ok", record
    assert record["target"] == target(sandbox)
    assert re.fullmatch(
        rf"{target(sandbox)}: certificate expires \d{{4}}-\d\d-\d\d \((89|90) days left\)", record["message"]
    )
    assert [m["name"] for m in record["measurements"]] == ["days_left"]
    assert record["measurements"][0]["unit"] == "s"
    evidence = record["evidence"][0]["content"]
    assert "SANs: DNS:localhost, IP:127.0.0.1" in evidence and "CN=Sergas sandbox CA" in evidence


@pytest.mark.parametrize(("days", "status", "limit"), [(3, "critical", "critical 14d"), (20, "warning", "warning 30d")])
def test_expiring(run_checks: RunChecks, sandbox: Sandbox, days: int, status: str, limit: str) -> None:
    with sandbox.faults.tls_expiring(days=days):
        run = run_checks(PATH)
    assert run.status(CHECK) == status
    message = run.message(CHECK)
    assert re.fullmatch(
        rf"{target(sandbox)}: certificate expires \d{{4}}-\d\d-\d\d \({days - 1} days left\) <= {limit}", message
    ), message


def test_threshold_override(run_checks: RunChecks) -> None:
    run = run_checks(PATH, env=environment_text('[thresholds."tls.certificate_expiry"]\nwarning = "100d"\n'))
    assert run.status(CHECK) == "warning"
    assert run.message(CHECK).endswith("days left) <= warning 100d"), run.message(CHECK)


def test_expired(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.tls_expired():
        run = run_checks(PATH)
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    assert run.status(CHECK) == "critical"
    assert re.fullmatch(rf"{target(sandbox)}: certificate expired \S+ \(5 days ago\)", run.message(CHECK))


def test_wrong_host(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.tls_wrong_host():
        run = run_checks(PATH)
    assert run.status(CHECK) == "critical"
    assert run.message(CHECK) == f"{target(sandbox)}: certificate is not for localhost (SANs: DNS:www.example.org)"


def test_untrusted(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.tls_untrusted():
        run = run_checks(PATH)
    assert run.status(CHECK) == "critical"
    assert run.message(CHECK) == (
        f"{target(sandbox)}: certificate not trusted: unable to get local issuer certificate"
        " (issuer CN=Some other CA,O=Sergas sandbox)"
    )


def test_refused_hung_and_not_tls_are_unknown(run_checks: RunChecks) -> None:
    with liars.refused() as refused, liars.serving("hung") as hung, liars.serving("wrong-protocol") as ssh:
        endpoints = [f"127.0.0.1:{refused}", f"127.0.0.1:{hung}", f"127.0.0.1:{ssh}"]
        run = run_checks(PATH, env=with_endpoints(*endpoints, extra='[timeouts]\nconnect = "2s"\n'))
    messages = {c["target"]: (c["status"], c["message"]) for c in run.checks(CHECK)}
    assert messages == {
        endpoints[0]: ("unknown", f"{endpoints[0]}: cannot connect: connection refused"),
        endpoints[1]: ("unknown", f"{endpoints[1]}: no TLS handshake within 2s"),
        endpoints[2]: ("unknown", messages[endpoints[2]][1]),
    }
    assert messages[endpoints[2]][1].startswith(f"{endpoints[2]}: no TLS handshake: "), messages


def test_no_endpoints_is_skipped(run_checks: RunChecks) -> None:
    env = re.sub(r"(?ms)^\[tls\]\n.*?(?=^\[|\Z)", "", DEMO_ENV)
    run = run_checks(PATH, env=env)
    assert run.status(CHECK) == "skipped"
    assert "no TLS endpoints in environment demo ([tls] endpoints, or an https [app] url)" in run.message(CHECK)


def test_default_endpoint_is_the_https_app_url(run_checks: RunChecks, sandbox: Sandbox) -> None:
    """Without `[tls] endpoints`, the certificate checked is the one of an https `[app] url`."""
    state = sandbox.require_state()
    base, count = re.subn(r"(?m)^endpoints = \[.*\]\n", "", DEMO_ENV)
    assert count == 1, "demo.toml's [tls] endpoints line moved"
    base = re.sub(r'(?m)^url = "\$\{SANDBOX_APP_URL\}"$', f'url = "https://localhost:{state.tls_port}"', base, count=1)
    run = run_checks(PATH, env=environment_text(base=base), args=("-k", CHECK))
    (record,) = run.checks(CHECK)
    assert record["status"] == "ok", record["message"]
    assert record["target"] == target(sandbox)
