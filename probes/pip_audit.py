"""The app's Python dependencies against the known vulnerabilities, with pip-audit.

Two halves. On the app host, only the app's own interpreter runs: `list_command` prints its
installed distributions as `name==version` lines (importlib.metadata, `python -I`: no current
folder, no PYTHON* variables). On the runner, `run_pip_audit` gives that list to pip-audit as a
pinned requirements file (`--no-deps --disable-pip`: nothing is resolved or installed), which asks
PyPI's (or OSV's) vulnerability service. A proxy and a CA bundle for that service go in
pip-audit's environment only (HTTPS_PROXY, REQUESTS_CA_BUNDLE), never on its command line: a
proxy URL may carry a password. Each run gets an empty HTTP cache, so it reports today's data.

`parse_audit` reads pip-audit's `--format json` (pip_audit/_format/json.py): `dependencies[]`,
each either `{name, version, vulns: [{id, fix_versions, aliases, description}]}` or
`{name, skip_reason}` (a dependency the service could not look up).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

# Python 3.8+: one line, no secret in it, nothing but the metadata of what is installed.
_PROGRAM = (
    "import importlib.metadata as m;"
    "print('\\n'.join(d.metadata.get('Name') + '==' + d.metadata.get('Version')"
    " for d in m.distributions() if d.metadata.get('Name') and d.metadata.get('Version')))"
)
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)==(?P<version>\S+)$")


class AuditFailed(Exception):
    """pip-audit gave no report; the message is one line: why."""


def list_command(python: str) -> str:
    """The command that lists the distributions `python` imports from, one `name==version` a line."""
    return f"{shlex.quote(python)} -I -c {shlex.quote(_PROGRAM)}"


def canonical_name(name: str) -> str:
    """PEP 503's normalized name: `Foo_Bar.baz` -> `foo-bar-baz`."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Distribution:
    name: str
    version: str

    @property
    def pinned(self) -> str:
        return f"{self.name}=={self.version}"


def parse_distributions(text: str) -> list[Distribution]:
    """The `list_command` output, one distribution per name (the first on sys.path wins, as for
    the import system); raises ValueError on a line that is not `name==version`."""
    found: dict[str, Distribution] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _PIN.match(line.strip())
        if match is None:
            raise ValueError(f"not name==version: {line.strip()[:80]!r}")
        found.setdefault(canonical_name(match["name"]), Distribution(match["name"], match["version"]))
    return list(found.values())


@dataclass(frozen=True)
class Vulnerability:
    id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]

    @property
    def fixable(self) -> bool:
        return bool(self.fix_versions)

    def describe(self) -> str:
        """`PYSEC-2018-28 (CVE-2018-18074) fixed in 2.20.0`."""
        aliases = f" ({', '.join(self.aliases)})" if self.aliases else ""
        return f"{self.id}{aliases} fixed in {', '.join(self.fix_versions) or 'no release yet'}"


@dataclass(frozen=True)
class AuditedPackage:
    name: str
    version: str
    vulns: tuple[Vulnerability, ...]

    @property
    def upgrade_to(self) -> str | None:
        """The lowest version that fixes every fixable vulnerability of this package: the
        highest of each vulnerability's lowest fix above the installed version."""
        try:
            installed = Version(self.version)
            needed = [
                min((Version(f) for f in v.fix_versions if Version(f) > installed), default=None)
                for v in self.vulns
                if v.fixable
            ]
        except InvalidVersion:
            return None
        known = [n for n in needed if n is not None]
        return str(max(known)) if known else None


@dataclass(frozen=True)
class SkippedPackage:
    name: str
    reason: str


@dataclass(frozen=True)
class Audit:
    """What pip-audit reported: the packages it audited, and those it could not."""

    audited: tuple[AuditedPackage, ...]
    skipped: tuple[SkippedPackage, ...]

    def vulnerabilities(self, *, fixable: bool) -> list[tuple[AuditedPackage, Vulnerability]]:
        return [(p, v) for p in self.audited for v in p.vulns if v.fixable is fixable]

    def evidence(self) -> str:
        """Each vulnerability (package, version, id, aliases, fixed versions), then the skipped."""
        rows = [f"{p.name} {p.version}: {v.describe()}" for p in self.audited for v in p.vulns]
        rows += [f"{s.name}: not audited: {s.reason}" for s in self.skipped]
        return "\n".join(rows) or f"{len(self.audited)} packages audited: no known vulnerabilities"


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} is not a list of strings")
    return tuple(value)


def parse_audit(text: str) -> Audit:
    """pip-audit's `--format json` report; raises ValueError (one line) when it is not one."""
    try:
        report = json.loads(text)
    except ValueError:
        raise ValueError("pip-audit's output is not JSON") from None
    deps = report.get("dependencies") if isinstance(report, dict) else None
    if not isinstance(deps, list):
        raise ValueError("pip-audit's JSON has no dependencies list")
    audited: list[AuditedPackage] = []
    skipped: list[SkippedPackage] = []
    for dep in deps:
        if not isinstance(dep, dict) or not isinstance(dep.get("name"), str):
            raise ValueError(f"pip-audit's JSON has a dependency without a name: {str(dep)[:80]}")
        name = dep["name"]
        if "skip_reason" in dep:
            skipped.append(SkippedPackage(name, str(dep["skip_reason"])))
            continue
        vulns = dep.get("vulns")
        if not isinstance(dep.get("version"), str) or not isinstance(vulns, list):
            raise ValueError(f"pip-audit's JSON has no version or vulns for {name}")
        found = []
        for vuln in vulns:
            if not isinstance(vuln, dict) or not isinstance(vuln.get("id"), str):
                raise ValueError(f"pip-audit's JSON has a vulnerability of {name} without an id")
            fixes = _strings(vuln.get("fix_versions", []), f"fix_versions of {vuln['id']}")
            found.append(Vulnerability(vuln["id"], _strings(vuln.get("aliases", []), "aliases"), fixes))
        audited.append(AuditedPackage(name, dep["version"], tuple(found)))
    return Audit(tuple(audited), tuple(skipped))


@dataclass(frozen=True)
class AuditSettings:
    """How pip-audit reaches its vulnerability service from the runner."""

    service: str = "pypi"  # pip-audit's -s: pypi | osv
    proxy: str | None = None  # HTTPS_PROXY of pip-audit's environment
    ca_file: str | None = None  # REQUESTS_CA_BUNDLE of pip-audit's environment
    socket_timeout: float = 15
    timeout: float = 300  # the whole run


def last_line(text: str) -> str:
    """The last non-empty line of `text` (a traceback's is its error), shortened."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:240] if lines else ""


def run_pip_audit(distributions: list[Distribution], settings: AuditSettings) -> tuple[Audit, list[Distribution]]:
    """pip-audit over `distributions` (runner side): its report, and the distributions it was
    not given since their version is not PEP 440 (pip-audit refuses the whole file for one).
    Raises AuditFailed with pip-audit's last line of error when it gives no report."""
    valid, invalid = [], []
    for dist in distributions:
        try:
            Version(dist.version)
            valid.append(dist)
        except InvalidVersion:
            invalid.append(dist)
    env = {**os.environ}
    if settings.proxy is not None:
        env["HTTPS_PROXY"] = env["https_proxy"] = settings.proxy
    if settings.ca_file is not None:
        env["REQUESTS_CA_BUNDLE"] = settings.ca_file
    with tempfile.TemporaryDirectory(prefix="sergas-pip-audit-") as folder:
        requirements = Path(folder) / "requirements.txt"
        requirements.write_text("".join(f"{d.pinned}\n" for d in valid))
        argv = [
            sys.executable,
            "-m",
            "pip_audit",
            "-r",
            str(requirements),
            "--no-deps",
            "--disable-pip",
            "--format",
            "json",
            "--progress-spinner",
            "off",
            "-s",
            settings.service,
            "--timeout",
            str(max(int(settings.socket_timeout), 1)),
            "--cache-dir",
            str(Path(folder) / "cache"),
        ]
        try:
            result = subprocess.run(
                argv, capture_output=True, text=True, timeout=settings.timeout, env=env, check=False
            )
        except subprocess.TimeoutExpired:
            raise AuditFailed(f"pip-audit did not finish within {settings.timeout:g}s") from None
    try:
        return parse_audit(result.stdout), invalid
    except ValueError:
        reason = last_line(result.stderr) or last_line(result.stdout) or "no output"
        raise AuditFailed(f"pip-audit failed (exit {result.returncode}): {reason}") from None
