"""The sandbox's namespace hosts: real sshd per network namespace, reached through testinfra."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import testinfra

from sandbox.hosts import NamespaceHost, NamespaceHosts, cleanup_stale

AVAILABLE, WHY_NOT = NamespaceHosts.available()
pytestmark = pytest.mark.skipif(not AVAILABLE, reason=WHY_NOT)


def _netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of live (non-zombie) processes that mention ``text``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


def _accepted_logins(host: NamespaceHost) -> int:
    return host.sshd_log.read_text().count("Accepted publickey")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[NamespaceHosts]:
    with NamespaceHosts(tmp_path / "hosts", count=2) as hosts:
        yield hosts


def test_each_host_answers_over_ssh_from_its_own_namespace(sandbox: NamespaceHosts) -> None:
    addresses = {h.address for h in sandbox.hosts}
    assert len(addresses) == 2
    for h in sandbox.hosts:
        host = testinfra.get_host(h.spec, **sandbox.testinfra_kwargs())
        result = host.run("hostname; ip -o -4 addr show")
        assert result.rc == 0, result.stderr
        hostname, _, addrs = result.stdout.partition("\n")
        assert hostname == h.name
        assert re.findall(r"inet (\S+)/", addrs) == ["127.0.0.1", h.address]
        assert host.file("/etc/hostname").exists
        assert host.user().name == "root"


def test_commands_share_one_ssh_connection(sandbox: NamespaceHosts) -> None:
    h = sandbox.hosts[0]
    host = testinfra.get_host(h.spec, **sandbox.testinfra_kwargs())
    for _ in range(5):
        assert host.run("true").rc == 0
    assert _accepted_logins(h) == 1
    assert list(sandbox.control_dir.glob("cm-*")), "no ControlPath socket"


@pytest.mark.parametrize(("how", "error"), [("link", "No route to host"), ("sshd", "Connection refused")])
def test_a_downed_host_fails_fast_and_comes_back(sandbox: NamespaceHosts, how: str, error: str) -> None:
    h, other = sandbox.hosts
    host = testinfra.get_host(h.spec, **sandbox.testinfra_kwargs(timeout=10))
    assert host.run("true").rc == 0  # a live master connection, which down() must cut

    h.down(how)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=error):
        host.run("true")
    assert time.monotonic() - started < 5, "failed at once, not after the 10 s connect timeout"
    assert testinfra.get_host(other.spec, **sandbox.testinfra_kwargs()).run("true").rc == 0

    h.up()
    assert host.run("hostname").stdout.strip() == h.name


def test_a_silent_host_times_out_at_the_connect_timeout(sandbox: NamespaceHosts) -> None:
    h = sandbox.hosts[0]
    host = testinfra.get_host(h.spec, **sandbox.testinfra_kwargs(timeout=2))
    h.down("silent")
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="timed out"):
        host.run("true")
    assert time.monotonic() - started > 1.5, "waited for the connect timeout"
    h.up()
    assert host.run("true").rc == 0


def test_stop_leaves_nothing_behind(tmp_path: Path) -> None:
    root = tmp_path / "hosts"
    sandbox = NamespaceHosts(root, count=2)
    sandbox.start()
    namespaces = {h.netns for h in sandbox.hosts}
    veths = [h.veth for h in sandbox.hosts]
    pids = [h.process.pid for h in sandbox.hosts if h.process]
    for h in sandbox.hosts:
        testinfra.get_host(h.spec, **sandbox.testinfra_kwargs()).run("true")
    sandbox.hosts[1].down("link")
    control_dir = sandbox.control_dir

    sandbox.stop()
    sandbox.stop()  # idempotent

    assert not namespaces & _netns_names()
    assert not [v for v in veths if Path("/sys/class/net", v).exists()]
    assert not _processes_mentioning(str(root))  # sshd listeners and sessions
    assert not _processes_mentioning(str(control_dir))  # ssh mux masters
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]
    assert not list(control_dir.glob("cm-*"))
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True, check=True).stdout
    assert sandbox.hosts[1].address not in routes


def test_a_crashed_run_is_cleaned_up(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from sandbox.hosts import NamespaceHosts\n"
        "s = NamespaceHosts(sys.argv[1], count=1)\n"
        "s.start()\n"
        "s.hosts[0].down('link')\n"
        "print(s.hosts[0].netns, s.hosts[0].address, flush=True)\n"
        "time.sleep(60)\n"
    )
    root = tmp_path / "crashed"
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(root)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert child.stdout is not None
        netns, address = child.stdout.readline().split()
        assert netns in _netns_names()
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()

    deadline = time.monotonic() + 5  # sshd follows its parent (PR_SET_PDEATHSIG)
    while _processes_mentioning(str(root)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _processes_mentioning(str(root))

    cleanup_stale()  # (a parallel run's start() may have done it already)
    assert netns not in _netns_names()
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True, check=True).stdout
    assert address not in routes
