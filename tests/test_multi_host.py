"""Several hosts: two network namespaces, each with its own sshd, checked over ssh:// in
parallel; a host that stops answering costs its connect timeout once and its checks are unknown."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.hosts import NamespaceHosts
from tests.conftest import RunChecks, environment_text


@pytest.fixture(scope="module")
def ns_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NamespaceHosts]:
    available, why = NamespaceHosts.available()
    if not available:
        pytest.skip(f"no network-namespace hosts here: {why}")
    with NamespaceHosts(tmp_path_factory.mktemp("hosts"), count=2) as hosts:
        yield hosts


def environment_with(hosts: NamespaceHosts, ssh_config: Path, timeout: int = 3) -> str:
    specs = ", ".join(f'"{h.spec}?ssh_config={ssh_config}&timeout={timeout}"' for h in hosts.hosts)
    base = re.sub(r"\[hosts\]\n(.*\n)*?\n", f"[hosts]\napp = [{specs}]\n\n", environment_text(), count=1)
    return base


def test_host_checks_over_ssh_on_both_hosts(run_checks: RunChecks, ns_hosts: NamespaceHosts) -> None:
    config = Path(ns_hosts.testinfra_kwargs()["ssh_config"])
    run = run_checks("daily/test_host.py", env=environment_with(ns_hosts, config), args=("-n", "2"))
    addresses = {h.address for h in ns_hosts.hosts}
    for check_id in ("host.disk_space", "host.memory"):
        records = run.checks(check_id)
        assert {r["target"] for r in records} == addresses, records
        assert {r["status"] for r in records} == {"ok"}, records
    assert all(f"[{a}]" in " ".join(r["nodeid"] for r in run.summary["checks"]) for a in addresses)


def test_unreachable_host_is_unknown_once(run_checks: RunChecks, ns_hosts: NamespaceHosts) -> None:
    config = Path(ns_hosts.testinfra_kwargs()["ssh_config"])
    down = ns_hosts.hosts[1]
    down.down("silent")
    try:
        run = run_checks("daily/test_host.py", env=environment_with(ns_hosts, config, timeout=3))
    finally:
        down.up()
    records = [c for c in run.summary["checks"] if c["target"] == down.address]
    assert {r["status"] for r in records} == {"unknown"}, records
    messages = {r["message"] for r in records}
    assert len(messages) == 1 and messages.pop().startswith(f"cannot connect to ssh://root@{down.address}: ")
    # The host is reached once, with every other target, when collection ends (fixtures/probing.py).
    summary = run.summary
    waited = dt.datetime.fromisoformat(summary["finished"]) - dt.datetime.fromisoformat(summary["started"])
    assert waited.total_seconds() >= 2.5, "the run waited out the ssh connect timeout"
    assert all(r["duration_s"] < 1 for r in records), "no check waited again"
    up = [c for c in run.summary["checks"] if c["target"] == ns_hosts.hosts[0].address]
    assert {r["status"] for r in up} == {"ok"}, "the other host is checked as usual"
    assert run.result.ret != 0
