"""probes.pip_audit and probes.bandit against the tools' real output.

The files in tests/fakes/ were written by the real tools on this machine: pip_audit_not_found.json
by pip-audit 2.10 asking PyPI (whose JSON API answers 404 here), pip_audit_vulnerable.json by
pip-audit 2.10 through sandbox/pypi_replay.py (a replay of PyPI's JSON API: the service is
replayed, the report is pip-audit's own), bandit_*.json by bandit 1.9 over a folder holding one
instance of each kind of finding and a file it cannot parse, over the sandbox app's clean source,
and over a folder that does not exist. The pip-audit runs here are real subprocesses too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from probes.bandit import bandit_command, parse_scan
from probes.pip_audit import (
    AuditFailed,
    AuditSettings,
    Distribution,
    canonical_name,
    list_command,
    parse_audit,
    parse_distributions,
    run_pip_audit,
)
from sandbox import liars
from sandbox.app_source import SourceFaults
from sandbox.pypi_replay import replaying
from sandbox.tls import Authority

FAKES = Path(__file__).resolve().parent.parent / "fakes"


def fake(name: str) -> str:
    return (FAKES / name).read_text()


def test_vulnerable_report() -> None:
    audit = parse_audit(fake("pip_audit_vulnerable.json"))
    assert [(p.name, p.version, len(p.vulns)) for p in audit.audited] == [
        ("requests", "2.19.0", 4),
        ("py", "1.11.0", 1),
    ]
    requests = audit.audited[0]
    assert requests.vulns[0].id == "PYSEC-2018-28" and requests.vulns[0].aliases == ("CVE-2018-18074",)
    assert requests.upgrade_to == "2.32.4", "the lowest release that fixes all four"
    assert [v.id for _, v in audit.vulnerabilities(fixable=False)] == ["PYSEC-2022-42969"]
    assert len(audit.vulnerabilities(fixable=True)) == 4
    assert [(s.name, s.reason) for s in audit.skipped] == [
        (
            "sergas-super-account-manager",
            "Dependency not found on PyPI and could not be audited: sergas-super-account-manager (1.4.2)",
        )
    ]
    evidence = audit.evidence().splitlines()
    assert "requests 2.19.0: PYSEC-2018-28 (CVE-2018-18074) fixed in 2.20.0" in evidence
    assert "py 1.11.0: PYSEC-2022-42969 (CVE-2022-42969) fixed in no release yet" in evidence
    assert evidence[-1].startswith("sergas-super-account-manager: not audited: Dependency not found on PyPI")


def test_every_package_skipped() -> None:
    audit = parse_audit(fake("pip_audit_not_found.json"))
    assert audit.audited == ()
    assert [s.name for s in audit.skipped] == ["requests", "sergas-super-account-manager"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "pip-audit's output is not JSON"),
        ("[]", "pip-audit's JSON has no dependencies list"),
        ('{"dependencies": [{"version": "1"}]}', "pip-audit's JSON has a dependency without a name"),
        ('{"dependencies": [{"name": "x", "version": "1"}]}', "pip-audit's JSON has no version or vulns for x"),
        ('{"dependencies": [{"name": "x", "version": "1", "vulns": [{}]}]}', "without an id"),
        (
            '{"dependencies": [{"name": "x", "version": "1", "vulns": [{"id": "A", "fix_versions": "2"}]}]}',
            "fix_versions of A is not a list of strings",
        ),
    ],
)
def test_not_a_report(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_audit(text)


def test_distributions_listing() -> None:
    listed = parse_distributions("requests==2.19.0\n\nRequests==2.31.0\nzope.interface==6.0\n")
    assert listed == [Distribution("requests", "2.19.0"), Distribution("zope.interface", "6.0")], "first wins"
    with pytest.raises(ValueError, match="not name==version: 'Hello from sitecustomize'"):
        parse_distributions("requests==2.19.0\nHello from sitecustomize\n")


def test_list_command_reads_a_real_environment(tmp_path: Path) -> None:
    pins = ("requests==2.19.0", "sergas-super-account-manager==1.4.2")
    with SourceFaults(tmp_path).python_environment(*pins) as python:
        out = subprocess.run(
            ["sh", "-c", list_command(str(python))], capture_output=True, text=True, check=True, cwd=tmp_path
        ).stdout
    assert sorted(d.pinned for d in parse_distributions(out)) == sorted(pins)


def test_list_command_of_the_runner() -> None:
    out = subprocess.run(["sh", "-c", list_command(sys.executable)], capture_output=True, text=True, check=True).stdout
    names = {canonical_name(d.name) for d in parse_distributions(out)}
    assert {"pytest", "pip-audit", "bandit"} <= names


def test_pip_audit_through_the_replay(tmp_path: Path) -> None:
    """Real pip-audit, the replayed PyPI behind a proxy; a version pip-audit would refuse is
    kept out of its requirements and said."""
    Authority(tmp_path)
    dists = [Distribution("requests", "2.19.0"), Distribution("legacy", "1.0-final!x"), Distribution("Py", "1.11.0")]
    with replaying(tmp_path) as proxy:
        audit, unreadable = run_pip_audit(dists, AuditSettings(proxy=proxy, ca_file=str(tmp_path / "ca.pem")))
    assert unreadable == [Distribution("legacy", "1.0-final!x")]
    assert [(p.name, len(p.vulns)) for p in audit.audited] == [("requests", 4), ("py", 1)]


def test_pip_audit_failure_is_its_last_line() -> None:
    with liars.refused() as port:
        settings = AuditSettings(proxy=f"http://sergas:s3cret@127.0.0.1:{port}", socket_timeout=2, timeout=60)
        with pytest.raises(AuditFailed) as failed:
            run_pip_audit([Distribution("requests", "2.19.0")], settings)
    message = str(failed.value)
    assert message.startswith("pip-audit failed (exit 1): requests.exceptions.ProxyError: "), message
    assert "\n" not in message and "s3cret" not in message


def test_pip_audit_time_bound() -> None:
    with liars.serving("hung") as port, pytest.raises(AuditFailed, match=r"pip-audit did not finish within 3s"):
        run_pip_audit(
            [Distribution("requests", "2.19.0")],
            AuditSettings(proxy=f"http://127.0.0.1:{port}", socket_timeout=30, timeout=3),
        )


def test_bandit_findings_graded() -> None:
    scan = parse_scan(fake("bandit_findings.json"))
    graded = {grade: [(f.test_id, f.line) for f in scan.graded(grade)] for grade in ("high", "medium", "low")}
    assert graded == {
        "high": [("B602", 9), ("B324", 21)],
        "medium": [("B108", 13), ("B608", 17)],
        "low": [("B404", 3), ("B105", 5), ("B311", 21)],
    }
    assert scan.errors == (("app/legacy.py", "syntax error while parsing AST from file"),)
    evidence = scan.evidence().splitlines()
    assert evidence[0] == "14 lines of code scanned"
    assert "   1 B602 subprocess_popen_with_shell_equals_true (high)" in evidence
    assert "   2 B311 blacklist (low)" not in evidence and "   1 B311 blacklist (low)" in evidence
    assert (
        "high: app/jobs.py:9 B602 subprocess_popen_with_shell_equals_true (HIGH/HIGH): "
        "subprocess call with shell=True identified, security issue." in evidence
    )
    assert evidence[-1] == "not scanned: app/legacy.py: syntax error while parsing AST from file"


def test_bandit_clean_and_missing_source() -> None:
    clean = parse_scan(fake("bandit_clean.json"))
    assert clean.findings == () and clean.lines > 400
    missing = parse_scan(fake("bandit_missing_source.json"))
    assert missing.lines == 0
    assert missing.errors == (("/home/sergas/super-account-manager/src", "No such file or directory"),)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Traceback (most recent call last):", "bandit's output is not JSON"),
        ('{"errors": []}', "bandit's JSON has no results list"),
        ('{"results": []}', "bandit's JSON has no metrics._totals.loc"),
        (
            '{"results": [{"test_id": "B1"}], "metrics": {"_totals": {"loc": 3}}}',
            "a bandit result lacks 'issue_severity'",
        ),
    ],
)
def test_bandit_garbage(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_scan(text)


def test_bandit_command_quotes() -> None:
    assert bandit_command("/opt/bandit env/bin/bandit", "/srv/app; rm -rf /") == (
        "'/opt/bandit env/bin/bandit' -r '/srv/app; rm -rf /' -f json -q"
    )
