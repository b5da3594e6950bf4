"""An Ansible inventory as the host list: its groups give roles their hosts.

Read with ansible-core's own API (`DataLoader`, `InventoryManager`, `VariableManager`): INI or
YAML (or anything else ansible reads), `group_vars/` and `host_vars/` beside it, Jinja in values.
ansible is imported here only, and only when an environment names an inventory: the import
costs ~0.25 s (measured: 0.23 s warm, 0.7 s cold, against ~0.03 s to read an inventory).

Each host becomes an `ssh://` testinfra spec, reached the way ansible's ssh connection reaches
it: `ansible_host`, `ansible_user`, `ansible_port`, `ansible_ssh_private_key_file`,
`ansible_ssh_common_args` (and `ansible_ssh_extra_args`). Not `ansible://`: testinfra's ansible
backend starts `ansible-inventory --list` first and runs through ansible itself whatever it cannot
map to ssh, a process per command: much slower (testinfra issues 51 and 56). The inventory name is
the spec's `label` (what reports show); `ssh_extra_args` carries the ssh options
(fixtures/hosts.py reads both).
"""

from __future__ import annotations

import contextlib
import io
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# ansible_connection values reached over ssh ("smart" is ssh wherever OpenSSH is installed).
SSH_CONNECTIONS = ("ssh", "smart")
# A password would reach testinfra's ssh backend as `sshpass -p PASSWORD`: on a command line.
PASSWORD_VARIABLES = ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password")
# What a run adds after the inventory's own ssh arguments (ssh keeps the first value given):
# never prompt (a check run has no one to answer), and share one connection per host the way
# ansible does (testinfra's ssh backend sets ControlMaster but no ControlPath).
CONTROL_DIR = Path("~/.ansible/cp")
RUN_SSH_ARGS = f"-o BatchMode=yes -o ControlPath={CONTROL_DIR}/%C"

_UNPARSED = re.compile(r"Unable to parse .* as an inventory source")
_PARSE_FAILURE = re.compile(r"Failed to parse inventory with '[^']+' plugin: (?:Failed to parse inventory: )?(.+)")


class InventoryError(Exception):
    """The inventory cannot list the hosts: the message names the inventory file and why;
    `role` is set when one role's group is at fault."""

    def __init__(self, message: str, role: str | None = None) -> None:
        super().__init__(message)
        self.role = role


def read_inventory(path: Path, roles: Mapping[str, str]) -> dict[str, list[str]]:
    """Role -> testinfra specs of the hosts of its group `roles[role]` (child groups included),
    in the inventory's order."""
    if not path.exists():
        raise InventoryError(f"{path}: no such inventory file")
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    said = io.StringIO()
    with contextlib.redirect_stderr(said), contextlib.redirect_stdout(said):  # its warnings: see below
        inventory = InventoryManager(loader=loader, sources=[str(path.resolve())])
    if _UNPARSED.search(said.getvalue()):  # ansible only warns, and goes on with an empty inventory
        failure = _PARSE_FAILURE.search(said.getvalue())
        reason = failure[1] if failure else "no inventory plugin parsed it"
        raise InventoryError(f"{path}: not an inventory ansible can read: {reason}")
    variables = VariableManager(loader=loader, inventory=inventory)
    found: dict[str, list[str]] = {}
    for role, group_name in roles.items():
        group = inventory.groups.get(group_name)
        if group is None:
            known = ", ".join(sorted(set(inventory.groups) - {"all", "ungrouped"})) or "none"
            raise InventoryError(f"{path}: no group {group_name!r} (groups: {known})", role)
        specs = found.setdefault(role, [])
        for host in group.get_hosts():
            values = variables.get_vars(host=host)
            try:
                spec = host_spec(host.name, Templar(loader=loader, variables=values).template(connection_vars(values)))
            except AnsibleError as exc:
                raise InventoryError(f"{path}: host {host.name}: {exc.message}", role) from None
            except ValueError as exc:
                raise InventoryError(f"{path}: {exc}", role) from None
            if spec not in specs:
                specs.append(spec)
    CONTROL_DIR.expanduser().mkdir(mode=0o700, parents=True, exist_ok=True)  # as ansible does: ssh won't
    return found


def connection_vars(values: Mapping[str, Any]) -> dict[str, Any]:
    """The variables that say how to reach a host (templated before use)."""
    names = (
        "ansible_connection",
        "ansible_host",
        "ansible_user",
        "ansible_port",
        "ansible_ssh_private_key_file",
        "ansible_private_key_file",
        "ansible_ssh_common_args",
        "ansible_ssh_extra_args",
        *PASSWORD_VARIABLES,
    )
    return {name: values[name] for name in names if values.get(name) is not None}


def host_spec(name: str, values: Mapping[str, Any]) -> str:
    """The testinfra spec of inventory host `name` with connection variables `values`; a
    ValueError names the host and the variable it cannot use."""
    connection = str(values.get("ansible_connection", "ssh"))
    if connection == "local":
        return "local://?" + urllib.parse.urlencode({"label": name})
    if connection not in SSH_CONNECTIONS:
        raise ValueError(
            f"host {name}: ansible_connection={connection} is not reached over ssh:"
            " list it under [hosts] with its own testinfra spec instead"
        )
    if password := next((v for v in PASSWORD_VARIABLES if v in values), None):
        raise ValueError(f"host {name}: {password} is set: use a key (a password would be on sshpass's command line)")
    address = str(values.get("ansible_host", name))
    netloc = f"[{address}]" if ":" in address else address
    if user := values.get("ansible_user"):
        netloc = f"{urllib.parse.quote(str(user), safe='')}@{netloc}"
    if (port := values.get("ansible_port")) is not None:
        if not str(port).isdigit():
            raise ValueError(f"host {name}: ansible_port={port!r} is not a port number")
        netloc += f":{int(port)}"
    query = {"label": name}
    if key := values.get("ansible_ssh_private_key_file") or values.get("ansible_private_key_file"):
        query["ssh_identity_file"] = str(key)
    ssh_args = [values.get("ansible_ssh_common_args"), values.get("ansible_ssh_extra_args"), RUN_SSH_ARGS]
    query["ssh_extra_args"] = " ".join(str(a) for a in ssh_args if a)
    return f"ssh://{netloc}?{urllib.parse.urlencode(query)}"
