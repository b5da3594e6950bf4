"""An Ansible inventory as the host list: groups to roles, host variables to ssh:// specs, and
every way it can be wrong refused with one line naming the file (sergas/inventory.py, read
through ansible-core's own InventoryManager; sergas/config.py's [hosts] inventory and roles)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from fixtures.hosts import connection_options, host_key, host_label
from sergas.config import ConfigError, Environment, Secrets, parse
from sergas.inventory import RUN_SSH_ARGS, host_spec

INI = """\
[sergas_app]
app-1 ansible_host=10.0.0.1
app-2 ansible_host=10.0.0.2 ansible_port=2222

[sergas_db]
db-1 ansible_host="{{ inventory_hostname }}.internal"

[sergas:children]
sergas_app
sergas_db

[sergas:vars]
ansible_ssh_common_args='-o ProxyJump=bastion -o "UserKnownHostsFile /etc/sergas/known_hosts"'
"""

YAML = """\
sergas:
  vars:
    ansible_ssh_common_args: -o ProxyJump=bastion -o "UserKnownHostsFile /etc/sergas/known_hosts"
  children:
    sergas_app:
      hosts:
        app-1: {ansible_host: 10.0.0.1}
        app-2: {ansible_host: 10.0.0.2, ansible_port: 2222}
    sergas_db:
      hosts:
        db-1: {ansible_host: "{{ inventory_hostname }}.internal"}
"""

ROLES = {"app": "sergas_app", "db": "sergas_db"}


def environment(folder: Path, inventory: str = "inventory.ini", **hosts: object) -> Environment:
    return parse({"name": "t", "hosts": {"inventory": inventory, **hosts}}, folder / "t.toml", Secrets(), environ={})


def refusal(folder: Path, inventory: str = "inventory.ini", **hosts: object) -> str:
    with pytest.raises(ConfigError) as raised:
        environment(folder, inventory, **hosts)
    return str(raised.value)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An environment folder with inventory.ini, inventory.yml and group_vars/sergas.yml."""
    (tmp_path / "inventory.ini").write_text(INI)
    (tmp_path / "inventory.yml").write_text(YAML)
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "sergas.yml").write_text("ansible_user: deploy\nansible_ssh_private_key_file: /k/id\n")
    return tmp_path


@pytest.mark.parametrize("inventory", ["inventory.ini", "inventory.yml"])
def test_groups_become_roles_and_hosts_keep_their_inventory_names(folder: Path, inventory: str) -> None:
    env = environment(folder, inventory, roles=ROLES)
    assert {role: [host_label(s) for s in specs] for role, specs in env.hosts.items()} == {
        "app": ["app-1", "app-2"],
        "db": ["db-1"],
    }
    # ansible_host, ansible_port, Jinja in a value; ansible_user from group_vars/ beside the inventory
    assert [host_key(s) for s in env.hosts["app"] + env.hosts["db"]] == [
        "ssh://deploy@10.0.0.1",
        "ssh://deploy@10.0.0.2:2222",
        "ssh://deploy@db-1.internal",
    ]


def test_ssh_options_reach_testinfra_as_ansible_would_pass_them(folder: Path) -> None:
    spec = environment(folder, roles={"app": "sergas_app"}).hosts["app"][0]
    options = connection_options(spec, timeout=3)
    assert options["timeout"] == 3
    extra = shlex.split(str(options["ssh_extra_args"]))
    common = ["-o", "ProxyJump=bastion", "-o", "UserKnownHostsFile /etc/sergas/known_hosts"]
    assert extra == common + shlex.split(RUN_SSH_ARGS), "the inventory's own first: ssh keeps the first value"
    assert "ssh_identity_file=%2Fk%2Fid" in spec  # testinfra reads it from the spec


def test_explicit_role_lists_merge_with_inventory_roles(folder: Path) -> None:
    env = environment(folder, roles={"app": "sergas_app"}, db=["local://"])
    assert env.hosts["db"] == ["local://"]
    assert [host_label(s) for s in env.hosts["app"]] == ["app-1", "app-2"]


def test_a_relative_inventory_is_found_beside_the_environment_file(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir("/")
    assert len(environment(folder, roles=ROLES).hosts["app"]) == 2
    assert len(environment(Path("/elsewhere"), str(folder / "inventory.yml"), roles=ROLES).hosts["db"]) == 1


def test_a_missing_inventory_names_the_file(folder: Path) -> None:
    assert refusal(folder, "nope.ini", roles=ROLES) == (
        f"{folder / 't.toml'}: hosts.inventory: {folder / 'nope.ini'}: no such inventory file"
    )


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("broken.ini", "[sergas_app]\napp-1 ansible_port\n", "Expected key=value host variable assignment"),
        ("broken.yml", "sergas_app:\n  hosts: [app-1\n", "YAML parsing failed"),
    ],
)
def test_an_unparsable_inventory_names_the_file_and_why(folder: Path, name: str, text: str, reason: str) -> None:
    (folder / name).write_text(text)
    message = refusal(folder, name, roles=ROLES)
    assert message.startswith(
        f"{folder / 't.toml'}: hosts.inventory: {folder / name}: not an inventory ansible can read: "
    )
    assert reason in message and "\n" not in message


def test_a_group_that_does_not_exist_names_the_role_and_the_groups(folder: Path) -> None:
    assert refusal(folder, roles={"app": "sergas_ap"}) == (
        f"{folder / 't.toml'}: hosts.roles.app: {folder / 'inventory.ini'}: no group 'sergas_ap'"
        " (groups: sergas, sergas_app, sergas_db)"
    )


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        (
            {"roles": ROLES, "app": ["ssh://app1"]},
            "hosts.app: also mapped to group 'sergas_app' by hosts.roles: keep one",
        ),
        ({}, "hosts.roles: Field required"),
        ({"roles": {}}, "hosts.roles: Dictionary should have at least 1 item"),
        ({"roles": {"app": 1}}, "hosts.roles.app: Input should be a valid string"),
    ],
)
def test_inventory_keys_are_validated_by_name(folder: Path, hosts: dict[str, object], message: str) -> None:
    assert refusal(folder, "inventory.ini", **hosts).startswith(f"{folder / 't.toml'}: {message}")


def test_roles_without_an_inventory_is_refused(folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"t.toml: hosts.inventory: Field required"):
        parse({"name": "t", "hosts": {"roles": ROLES}}, folder / "t.toml", Secrets(), environ={})


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"ansible_connection": "docker"}, "host h: ansible_connection=docker is not reached over ssh"),
        ({"ansible_password": "x"}, "host h: ansible_password is set: use a key"),
        ({"ansible_ssh_pass": "x"}, "host h: ansible_ssh_pass is set: use a key"),
        ({"ansible_port": "ssh"}, "host h: ansible_port='ssh' is not a port number"),
    ],
)
def test_hosts_it_cannot_reach_over_ssh_are_refused(variables: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        host_spec("h", variables)


def test_an_inventory_host_with_a_password_is_refused_naming_it(folder: Path) -> None:
    (folder / "host_vars").mkdir()
    (folder / "host_vars" / "app-2.yml").write_text("ansible_password: s3cret\n")
    message = refusal(folder, roles=ROLES)
    assert message.endswith(
        "host app-2: ansible_password is set: use a key (a password would be on sshpass's command line)"
    )
    assert "s3cret" not in message


def test_local_and_ipv6_hosts() -> None:
    local = host_spec("ctl", {"ansible_connection": "local"})
    assert (host_key(local), host_label(local), connection_options(local, 3)) == ("local://", "ctl", {})
    v6 = host_spec("db-9", {"ansible_host": "fd00::9", "ansible_user": "ops", "ansible_port": 22})
    assert (host_key(v6), host_label(v6)) == ("ssh://ops@[fd00::9]:22", "db-9")
