"""Monthly maintenance, steps 3 and 4: the security scan (`bandit -r src/`) and the dependency
audit (`pip-audit`), on each app host.

app.dependency_vulnerabilities: the app's own python (`[app] python`) lists its installed
distributions on the host; pip-audit audits that list on the runner (probes/pip_audit.py). A
known vulnerability with a fixed release is critical (`fixable`), one without a fix a warning
(`unfixable`). A package the service could not look up (not on PyPI: a private package, the app
itself) is a blind spot: `skipped` is a warning from one such package, which a site with private
packages raises by `[thresholds."app.dependency_vulnerabilities.skipped"]`. When nothing could be
audited (no service reached, every package skipped), the check is unknown: never ok.

app.static_analysis: bandit over `[app] source` on the host (probes/bandit.py): high severity
with high confidence is critical (`high`), medium (at least medium confidence) a warning
(`medium`), low is counted (`low`). Code bandit could not parse is a warning: it was not scanned.
"""

from __future__ import annotations

import pytest
from testinfra.host import Host

from fixtures.environment import section
from fixtures.hosts import run_bounded
from fixtures.measure import CheckRun, check
from probes.bandit import NOT_FOUND, Finding, bandit_command, parse_scan
from probes.pip_audit import (
    AuditFailed,
    AuditSettings,
    last_line,
    list_command,
    parse_distributions,
    run_pip_audit,
)
from sergas.config import AppConfig, Environment
from sergas.status import Limit, Status, unknown

pytestmark = [pytest.mark.monthly, pytest.mark.app, pytest.mark.hosts("app")]

SCAN_TIMEOUT = 300  # pip-audit asks the service once per package; bandit reads the whole source
_SHOWN = 3  # findings named in a message


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@pytest.mark.timeout(SCAN_TIMEOUT + 60)
@check(
    "app.dependency_vulnerabilities",
    "The app's Python packages have no known vulnerabilities (pip-audit)",
    fixable=Limit(None, 1),
    unfixable=Limit(1, None),
    skipped=Limit(1, None),
)
def test_dependency_vulnerabilities(host: Host, check: CheckRun, environment: Environment) -> None:
    app: AppConfig = section(environment, "app", "the Sergas app")
    if app.python is None:
        pytest.skip("the app's Python environment is not named ([app] python): its packages are not audited")
    rc, out, err = run_bounded(host, list_command(app.python), environment.command_timeout)
    if rc != 0:
        raise unknown(f"cannot list the packages of {app.python}: {last_line(err or out) or f'exit {rc}'}")
    try:
        distributions = parse_distributions(out)
    except ValueError as exc:
        raise unknown(f"{app.python} listed something else than packages: {exc}") from None
    if not distributions:
        raise unknown(f"{app.python} lists no installed packages")
    settings = AuditSettings(
        app.audit_service, app.audit_proxy, app.audit_ca_file, environment.command_timeout, SCAN_TIMEOUT
    )
    try:
        audit, unreadable = run_pip_audit(distributions, settings)
    except AuditFailed as exc:
        raise unknown(f"{_plural(len(distributions), 'package')} of {app.python} not audited: {exc}") from None
    check.attach(f"pip-audit ({app.audit_service}) of {app.python}", audit.evidence())
    skipped = [(s.name, s.reason) for s in audit.skipped]
    skipped += [(d.name, f"{d.version} is not a PEP 440 version") for d in unreadable]
    if not audit.audited:
        raise unknown(f"pip-audit could not audit any of {_plural(len(skipped), 'package')}: {skipped[0][1]}")

    check.record("audited", len(audit.audited), label="packages audited")
    for name, fixable in (("fixable", True), ("unfixable", False)):
        found = audit.vulnerabilities(fixable=fixable)
        status = _judge(check, name, len(found), f"known vulnerabilities {'with' if fixable else 'without'} a fix")
        if found:
            packages = list(dict.fromkeys(p for p, _ in found))
            shown = ", ".join(
                f"{p.name} {p.version}" + (f" (upgrade to {p.upgrade_to})" if fixable and p.upgrade_to else "")
                for p in packages
            )
            kind = "with a fixed release" if fixable else "without a fix yet"
            count = f"{len(found)} known vulnerabilit{'y' if len(found) == 1 else 'ies'}"
            check.findings.append((status, f"{count} {kind} in {shown}"))
    total = len(skipped) + len(audit.audited)
    status = _judge(check, "skipped", len(skipped), f"packages not audited of {total}")
    if skipped:
        check.findings.append((status, f"{len(skipped)} of {total} packages not audited ({': '.join(skipped[0])})"))
    if not any(p.vulns for p in audit.audited):
        check.ok(f"no known vulnerabilities in {_plural(len(audit.audited), 'package')} of {app.python}")


def _judge(check: CheckRun, name: str, count: int, label: str) -> Status:
    """Record the count `name` held against its limit; its status (the finding is the caller's)."""
    status, _ = check.limit(name).judge(count)
    check.judged(name, count, status, label=label)
    return status


def _named(findings: list[Finding]) -> str:
    shown = ", ".join(f"{f.test_id} at {f.filename}:{f.line}" for f in findings[:_SHOWN])
    return shown + (f" and {len(findings) - _SHOWN} more" if len(findings) > _SHOWN else "")


@pytest.mark.timeout(SCAN_TIMEOUT + 60)
@check(
    "app.static_analysis",
    "bandit finds no high or medium severity issue in the app's source",
    high=Limit(None, 1),
    medium=Limit(1, None),
)
def test_static_analysis(host: Host, check: CheckRun, environment: Environment) -> None:
    app: AppConfig = section(environment, "app", "the Sergas app")
    if app.source is None:
        pytest.skip("the app's source folder is not named ([app] source): it is not scanned")
    rc, out, err = run_bounded(host, bandit_command(app.bandit, app.source), SCAN_TIMEOUT)
    if rc == NOT_FOUND:
        raise unknown(f"bandit is not installed on {check.target} ({app.bandit}: {last_line(err)})")
    try:
        scan = parse_scan(out)
    except ValueError as exc:
        raise unknown(f"bandit gave no report (exit {rc}): {exc}: {last_line(err or out)}") from None
    if scan.lines == 0:
        reason = f": {scan.errors[0][1]}" if scan.errors else ""
        raise unknown(f"bandit found no Python code in {app.source}{reason}")
    check.attach(f"bandit -r {app.source}", scan.evidence())
    for grade, words in (("high", "high severity, high confidence"), ("medium", "medium severity")):
        found = scan.graded(grade)
        status = _judge(check, grade, len(found), f"{words} findings")
        if found:
            check.findings.append((status, f"{_plural(len(found), f'{words} finding')}: {_named(found)}"))
    check.record("low", len(scan.graded("low")), label="low severity or low confidence findings")
    if scan.errors:
        first, reason = scan.errors[0]
        check.warning(f"bandit could not scan {_plural(len(scan.errors), 'file')} in {app.source}: {first}: {reason}")
    if not scan.graded("high") and not scan.graded("medium"):
        check.ok(f"no high or medium severity finding in {app.source} ({scan.lines} lines)")
