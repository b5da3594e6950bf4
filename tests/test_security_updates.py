"""host.security_updates with the real apt-get, on the sandbox's private apt state (sandbox/apt.py):
ok with nothing pending; critical with a security update; a warning with another upgrade (or
what `[updates] other_updates` says); unknown with stale package lists, a failing apt-get, or
neither apt-get nor dnf; over two namespace hosts and the local one. The machine's own apt state
is neither read nor changed."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from sandbox.hosts import NamespaceHosts
from tests.conftest import DEMO_ENV, RunChecks, environment_text

CHECK = "host.security_updates"
PATH = "weekly/test_updates.py"
SECURITY = "localhost: security updates = 1 (sergas-fixture) >= critical 1"


def with_updates(*lines: str) -> str:
    """The demo environment with keys added to its [updates] section."""
    base, count = re.subn(r"(?m)^\[updates\]\n", "[updates]\n" + "".join(f"{line}\n" for line in lines), DEMO_ENV)
    assert count == 1, "demo.toml has no [updates] section"
    return base


def evidence(record: dict[str, Any], title: str) -> str:
    found = [str(e["content"]) for e in record["evidence"] if e["title"] == title]
    assert found, f"no {title!r} evidence in {record}"
    return found[0]


def test_nothing_pending_is_ok(run_checks: RunChecks) -> None:
    run = run_checks(PATH)
    assert run.result.ret == pytest.ExitCode.OK, run.output
    (record,) = run.checks(CHECK)
    assert (record["status"], record["target"]) == ("ok", "localhost"), record
    assert record["message"] == "localhost: security updates = 0; other upgrades = 0"
    measured = {m["name"]: m for m in record["measurements"]}
    assert list(measured) == ["lists_age", "security", "other"]
    assert measured["lists_age"]["unit"] == "s" and 0 <= measured["lists_age"]["value"] < 3600
    assert (measured["security"]["value"], measured["security"]["critical"]) == (0, 1)
    assert evidence(record, "pending updates") == "no upgrades pending"


def test_security_update_is_critical(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.security_update_pending():
        run = run_checks(PATH)
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    (record,) = run.checks(CHECK)
    assert (record["status"], record["message"]) == ("critical", SECURITY)
    assert evidence(record, "pending updates") == "sergas-fixture (security)"
    assert "Inst sergas-fixture [1.0] (1.1 Debian-Security:stable-security [all])" in evidence(
        record, "apt-get -s -qq -o Debug::NoLocking=true upgrade"
    )


@pytest.mark.parametrize(
    ("policy", "status", "message"),
    [
        (None, "warning", "localhost: other upgrades = 1 (sergas-fixture)"),
        ("critical", "critical", "localhost: other upgrades = 1 (sergas-fixture)"),
        (
            "ignore",
            "ok",
            "localhost: security updates = 0; other upgrades = 1 (sergas-fixture) (ignored: [updates] other_updates)",
        ),
    ],
    ids=["default", "critical", "ignore"],
)
def test_other_upgrade_is_judged_by_policy(
    run_checks: RunChecks, sandbox: Sandbox, policy: str | None, status: str, message: str
) -> None:
    env = with_updates(f'other_updates = "{policy}"') if policy else None
    with sandbox.faults.other_update_pending():
        run = run_checks(PATH, env=env)
    (record,) = run.checks(CHECK)
    assert (record["status"], record["message"]) == (status, message)
    values = {m["name"]: m["value"] for m in record["measurements"]}
    assert (values["security"], values["other"]) == (0, 1)
    assert evidence(record, "pending updates") == "sergas-fixture"


def test_stale_lists_are_unknown_unless_allowed(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.stale_lists(days=10):
        run = run_checks(PATH)
        allowed = run_checks(PATH, env=with_updates('max_lists_age = "30d"'))
    assert run.result.ret != pytest.ExitCode.OK
    (record,) = run.checks(CHECK)
    assert (record["status"], record["message"]) == (
        "unknown",
        "localhost: apt lists are 10 days old, run apt-get update",
    )
    (age,) = [m["value"] for m in record["measurements"] if m["name"] == "lists_age"]
    assert 10 * 86400 <= age < 10 * 86400 + 600
    assert allowed.status(CHECK) == "ok", allowed.message(CHECK)


def test_failing_apt_get_is_unknown(run_checks: RunChecks, sandbox: Sandbox, tmp_path: Path) -> None:
    """A site's apt configuration whose sources apt cannot read: apt-get exits 100."""
    sources = tmp_path / "broken.list"
    sources.write_text("nonsense line\n")
    config = tmp_path / "apt.conf"
    own = Path(sandbox.require_state().apt_config).read_text()
    config.write_text(f'{own}Dir::Etc::sourcelist "{sources}";\n')
    run = run_checks(PATH, env=DEMO_ENV.replace('"${SANDBOX_APT_CONFIG}"', f'"{config}"'))
    assert run.status(CHECK) == "unknown"
    apt_says = f"E: Type 'nonsense' is not known on line 1 in source list {sources}"
    assert run.message(CHECK) == f"localhost: apt-get -s upgrade failed (exit 100): {apt_says}"


def test_host_without_a_package_manager_is_unknown(
    run_checks: RunChecks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host whose PATH has the shell tools but neither apt-get nor dnf."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "timeout", "find", "sort", "tail", "date"):
        (bin_dir / tool).symlink_to(f"/usr/bin/{tool}")
    monkeypatch.setenv("PATH", str(bin_dir))
    run = run_checks(PATH)
    assert run.status(CHECK) == "unknown"
    assert run.message(CHECK) == "localhost: neither apt-get nor dnf on the host: its pending updates cannot be read"


def test_absent_section_is_skipped(run_checks: RunChecks) -> None:
    env, count = re.subn(r"(?ms)^\[updates\]\n.*?(?=^\[)", "", DEMO_ENV)
    assert count == 1
    run = run_checks(PATH, env=env)
    assert run.status(CHECK) == "skipped"
    assert "package updates is not part of environment demo (no [updates] section)" in run.message(CHECK)


# --- over ssh: two namespace hosts and the local one ------------------------------------------


@pytest.fixture(scope="module")
def ns_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NamespaceHosts]:
    available, why = NamespaceHosts.available()
    if not available:
        pytest.skip(f"no network-namespace hosts here: {why}")
    with NamespaceHosts(tmp_path_factory.mktemp("hosts"), count=2) as hosts:
        yield hosts


def test_every_host_is_judged_over_ssh_and_locally(
    run_checks: RunChecks, sandbox: Sandbox, ns_hosts: NamespaceHosts
) -> None:
    """The namespace hosts share this machine's file system, so they read the same private state."""
    config = ns_hosts.testinfra_kwargs()["ssh_config"]
    specs = ", ".join(f'"{h.spec}?ssh_config={config}&timeout=5"' for h in ns_hosts.hosts)
    env = re.sub(
        r"\[hosts\]\n(.*\n)*?\n", f'[hosts]\napp = [{specs}]\ndb = ["local://"]\n\n', environment_text(), count=1
    )
    with sandbox.faults.security_update_pending():
        run = run_checks(PATH, env=env)
    records = {r["target"]: (r["status"], r["message"]) for r in run.checks(CHECK)}
    targets = [h.address for h in ns_hosts.hosts] + ["localhost"]
    assert records == {t: ("critical", SECURITY.replace("localhost", t, 1)) for t in targets}, records


# --- the machine's own apt state ---------------------------------------------------------------

MACHINE = (Path("/var/lib/apt/lists"), Path("/var/lib/dpkg/status"))
# Where apt reads and writes its state, as apt-config resolves it (/f: a file, /d: a folder).
PLACES = (
    *("Dir::State::lists/d", "Dir::State::status/f", "Dir::State::extended_states/f"),
    *("Dir::Cache::archives/d", "Dir::Cache::pkgcache/f", "Dir::Cache::srcpkgcache/f"),
    *("Dir::Etc::sourcelist/f", "Dir::Etc::sourceparts/d", "Dir::Etc::parts/d", "Dir::Etc::trusted/f"),
    *("Dir::Etc::trustedparts/d", "Dir::Etc::preferences/f", "Dir::Etc::preferencesparts/d"),
    *("Dir::Log/d", "Dir::Log::History/f", "Dir::Log::Terminal/f"),
)


def snapshot() -> dict[str, tuple[int, int]]:
    """(mtime, size) of every entry of the machine's apt lists, and of dpkg's status."""
    entries = [p for p in MACHINE if p.is_file()] + [c for p in MACHINE if p.is_dir() for c in p.iterdir()]
    return {str(p): (p.lstat().st_mtime_ns, p.lstat().st_size) for p in entries}


def test_apt_state_is_private(sandbox: Sandbox) -> None:
    config = sandbox.require_state().apt_config
    env = {**os.environ, "APT_CONFIG": config, "LC_ALL": "C"}
    query = [arg for i, place in enumerate(PLACES) for arg in (f"P{i}", place)]
    shell = subprocess.run(["apt-config", "shell", *query], env=env, capture_output=True, text=True, check=True)
    places = dict(line.split("=", 1) for line in shell.stdout.splitlines())
    assert len(places) == len(PLACES), shell.stdout
    private = f"'{Path(config).parent}/"
    assert all(value.startswith(private) for value in places.values()), places
    main = subprocess.run(["apt-config", "dump"], env=env, capture_output=True, text=True, check=True).stdout
    assert 'Dir::Etc::main "/dev/null";' in main, "the machine's apt.conf is not read"

    before = snapshot()
    with sandbox.faults.security_update_pending():  # apt-get update, twice, with the private state
        simulated = subprocess.run(
            ["apt-get", "-s", "-qq", "-o", "Debug::NoLocking=true", "upgrade"], env=env, capture_output=True, text=True
        )
    assert simulated.stdout.startswith("Inst sergas-fixture [1.0] (1.1 "), simulated
    assert snapshot() == before, "the machine's apt lists or dpkg status changed"
