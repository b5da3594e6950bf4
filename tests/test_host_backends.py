"""testinfra's backends as [hosts] specs, for real: local://, ssh:// and paramiko:// to
network-namespace hosts with sshd, ansible:// through an inventory of them; an unreachable
ssh:// or paramiko:// host is unknown, with one line, within the environment's connect timeout.
(docker:// is tested with the Docker sandbox: tests/test_docker_sandbox.py.)"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.hosts import NamespaceHosts
from tests.conftest import RunChecks

AVAILABLE, WHY_NOT = NamespaceHosts.available()
HOST_MODULE = "daily/test_host.py"
HOST_CHECKS = ("host.disk_space", "host.memory")


@pytest.fixture(scope="module")
def ns_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NamespaceHosts]:
    if not AVAILABLE:
        pytest.skip(f"no network-namespace hosts here: {WHY_NOT}")
    with NamespaceHosts(tmp_path_factory.mktemp("hosts"), count=2) as hosts:
        yield hosts


def environment(specs: list[str], connect: str = "5s") -> str:
    quoted = ", ".join(f'"{spec}"' for spec in specs)
    return f'name = "backends"\n\n[hosts]\napp = [{quoted}]\n\n[timeouts]\nconnect = "{connect}"\n'


def statuses_by_target(records: list[dict[str, object]]) -> dict[str, set[object]]:
    found: dict[str, set[object]] = {}
    for record in records:
        found.setdefault(str(record["target"]), set()).add(record["status"])
    return found


def test_local_ssh_and_paramiko_hosts_are_checked(suite: RunChecks, ns_hosts: NamespaceHosts) -> None:
    """paramiko reads the ssh_config too (User, IdentityFile, StrictHostKeyChecking no), and a
    `label=` names a host in reports."""
    via_ssh, via_paramiko = ns_hosts.hosts
    config = ns_hosts.ssh_config
    specs = [
        "local://",
        f"ssh://root@{via_ssh.address}?ssh_config={config}&label=via-ssh",
        f"paramiko://{via_paramiko.address}?ssh_config={config}",
    ]
    run = suite(HOST_MODULE, env=environment(specs))
    for check_id in HOST_CHECKS:
        assert statuses_by_target(run.checks(check_id)) == {
            "localhost": {"ok"},
            "via-ssh": {"ok"},
            via_paramiko.address: {"ok"},
        }, run.checks(check_id)
    assert run.result.ret == 0, run.output


def test_unreachable_ssh_and_paramiko_hosts_are_unknown_within_the_connect_timeout(
    suite: RunChecks, ns_hosts: NamespaceHosts
) -> None:
    """Both hosts stop answering (packets vanish); the connect timeout is 2 s, below ssh's and
    testinfra's own defaults (10 s), and ssh_config's ConnectTimeout 5."""
    silent_ssh, silent_paramiko = ns_hosts.hosts
    config = ns_hosts.ssh_config
    specs = [
        f"ssh://root@{silent_ssh.address}?ssh_config={config}",
        f"paramiko://{silent_paramiko.address}?ssh_config={config}",
    ]
    for host in ns_hosts.hosts:
        host.down("silent")
    try:
        run = suite(HOST_MODULE, env=environment(specs, connect="2s"))
    finally:
        for host in ns_hosts.hosts:
            host.up()
    records = run.summary["checks"]
    assert {r["status"] for r in records} == {"unknown"}, records
    messages = {str(r["target"]): r["message"] for r in records}
    assert messages[silent_ssh.address].startswith(f"cannot connect to ssh://root@{silent_ssh.address}: ")
    assert "timed out" in messages[silent_ssh.address]
    assert messages[silent_paramiko.address] == f"cannot connect to paramiko://{silent_paramiko.address}: timed out"
    assert all("\n" not in m for m in messages.values())
    summary = run.summary
    took = dt.datetime.fromisoformat(summary["finished"]) - dt.datetime.fromisoformat(summary["started"])
    assert 2 <= took.total_seconds() < 2 + 3, "both waited out the 2 s connect timeout, together, once"


def test_ansible_backend_through_an_inventory(
    suite: RunChecks, pytester: pytest.Pytester, ns_hosts: NamespaceHosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """testinfra's ansible:// reads the inventory with `ansible-inventory --list` (on PATH) and
    reaches an ssh host over its ssh backend, with the inventory's user, key and ssh arguments."""
    host = ns_hosts.hosts[0]
    inventory = pytester.path / "inventory.ini"
    inventory.write_text(
        f"[sergas_app]\napp-1 ansible_host={host.address} ansible_user=root"
        f" ansible_ssh_private_key_file={ns_hosts.identity}"
        " ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR'\n"
    )
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    run = suite(HOST_MODULE, env=environment([f"ansible://app-1?ansible_inventory={inventory}"]))
    for check_id in HOST_CHECKS:
        assert statuses_by_target(run.checks(check_id)) == {"app-1": {"ok"}}, run.checks(check_id)
