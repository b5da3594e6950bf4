"""The sandbox's apt: a private apt state and two local repositories, so `host.security_updates`
runs the real apt-get without reading or changing the machine's own apt state.

`<root>/apt/apt.conf` (`SANDBOX_APT_CONFIG`, given to apt as APT_CONFIG) puts every folder apt
reads or writes under `<root>/apt/`: the package lists and caches, the log, the sources and
trust, a dpkg status file of its own, and an empty apt.conf.d (the machine's /etc/apt
configuration, hooks included, is never read). apt reads APT_CONFIG before anything else, so
these settings hold from the start.

The status file lists one package, `sergas-fixture` 1.0, installed. Two flat `file:`
repositories serve it, `repo/security` (Origin Debian, Label Debian-Security, Suite
stable-security: what check_apt counts as security) and `repo/main` (Label Debian, Suite
stable); healthy, both hold the installed version. A fault publishes a newer version in one of
them and runs `apt-get update` with the private configuration; leaving it restores the
repository and updates the lists again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PACKAGE = "sergas-fixture"
INSTALLED = "1.0"
NEWER = "1.1"
# Flat repositories by name: their Release fields (what apt-get -s prints as the origin).
REPOSITORIES = {
    "security": {"Origin": "Debian", "Label": "Debian-Security", "Suite": "stable-security"},
    "main": {"Origin": "Debian", "Label": "Debian", "Suite": "stable"},
}
_STANZA = (
    "Package: {package}\n{status}Priority: optional\nSection: misc\nMaintainer: Sergas sandbox <ops@sergas.invalid>\n"
    "Architecture: all\nVersion: {version}\n{file}Description: fixture package of the Sergas sandbox\n\n"
)


class AptError(RuntimeError):
    """apt-get update failed on the sandbox's private state; the message is apt's."""


def _stanza(version: str, *, installed: bool) -> str:
    status = "Status: install ok installed\n" if installed else ""
    deb = f"Filename: ./{PACKAGE}_{version}_all.deb\nSize: 1024\n" if not installed else ""
    return _STANZA.format(package=PACKAGE, status=status, version=version, file=deb)


def _config(folder: Path) -> str:
    """apt.conf: every folder apt uses, inside `folder`."""
    settings = {
        "Dir": f"{folder}/",
        "Dir::State": f"{folder}/state",
        "Dir::State::lists": f"{folder}/state/lists",
        "Dir::State::status": f"{folder}/dpkg/status",
        "Dir::State::extended_states": f"{folder}/state/extended_states",
        "Dir::Cache": f"{folder}/cache",
        "Dir::Cache::archives": f"{folder}/cache/archives",
        "Dir::Etc": f"{folder}/etc",
        "Dir::Etc::main": "/dev/null",
        "Dir::Etc::parts": f"{folder}/etc/apt.conf.d",
        "Dir::Etc::sourcelist": f"{folder}/etc/sources.list",
        "Dir::Etc::sourceparts": f"{folder}/etc/sources.list.d",
        "Dir::Etc::trusted": f"{folder}/etc/trusted.gpg",
        "Dir::Etc::trustedparts": f"{folder}/etc/trusted.gpg.d",
        "Dir::Etc::preferences": f"{folder}/etc/preferences",
        "Dir::Etc::preferencesparts": f"{folder}/etc/preferences.d",
        "Dir::Log": f"{folder}/log",
        # The file: method reads the repositories as root: no drop to _apt, which cannot enter
        # the sandbox's 0700 root (apt would warn and fetch unsandboxed anyway).
        "APT::Sandbox::User": "root",
    }
    return "".join(f'{key} "{value}";\n' for key, value in settings.items())


class AptState:
    """The private apt state under `folder` (`<root>/apt`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config = folder / "apt.conf"
        self.lists = folder / "state" / "lists"

    def build(self) -> Path:
        """Create the state and the repositories (healthy), update the lists; the apt.conf path."""
        for sub in ("etc/apt.conf.d", "etc/sources.list.d", "etc/trusted.gpg.d", "etc/preferences.d"):
            (self.folder / sub).mkdir(parents=True)
        for sub in ("state/lists/partial", "cache/archives/partial", "log", "dpkg"):
            (self.folder / sub).mkdir(parents=True)
        (self.folder / "dpkg" / "status").write_text(_stanza(INSTALLED, installed=True))
        sources = "".join(f"deb [trusted=yes] file:{self.repository(name)} ./\n" for name in REPOSITORIES)
        (self.folder / "etc" / "sources.list").write_text(sources)
        for name in REPOSITORIES:
            self.repository(name).mkdir(parents=True)
            self.publish(name, INSTALLED)
        self.config.write_text(_config(self.folder))
        self.update()
        return self.config

    def repository(self, name: str) -> Path:
        return self.folder / "repo" / name

    def publish(self, name: str, version: str) -> None:
        """Serve `version` of the fixture package from repository `name` (lists not updated)."""
        folder = self.repository(name)
        packages = _stanza(version, installed=False).encode()
        (folder / "Packages").write_bytes(packages)
        date = dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S UTC")
        fields = "".join(f"{key}: {value}\n" for key, value in REPOSITORIES[name].items())
        digest = hashlib.sha256(packages).hexdigest()
        (folder / "Release").write_text(f"{fields}Date: {date}\nSHA256:\n {digest} {len(packages)} Packages\n")

    def update(self) -> None:
        """`apt-get update` with the private configuration."""
        env = {**os.environ, "APT_CONFIG": str(self.config), "LC_ALL": "C"}
        done = subprocess.run(
            ["apt-get", "-q", "update"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0 or done.stderr.strip():
            raise AptError(f"apt-get update (APT_CONFIG={self.config}) said: {done.stderr.strip() or done.stdout}")


class AptFaults:
    """Faults of the private apt state: an update pending, or package lists gone stale."""

    def __init__(self, apt_folder: Path) -> None:
        self._apt = AptState(apt_folder)

    @contextmanager
    def _published(self, repository: str) -> Iterator[None]:
        self._apt.publish(repository, NEWER)
        self._apt.update()
        try:
            yield
        finally:
            self._apt.publish(repository, INSTALLED)
            self._apt.update()

    def security_update_pending(self) -> contextlib.AbstractContextManager[None]:
        """A newer `sergas-fixture` in the security repository (Label Debian-Security)."""
        return self._published("security")

    def other_update_pending(self) -> contextlib.AbstractContextManager[None]:
        """A newer `sergas-fixture` in the main repository only (Label Debian)."""
        return self._published("main")

    @contextmanager
    def stale_lists(self, days: float = 10) -> Iterator[None]:
        """The package lists last updated `days` days ago (their mtimes, links included)."""
        entries = [p for p in self._apt.lists.iterdir() if not p.is_dir() or p.is_symlink()]
        saved = {p: p.lstat() for p in entries}
        # A little more than `days`: the host's clock is read in whole seconds (`date +%s`), and a
        # check run within the same second would otherwise see a moment less than `days`.
        past = time.time() - days * 86400 - 2
        for path in entries:
            os.utime(path, (past, past), follow_symlinks=False)
        try:
            yield
        finally:
            for path, stat in saved.items():
                os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns), follow_symlinks=False)
