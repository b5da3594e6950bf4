"""An Ansible inventory as the host list, for real: three network-namespace hosts with sshd,
listed in an INI or YAML inventory whose groups are the roles and whose group_vars/ gives
ansible_user; `pytest --env ... -m daily -k host.` checks every listed host under its inventory
name, serially and with -n 2; a host that is down is unknown, alone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.hosts import NamespaceHosts
from tests.conftest import RunChecks

AVAILABLE, WHY_NOT = NamespaceHosts.available()
NAMES = ("app-1", "app-2", "db-1")
HOST_CHECKS = ("host.disk_space", "host.memory")
# The host checks' module only: collecting every check would also collect other work in progress.
HOST_MODULE = "daily/test_host.py"
ENVIRONMENT = """\
name = "inventory"

[hosts]
inventory = "{inventory}"
roles = {{ app = "sergas_app", db = "sergas_db" }}

[timeouts]
connect = "3s"
"""


@pytest.fixture(scope="module")
def ns_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NamespaceHosts]:
    if not AVAILABLE:
        pytest.skip(f"no network-namespace hosts here: {WHY_NOT}")
    with NamespaceHosts(tmp_path_factory.mktemp("hosts"), count=3) as hosts:
        yield hosts


def ssh_common_args(hosts: NamespaceHosts) -> str:
    """What a test inventory passes to ssh: throwaway host keys, and the sandbox's ControlPath
    (the sandbox closes its masters when it stops)."""
    return (
        "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
        f" -o KexAlgorithms=curve25519-sha256 -o ControlPath={hosts.control_dir}/cm-%C"
    )


def write_inventory(folder: Path, hosts: NamespaceHosts, form: str) -> str:
    """inventory.ini or inventory.yml of the namespace hosts, and group_vars/sergas.yml."""
    app1, app2, db1 = (h.address for h in hosts.hosts)
    key, args = hosts.identity, ssh_common_args(hosts)
    if form == "ini":
        name, text = (
            "inventory.ini",
            (
                f"[sergas_app]\napp-1 ansible_host={app1}\napp-2 ansible_host={app2} ansible_port=22\n\n"
                f"[sergas_db]\ndb-1 ansible_host={db1}\n\n[sergas:children]\nsergas_app\nsergas_db\n\n"
                f"[sergas:vars]\nansible_ssh_private_key_file={key}\nansible_ssh_common_args='{args}'\n"
            ),
        )
    else:
        name, text = (
            "inventory.yml",
            (
                f"sergas:\n  vars:\n    ansible_ssh_private_key_file: {key}\n    ansible_ssh_common_args: '{args}'\n"
                f"  children:\n    sergas_app:\n      hosts:\n        app-1: {{ansible_host: {app1}}}\n"
                f"        app-2: {{ansible_host: {app2}, ansible_port: 22}}\n"
                f"    sergas_db:\n      hosts:\n        db-1: {{ansible_host: {db1}}}\n"
            ),
        )
    (folder / name).write_text(text)
    (folder / "group_vars").mkdir(exist_ok=True)
    (folder / "group_vars" / "sergas.yml").write_text("ansible_user: root\n")
    return ENVIRONMENT.format(inventory=name)


@pytest.mark.parametrize(("form", "args"), [("ini", ()), ("yaml", ("-n", "2"))])
def test_host_checks_run_on_every_inventory_host(
    suite: RunChecks, pytester: pytest.Pytester, ns_hosts: NamespaceHosts, form: str, args: tuple[str, ...]
) -> None:
    env = write_inventory(pytester.path, ns_hosts, form)
    run = suite(HOST_MODULE, env=env, args=("-m", "daily", "-k", "host.", *args))
    for check_id in HOST_CHECKS:
        records = run.checks(check_id)
        assert sorted(r["target"] for r in records) == list(NAMES), records
        assert {r["status"] for r in records} == {"ok"}, records
    nodeids = " ".join(r["nodeid"] for r in run.summary["checks"])
    assert all(f"[{name}]" in nodeids for name in NAMES)
    assert run.result.ret == 0, run.output


def test_an_inventory_host_that_is_down_is_unknown_alone(
    suite: RunChecks, pytester: pytest.Pytester, ns_hosts: NamespaceHosts
) -> None:
    env = write_inventory(pytester.path, ns_hosts, "ini")
    down = ns_hosts.hosts[1]
    down.down("silent")
    try:
        run = suite(HOST_MODULE, env=env, args=("-m", "daily", "-k", "host."))
    finally:
        down.up()
    by_target: dict[str, set[str]] = {}
    for record in run.summary["checks"]:
        by_target.setdefault(record["target"], set()).add(record["status"])
    assert by_target == {"app-1": {"ok"}, "app-2": {"unknown"}, "db-1": {"ok"}}, run.summary["checks"]
    messages = {r["message"] for r in run.summary["checks"] if r["target"] == "app-2"}
    assert len(messages) == 1, messages
    message = messages.pop()
    assert message.startswith(f"cannot connect to ssh://root@{down.address}:22: ") and "\n" not in message
    summary = run.summary
    took = dt.datetime.fromisoformat(summary["finished"]) - dt.datetime.fromisoformat(summary["started"])
    assert took.total_seconds() < 3 + 5, "one connect timeout (3 s), once"


@pytest.mark.parametrize(
    ("inventory", "roles", "expected"),
    [
        ("missing.ini", '{ app = "sergas_app" }', "hosts.inventory: {folder}/missing.ini: no such inventory file"),
        ("inventory.ini", '{ app = "webservers" }', "hosts.roles.app: {folder}/inventory.ini: no group 'webservers'"),
        ("broken.ini", '{ app = "sergas_app" }', "hosts.inventory: {folder}/broken.ini: not an inventory ansible"),
    ],
)
def test_a_bad_inventory_stops_the_run_with_one_line(
    suite: RunChecks, pytester: pytest.Pytester, inventory: str, roles: str, expected: str
) -> None:
    (pytester.path / "inventory.ini").write_text("[sergas_app]\napp-1 ansible_host=192.0.2.1\n")
    (pytester.path / "broken.ini").write_text("[sergas_app]\napp-1 ansible_port\n")
    env = f'name = "inventory"\n[hosts]\ninventory = "{inventory}"\nroles = {roles}\n'
    run = suite(HOST_MODULE, env=env)
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR: ")]
    assert errors == [line for line in errors if "hosts." in line] and len(errors) == 1, run.output
    assert f"env.toml: {expected.format(folder=pytester.path)}" in errors[0]
