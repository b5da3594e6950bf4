"""Pending package updates on a host, read as monitoring-plugins' check_apt reads them.

Debian and Ubuntu: check_apt's own command, `apt-get -s -qq -o Debug::NoLocking=true upgrade` (a
simulation: nothing installed, no lock taken), prints one `Inst` line per upgrade; an upgrade is a
security update when its line matches check_apt's `SECURITY_RE` (the candidate comes from
`Debian-Security:` or `Ubuntu:<version>/<codename>-security`). Both counts are only as fresh as
the package lists: the survey reads the newest mtime among the files of apt's own
`Dir::State::lists` (asked of `apt-config`, never assumed) and the host's clock.

RHEL family (dnf, no apt-get): `dnf -q updateinfo list --available` prints the advisories of
newer versions of installed packages, one `ID TYPE NEVRA` line each (dnf 4's `display_list`); a
security advisory's TYPE is its severity (`Important/Sec.`, `Unknown/Sec.` without one).
Upgrades without an advisory are not listed there, and dnf refreshes its own metadata
(metadata_expire): no list age is read. dnf 5's table is another shape: refused with the line,
never read as "nothing pending".

`apt_config` (the environment's `[updates] apt_config`) is given to apt as `APT_CONFIG`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Literal

from sergas.status import unknown

Manager = Literal["apt", "dnf"]

DAY = 86400.0
APT_UPGRADE = "apt-get -s -qq -o Debug::NoLocking=true upgrade"
DNF_UPDATEINFO = "dnf -q updateinfo list --available"
COMMANDS: dict[Manager, str] = {"apt": APT_UPGRADE, "dnf": DNF_UPDATEINFO}
# check_apt's SECURITY_RE, verbatim (monitoring-plugins plugins/check_apt.c).
SECURITY_RE = re.compile(r"^[^\(]*\(.* (Debian-Security:|Ubuntu:[^/]*/[^-]*-security)")
_INST = "Inst "
_SHOWN = 5  # package names a message shows; the evidence lists them all

# Which package manager; for apt, its lists folder, the newest list's mtime and the host's clock.
# Directories, the lock file and apt's partial downloads say nothing about the last update.
_SURVEY = r"""
if command -v apt-get >/dev/null 2>&1; then
  if [ -n "${APT_CONFIG:-}" ] && [ ! -r "$APT_CONFIG" ]; then
    echo "cannot read APT_CONFIG $APT_CONFIG" >&2; exit 3
  fi
  lists=$(apt-config shell LISTS Dir::State::lists/d) || exit $?
  eval "$lists"
  echo manager=apt
  echo "lists=$LISTS"
  echo "newest=$(find "$LISTS" -mindepth 1 -maxdepth 1 ! -type d ! -name lock -printf '%T@\n' 2>/dev/null \
    | sort -n | tail -n 1)"
  echo "now=$(date +%s)"
elif command -v dnf >/dev/null 2>&1; then
  echo manager=dnf
else
  echo manager=none
fi
"""


def _environment(apt_config: str | None) -> str:
    """English messages, and the site's alternative apt configuration when it has one."""
    config = f" APT_CONFIG={shlex.quote(apt_config)}" if apt_config else ""
    return f"export LC_ALL=C{config}; "


def survey_command(apt_config: str | None) -> str:
    return _environment(apt_config) + _SURVEY


def pending_command(manager: Manager, apt_config: str | None) -> str:
    return _environment(apt_config) + COMMANDS[manager]


def first_line(text: str) -> str:
    """The line that says why: apt's first `E:` line, else the first line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E:")]
    return ((errors or lines or ["no output"])[0])[:200]


@dataclass(frozen=True)
class Survey:
    """The host's package manager and, for apt, how old its package lists are."""

    manager: Manager
    lists: str = ""
    newest: float | None = None
    now: float | None = None

    @classmethod
    def parse(cls, rc: int, out: str, err: str) -> Survey:
        """The survey's answer; unknown when it failed, or the host has neither apt-get nor dnf."""
        if rc != 0:
            raise unknown(f"cannot survey the package manager (exit {rc}): {first_line(err or out)}")
        fields = dict(line.partition("=")[::2] for line in out.splitlines() if "=" in line)
        manager = fields.get("manager")
        if manager == "none":
            raise unknown("neither apt-get nor dnf on the host: its pending updates cannot be read")
        if manager == "dnf":
            return cls("dnf")
        if manager != "apt" or not fields.get("lists"):
            raise unknown(f"unexpected package manager survey: {first_line(out + err)}")
        return cls("apt", fields["lists"], _seconds(fields.get("newest", "")), _seconds(fields.get("now", "")))

    def lists_age(self) -> float:
        """Seconds since apt's package lists were last updated (on the host's clock)."""
        if self.newest is None or self.now is None:
            raise unknown(f"apt has no package lists in {self.lists}, run apt-get update")
        return max(0.0, self.now - self.newest)


def _seconds(text: str) -> float | None:
    try:
        return float(text) if text.strip() else None
    except ValueError:
        raise unknown(f"unexpected time in the package manager survey: {text[:40]!r}") from None


@dataclass(frozen=True)
class Pending:
    """Packages with an upgrade pending, security first; `warning`: what the tool said on
    stderr while succeeding (check_apt: at least a warning)."""

    security: tuple[str, ...]
    other: tuple[str, ...]
    warning: str | None = None

    def listing(self) -> str:
        """As `check_apt --list` prints them: security updates first, each group sorted."""
        lines = [f"{name} (security)" for name in sorted(self.security)] + sorted(self.other)
        return "\n".join(lines) or "no upgrades pending"


def read_pending(manager: Manager, rc: int, out: str, err: str) -> Pending:
    """The upgrades `pending_command` listed; unknown when it failed or said something else."""
    what = "apt-get -s upgrade" if manager == "apt" else "dnf updateinfo list"
    if rc != 0:
        raise unknown(f"{what} failed (exit {rc}): {first_line(err or out)}")
    try:
        security, other = parse_apt_upgrade(out) if manager == "apt" else parse_dnf_updateinfo(out)
    except ValueError as exc:
        raise unknown(f"cannot read {what}: {exc}") from None
    warning = f"{what} warned: {first_line(err)}" if err.strip() else None
    return Pending(security, other, warning)


def parse_apt_upgrade(output: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(security, other) package names of an `apt-get -s upgrade`'s `Inst` lines, as check_apt
    counts them: the name is the word after `Inst`, security when SECURITY_RE matches."""
    security: list[str] = []
    other: list[str] = []
    for line in output.splitlines():
        if line.startswith(_INST):
            name = line[len(_INST) :].split(" ", 1)[0]
            (security if SECURITY_RE.match(line) else other).append(name)
    return tuple(security), tuple(other)


def parse_dnf_updateinfo(output: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(security, other) package names of `dnf updateinfo list` lines (`ID TYPE NEVRA`): a
    package with any security advisory is a security update; raises ValueError on another shape."""
    security: set[str] = set()
    other: set[str] = set()
    for line in output.splitlines():
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 3 or fields[2].count("-") < 2:
            raise ValueError(f"not an advisory line (ID TYPE NEVRA): {line.strip()[:120]!r}")
        _advisory, kind, nevra = fields
        name = nevra.rsplit("-", 2)[0]
        (security if kind.endswith("/Sec.") else other).add(name)
    return tuple(sorted(security)), tuple(sorted(other - security))


def brief(names: tuple[str, ...]) -> str:
    """`a, b, c`, or the first few and how many more."""
    more = f" +{len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(sorted(names)[:_SHOWN]) + more
