"""Test hosts as Linux network namespaces, each running its own sshd.

Each host is a network namespace linked to the root namespace by a veth pair and addressed
from a private /30 inside ``10.213.<X>.0/24`` (``X`` chosen free on this machine). Inside
it, ``sshd`` listens on the namespace address, port 22, and accepts one generated ed25519
key for ``root``. A client ``ssh_config`` (with a ``ControlPath``, which testinfra's ssh
backend never sets) makes every host reachable as ``ssh://root@<address>``::

    with NamespaceHosts(tmp_path, count=2) as sandbox:
        for h in sandbox.hosts:
            host = testinfra.get_host(h.spec, **sandbox.testinfra_kwargs())
            host.run("hostname")          # -> "h1", "h2": each sshd has its own UTS namespace

Needs root (``ip netns add``) and ``/usr/sbin/sshd``: check :meth:`NamespaceHosts.available`
first. The sshd processes die with the Python process that started them (SIGKILL, see
sandbox/processes.py `spawn`), whichever thread started them.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from sandbox.processes import pid_alive, spawn, terminate, wait_until

SSHD = "/usr/sbin/sshd"
PREFIX = "sergas-h"
SUPERNET = ipaddress.IPv4Network("10.213.0.0/16")
# sshd's privilege separation directory; Debian's init script would create it.
PRIVSEP_DIR = Path("/run/sshd")
# Serializes subnet choice between parallel runs on one machine.
LOCK_FILE = Path("/run/sergas-hosts.lock")
# sun_path is 108 bytes; ssh binds "<ControlPath>.<16 random chars>" first, then renames.
_SUN_PATH_MAX = 107
_CM_TEMP_SUFFIX = 17
_CM_NAME = "cm-%C"
_CM_EXPANDED = 3 + 40  # "cm-" + SHA1 hex of %C

# Tags the unreachable routes of down("link"), so a crashed run's can be found and removed.
ROUTE_PROTO = "213"
DownHow = Literal["link", "silent", "sshd"]

_NS_RE = re.compile(rf"^{re.escape(PREFIX)}(\d+)-[0-9a-f]+-h\d+$")


class SandboxError(RuntimeError):
    """The namespace hosts could not be set up (the message says which step and why)."""


def _run(*args: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise SandboxError(f"{' '.join(args)!r} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _keygen(path: Path, comment: str) -> None:
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path))


def _netns_list() -> list[str]:
    out = _run("ip", "netns", "list", check=False).stdout
    # "name (id: 3)" or just "name"
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _used_third_octets() -> set[int]:
    """Third octets of 10.213.X.0/24 already seen in any address or route of the root namespace."""
    text = _run("ip", "-o", "-4", "addr", "show", check=False).stdout
    text += _run("ip", "-4", "route", "show", "table", "all", check=False).stdout
    used: set[int] = set()
    for m in re.finditer(r"\b10\.213\.(\d{1,3})\.\d{1,3}", text):
        used.add(int(m.group(1)))
    for m in re.finditer(r"\b10\.213(?:\.0){0,2}/(\d+)", text):  # a route covering all of 10.213/16
        if int(m.group(1)) <= 16:
            used.update(range(256))
    return used


@contextlib.contextmanager
def _machine_lock() -> Iterator[None]:
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass
class NamespaceHost:
    """One test host: a network namespace with its own sshd."""

    name: str  # "h1"
    netns: str  # "sergas-h<pid>-<tag>-h1"
    address: str  # namespace side, where sshd listens
    gateway: str  # root side of the veth pair
    veth: str  # root-side interface name
    ssh_config: Path
    sshd_config: Path
    sshd_log: Path
    # root's ~/.bashrc to hide from sessions on this host (see NamespaceHosts clean_shell)
    bashrc: Path | None = field(default=None, repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _down: str | None = field(default=None, repr=False)

    @property
    def spec(self) -> str:
        """The testinfra host spec."""
        return f"ssh://root@{self.address}"

    # -- faults ---------------------------------------------------------------------------------

    def down(self, how: DownHow = "link", *, drop_sessions: bool = True) -> None:
        """Make the host unreachable on purpose, until :meth:`up`.

        - ``link``: the root-side veth goes down and an ``unreachable`` route takes its place:
          connections fail at once with "No route to host". (Without that route the traffic
          would follow the default route off the machine, to whatever answers there.)
        - ``silent``: the namespace side goes down; packets vanish, so connections time out
          (after the client's ConnectTimeout): a host powered off behind a router.
        - ``sshd``: sshd stops; connections are refused at once.

        With ``drop_sessions`` (the default) live connections are cut first (the ssh master is
        closed, the sessions in the namespace are killed), so every client notices and its next
        command really connects. Without it, under ``link``/``silent`` live connections hang:
        ssh's multiplexed master until ServerAlive gives up (~4-6 s), testinfra's paramiko
        backend (no timeout at all) forever.
        """
        if how not in ("link", "silent", "sshd"):
            raise ValueError(f"how must be 'link', 'silent' or 'sshd', not {how!r}")
        if self._down is not None:
            return
        if drop_sessions:
            self.close_master()
            _kill_netns_pids(self.netns, spare=self.process.pid if self.process else None)
        if how == "link":
            _run("ip", "route", "replace", *self._unreachable_route)
            _run("ip", "link", "set", "dev", self.veth, "down")
        elif how == "silent":
            # A pinned neighbour entry, or ARP fails after ~3 s with "No route to host" (a dead
            # host on the same LAN) instead of the SYN vanishing (a host behind a router).
            mac = _run("ip", "-n", self.netns, "-br", "link", "show", "dev", "eth0").stdout.split()[2]
            _run("ip", "neigh", "replace", self.address, "lladdr", mac, "dev", self.veth, "nud", "permanent")
            _run("ip", "-n", self.netns, "link", "set", "dev", "eth0", "down")
        else:
            self._stop_sshd()
        self._down = how

    def up(self, timeout: float = 10) -> None:
        """Undo :meth:`down` and wait until sshd accepts connections again."""
        if self._down == "link":
            _run("ip", "link", "set", "dev", self.veth, "up")
            _run("ip", "route", "del", *self._unreachable_route, check=False)
        elif self._down == "silent":
            _run("ip", "-n", self.netns, "link", "set", "dev", "eth0", "up")
            _run("ip", "neigh", "del", self.address, "dev", self.veth, check=False)
            # a link going down takes its routes with it
            _run("ip", "-n", self.netns, "route", "replace", "default", "via", self.gateway)
        elif self._down == "sshd":
            self._start_sshd()
        self._down = None
        self.wait_ready(timeout)

    @property
    def _unreachable_route(self) -> tuple[str, ...]:
        return ("unreachable", f"{self.address}/32", "proto", ROUTE_PROTO)

    # -- processes ------------------------------------------------------------------------------

    def _start_sshd(self) -> None:
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        # unshare --uts gives each host its own hostname; ip, unshare and sh exec, so the pid we
        # hold is sshd's own and PDEATHSIG (kept across a non-setuid exec) reaches it.
        # `ip netns exec` runs in a private mount namespace (it remounts /sys), so the bind
        # mount over root's ~/.bashrc is seen by this host's sessions only.
        script = 'hostname "$0" && exec "$1" -D -f "$2" -E "$3"'
        if self.bashrc is not None:
            script = 'mount --bind /dev/null "$4" && ' + script
        cmd = [
            "ip", "netns", "exec", self.netns,
            "unshare", "--uts", "--",
            "sh", "-c", script,
            self.name, SSHD, str(self.sshd_config), str(self.sshd_log), str(self.bashrc or ""),
        ]  # fmt: skip
        # Output before sshd's own -E log (a failing hostname or mount) lands in that log too.
        self.process = spawn(cmd, self.sshd_log, death_signal=signal.SIGKILL)

    def _stop_sshd(self) -> None:
        """Stop sshd and every session in the namespace.

        Sessions first, while the listener still lives to reap them: sshd leaves its sessions
        running when it is stopped, and an orphan here is reaped by pid 1 only lazily.
        """
        proc, self.process = self.process, None
        listener = proc.pid if proc is not None else None
        _kill_netns_pids(self.netns, spare=listener)
        if proc is not None:
            terminate(proc, timeout=5)

    def wait_ready(self, timeout: float = 10) -> None:
        """Wait until sshd accepts TCP connections on the namespace address."""
        if self.process is None:
            raise SandboxError(f"sshd for {self.name} is not started")

        def banner() -> bool:
            with socket.create_connection((self.address, 22), timeout=0.5) as sock:
                # sshd speaks first: a banner proves it is sshd, not a half-open port.
                sock.settimeout(2)
                return sock.recv(4).startswith(b"SSH-")

        try:
            wait_until(
                banner,
                timeout,
                f"sshd for {self.name} on {self.address}:22",
                process=self.process,
                log_path=self.sshd_log,
                interval=0.05,
            )
        except RuntimeError as exc:
            raise SandboxError(str(exc)) from None

    def close_master(self) -> None:
        """Close the multiplexed ssh master connection to this host, if any."""
        _run("ssh", "-F", str(self.ssh_config), "-O", "exit", self.address, check=False, timeout=10)


class NamespaceHosts:
    """``count`` namespace hosts with sshd; state and keys under ``root``. A context manager."""

    def __init__(self, root: Path | str, count: int = 2, *, clean_shell: bool = True) -> None:
        """``clean_shell``: hide the local root's ``~/.bashrc`` from sessions on the hosts.

        bash started by sshd sources ``~/.bashrc`` even for ``ssh host cmd``; a heavy one (here:
        ``pyenv init``, ~150 ms) then costs every remote command, which a fresh host would not.
        """
        if count < 1 or count > 64:
            raise ValueError(f"count must be between 1 and 64 (one /30 each in a /24), not {count}")
        self.root = Path(root).resolve()
        self.count = count
        self.clean_shell = clean_shell
        self.tag = f"{random.getrandbits(24):06x}"
        self.hosts: list[NamespaceHost] = []
        self.ssh_config = self.root / "ssh_config"
        self.identity = self.root / "id_ed25519"
        self.control_dir = self.root
        self._own_control_dir = False
        self._veths: list[str] = []
        self._netns: list[str] = []

    # -- public API -----------------------------------------------------------------------------

    @staticmethod
    def available() -> tuple[bool, str]:
        """Whether namespace hosts can run here, and why not."""
        if os.geteuid() != 0:
            return False, "network namespace hosts need root (ip netns add)"
        for tool in ("ip", "ssh", "ssh-keygen", "unshare"):
            if shutil.which(tool) is None:
                return False, f"{tool} is not installed"
        if not os.access(SSHD, os.X_OK):
            return False, f"{SSHD} is missing: install openssh-server"
        try:
            proc = _run("ip", "netns", "list", check=False, timeout=5)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"ip netns does not work: {exc}"
        if proc.returncode != 0:
            return False, f"ip netns does not work: {proc.stderr.strip()}"
        return True, ""

    def testinfra_kwargs(self, timeout: int | None = None) -> dict[str, Any]:
        """Keyword arguments for ``testinfra.get_host`` to reach these hosts.

        testinfra's ssh backend always passes ``-o ConnectTimeout=<timeout>`` (default 10 s),
        which beats the ssh_config's 5 s: give ``timeout`` to bound a connect attempt.
        """
        kwargs: dict[str, Any] = {"ssh_config": str(self.ssh_config)}
        if timeout is not None:
            kwargs["timeout"] = timeout
        return kwargs

    def __enter__(self) -> NamespaceHosts:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        ok, reason = self.available()
        if not ok:
            raise SandboxError(reason)
        cleanup_stale()
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._make_keys()
            self._choose_control_dir()
            with _machine_lock():
                octet = self._free_octet()
                for i in range(1, self.count + 1):
                    self.hosts.append(self._make_namespace(i, octet))
            self._write_ssh_config()
            for host in self.hosts:
                self._write_sshd_config(host)
                host._start_sshd()
            for host in self.hosts:
                host.wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop everything started; safe to call twice or after a failed start."""
        for host in self.hosts:
            with contextlib.suppress(Exception):
                if self.ssh_config.exists():
                    host.close_master()
        for host in self.hosts:
            with contextlib.suppress(Exception):
                host._stop_sshd()
        for host in self.hosts:
            if host._down == "link":
                _run("ip", "route", "del", *host._unreachable_route, check=False)
            host._down = None
        # Deleting a namespace destroys its end of the veth pair, and with it the root end.
        for ns in self._netns:
            _kill_netns_pids(ns)  # anything else left in there (e.g. a test's own process)
            _run("ip", "netns", "delete", ns, check=False)
        # The kernel tears a namespace down asynchronously: wait, so "stopped" means "gone".
        deadline = time.monotonic() + 5
        while (left := [v for v in self._veths if Path("/sys/class/net", v).exists()]) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.05)
        for veth in left:
            _run("ip", "link", "delete", veth, check=False)
        self._netns.clear()
        self._veths.clear()
        for sock in self.control_dir.glob("cm-*"):
            with contextlib.suppress(OSError):
                sock.unlink()
        if self._own_control_dir:
            shutil.rmtree(self.control_dir, ignore_errors=True)
            self._own_control_dir = False

    # -- setup steps ----------------------------------------------------------------------------

    def _make_keys(self) -> None:
        if not self.identity.exists():
            _keygen(self.identity, "sergas-sandbox")
        auth = self.root / "authorized_keys"
        auth.write_text(Path(f"{self.identity}.pub").read_text())
        auth.chmod(0o600)

    def _choose_control_dir(self) -> None:
        # A pytest tmp_path is often too long for a unix socket path: fall back to a short dir.
        if len(str(self.root)) + 1 + _CM_EXPANDED + _CM_TEMP_SUFFIX <= _SUN_PATH_MAX:
            self.control_dir = self.root
        else:
            self.control_dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-cm-", dir="/tmp"))
            self._own_control_dir = True

    def _free_octet(self) -> int:
        used = _used_third_octets()
        free = [x for x in range(1, 255) if x not in used]
        if not free:
            raise SandboxError(f"no free /24 left in {SUPERNET} on this machine")
        return random.choice(free)

    def _make_namespace(self, i: int, octet: int) -> NamespaceHost:
        name = f"h{i}"
        netns = f"{PREFIX}{os.getpid()}-{self.tag}-{name}"
        net = ipaddress.IPv4Network(f"10.213.{octet}.{4 * (i - 1)}/30")
        gateway, address = (str(a) for a in net.hosts())
        veth, peer = f"sgh{self.tag}r{i}", f"sgh{self.tag}p{i}"

        _run("ip", "netns", "add", netns)
        self._netns.append(netns)
        _run("ip", "link", "add", veth, "type", "veth", "peer", "name", peer)
        self._veths.append(veth)
        _run("ip", "link", "set", peer, "netns", netns)
        _run("ip", "addr", "add", f"{gateway}/30", "dev", veth)
        _run("ip", "link", "set", veth, "up")
        inside = ("ip", "-n", netns)
        _run(*inside, "link", "set", "lo", "up")
        _run(*inside, "link", "set", peer, "name", "eth0")
        _run(*inside, "addr", "add", f"{address}/30", "dev", "eth0")
        _run(*inside, "link", "set", "eth0", "up")
        _run(*inside, "route", "add", "default", "via", gateway)

        hostdir = self.root / name
        hostdir.mkdir(exist_ok=True)
        bashrc = Path(pwd.getpwnam("root").pw_dir, ".bashrc")
        return NamespaceHost(
            name=name,
            netns=netns,
            address=address,
            gateway=gateway,
            veth=veth,
            ssh_config=self.ssh_config,
            sshd_config=hostdir / "sshd_config",
            sshd_log=hostdir / "sshd.log",
            bashrc=bashrc if self.clean_shell and bashrc.is_file() else None,
        )

    def _write_sshd_config(self, host: NamespaceHost) -> None:
        hostdir = host.sshd_config.parent
        key = hostdir / "ssh_host_ed25519_key"
        if not key.exists():
            _keygen(key, f"sandbox-{host.name}")
        host.sshd_config.write_text(
            "\n".join(
                [
                    f"ListenAddress {host.address}",
                    "Port 22",
                    f'HostKey "{key}"',
                    f'PidFile "{hostdir / "sshd.pid"}"',
                    f'AuthorizedKeysFile "{self.root / "authorized_keys"}"',
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "UseDNS no",
                    "PrintMotd no",
                    "PrintLastLog no",
                    # Multiplexed sessions count against MaxSessions; parallel workers against
                    # MaxStartups: the defaults (10, 10:30:100) refuse a busy xdist run.
                    "MaxSessions 100",
                    "MaxStartups 100:30:200",
                    "ClientAliveInterval 5",
                    "ClientAliveCountMax 3",
                    "Subsystem sftp internal-sftp",
                    "LogLevel INFO",
                    "",
                ]
            )
        )

    def _write_ssh_config(self) -> None:
        patterns = " ".join([h.address for h in self.hosts] + [h.name for h in self.hosts] + self._netns)
        lines = [f"# sergas sandbox hosts ({self.tag}); used with ssh -F, so nothing else applies"]
        for h in self.hosts:
            lines += [f"Host {h.name} {h.netns}", f"    HostName {h.address}", ""]
        lines += [
            f"Host {patterns}",
            "    User root",
            f'    IdentityFile "{self.identity}"',
            "    IdentitiesOnly yes",
            "    BatchMode yes",
            "    StrictHostKeyChecking no",
            "    UserKnownHostsFile /dev/null",
            "    GlobalKnownHostsFile /dev/null",
            "    LogLevel ERROR",
            "    ConnectTimeout 5",
            "    ConnectionAttempts 1",
            # The default first choice, post-quantum sntrup761x25519, costs ~0.45 s per new
            # connection on a small VM; curve25519 alone ~0.1 s. A sandbox has no secrets to keep.
            "    KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org,sntrup761x25519-sha512@openssh.com",
            # A multiplexed master to a host that vanished otherwise hangs every later command.
            "    ServerAliveInterval 2",
            "    ServerAliveCountMax 2",
            "    ControlMaster auto",
            f'    ControlPath "{self.control_dir / _CM_NAME}"',
            "    ControlPersist 60",
            "",
        ]
        self.ssh_config.write_text("\n".join(lines))


def _netns_pids(netns: str) -> set[int]:
    out = _run("ip", "netns", "pids", netns, check=False).stdout
    return {int(p) for p in out.split() if p.isdigit()}


def _kill_netns_pids(netns: str, spare: int | None = None, timeout: float = 3) -> None:
    """SIGTERM, then SIGKILL, every process in ``netns`` but ``spare``."""
    deadline = time.monotonic() + timeout
    sig = signal.SIGTERM
    while pids := _netns_pids(netns) - {spare}:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(0.05)
        if time.monotonic() > deadline:
            if sig == signal.SIGKILL:
                return
            sig, deadline = signal.SIGKILL, time.monotonic() + timeout


def cleanup_stale() -> list[str]:
    """Delete what runs whose process is gone left behind; return what was removed.

    Their sshds died with their parent (PDEATHSIG); ssh sessions, the namespace with its veth
    pair, down("link") routes and a short control-socket folder in /tmp can remain.
    """
    removed = []
    stale_addresses: set[str] = set()
    for ns in _netns_list():
        m = _NS_RE.match(ns)
        if m and not pid_alive(int(m.group(1))):
            inside = _run("ip", "-n", ns, "-o", "-4", "addr", "show", check=False).stdout
            stale_addresses.update(re.findall(r"inet (10\.213\.[\d.]+)/", inside))
            _kill_netns_pids(ns)
            _run("ip", "netns", "delete", ns, check=False)
            removed.append(ns)
    for path in Path("/tmp").glob(f"{PREFIX}*-cm-*"):
        m = re.match(rf"{re.escape(PREFIX)}(\d+)-cm-", path.name)
        if m and not pid_alive(int(m.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    # down("link") routes of those namespaces, or whose veth is gone (a veth keeps its address
    # while down). Namespace teardown is asynchronous: just deleted ones may still show a veth.
    ours = _run("ip", "-o", "-4", "addr", "show", check=False).stdout
    gateways = set(re.findall(r"\bsgh\S*\s+inet (10\.213\.[\d.]+)/", ours))
    routes = _run("ip", "-4", "route", "show", "proto", ROUTE_PROTO, "type", "unreachable", check=False)
    for m in re.finditer(r"(10\.213\.\d+\.\d+)", routes.stdout):
        gateway = str(ipaddress.IPv4Address(m.group(1)) - 1)
        if m.group(1) in stale_addresses or gateway not in gateways:
            _run("ip", "route", "del", "unreachable", f"{m.group(1)}/32", "proto", ROUTE_PROTO, check=False)
            removed.append(f"route unreachable {m.group(1)}")
    return removed
