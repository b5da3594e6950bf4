"""Run-ahead on several hosts (fixtures/hosts.py RunAhead): a check's command on its first host
starts at once on the hosts of its later items, each answer is its own host's, and it never
applies where an answer must come from the item itself (xdist workers, --retry-timeout)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.hosts import NamespaceHosts
from tests.conftest import RunChecks

# Each namespace host has its own UTS namespace: `hostname` tells them apart. The remote clock
# (the same machine's) says whether the answer was there before the item asked.
CHECK_MODULE = """
import time

import pytest

from fixtures.hosts import run_bounded
from fixtures.measure import check


@pytest.mark.hosts("*")
@check("fleet.hostname", "The host answers with its own name")
def test_hostname(host, check):
    asked = time.time()
    # The remote clock at the command's start; the sleep keeps each item long enough that a
    # command run ahead for the next host has surely started before that item asks.
    _rc, out, _err = run_bounded(host, "date +%s.%N; hostname; sleep 0.5", 5)
    answered, name = out.split()
    check.ok(f"{name}, answered {'ahead' if float(answered) < asked else 'when asked'}")
"""


@pytest.fixture(scope="module")
def three_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NamespaceHosts]:
    available, why = NamespaceHosts.available()
    if not available:
        pytest.skip(f"no network-namespace hosts here: {why}")
    with NamespaceHosts(tmp_path_factory.mktemp("hosts"), count=3) as hosts:
        yield hosts


def run_hostname_check(suite: RunChecks, hosts: NamespaceHosts, tmp_path: Path, *args: str) -> dict[str, str]:
    """{address: message} of `fleet.hostname` on every host."""
    module = tmp_path / "test_fleet_hostname.py"
    module.write_text(CHECK_MODULE)
    specs = ", ".join(f'"{h.spec}?ssh_config={hosts.ssh_config}&timeout=3"' for h in hosts.hosts)
    run = suite(str(module), env=f'name = "fleet"\n[hosts]\napp = [{specs}]\n', args=args)
    assert run.result.ret == 0, run.output
    return {c["target"]: c["message"] for c in run.checks("fleet.hostname")}


def test_later_hosts_are_answered_ahead_each_by_itself(
    suite: RunChecks, three_hosts: NamespaceHosts, tmp_path: Path
) -> None:
    messages = run_hostname_check(suite, three_hosts, tmp_path)
    first, *later = three_hosts.hosts
    assert messages[first.address] == f"{first.address}: {first.name}, answered when asked", messages
    for h in later:
        assert messages[h.address] == f"{h.address}: {h.name}, answered ahead", messages


@pytest.mark.parametrize("args", [("-n", "2"), ("--retry-timeout", "5s")], ids=["xdist", "retry"])
def test_no_run_ahead_where_items_must_ask_themselves(
    suite: RunChecks, three_hosts: NamespaceHosts, tmp_path: Path, args: tuple[str, ...]
) -> None:
    messages = run_hostname_check(suite, three_hosts, tmp_path, *args)
    assert messages == {h.address: f"{h.address}: {h.name}, answered when asked" for h in three_hosts.hosts}
