"""A private Docker engine (`DockerEngine`) and the local image the compose variant of the app
runs (`build_image`).

`dockerd` runs as a child of this process (it dies with it, and stops its containers and its
containerd as it goes) with every file under one folder: `<root>/docker.sock`, `data/`
(`--data-root`), `exec/` (`--exec-root`, containerd's sockets), `daemon.json`, the pid file and
the log. What dockerd 20.10 would still write outside (`/run/docker/plugins`, containerd's shim
sockets in `/run/containerd/s`, `/etc/docker/key.json`) goes there too: it runs in a mount
namespace of its own in which `<root>/run` is mounted over `/run`, and its trust key is moved
by `daemon.json`. That namespace also keeps the containers' overlay mounts off the host's mount
table, and they vanish with the engine. No bridge, no iptables rules, no registry: containers
use the host's network and images come from `docker import`.

Clients use Debian's `/usr/bin/docker` (the same API version as its `dockerd`); any other client
reaches the engine with `DOCKER_HOST=<engine.host>` and negotiates the API version down.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from sandbox.processes import log_tail, pid_alive, spawn, terminate, wait_until

DOCKERD = Path("/usr/sbin/dockerd")
DOCKER = Path("/usr/bin/docker")
IMAGE = "sergas-sandbox-app:local"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# sun_path is 108 bytes with its NUL; the longest socket dockerd makes below the root.
_UNIX_PATH_MAX = 107
_LONGEST_SOCKET = "exec/containerd/containerd.sock.ttrpc"


class DockerError(RuntimeError):
    """A docker command failed; the message is its command and first line of stderr."""


class DockerEngine:
    """`dockerd` under `root` (see the module docstring); `host` is its `DOCKER_HOST`."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        longest = len(str(self.root / _LONGEST_SOCKET))
        if longest > _UNIX_PATH_MAX:
            raise ValueError(f"{self.root}: too long for dockerd's unix sockets ({longest} > {_UNIX_PATH_MAX} bytes)")
        if self.root.is_relative_to("/run"):
            raise ValueError(f"{self.root}: the engine's root cannot be under /run (its /run is mounted over)")
        self.socket = self.root / "docker.sock"
        self.log_path = self.root / "dockerd.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._namespace: str | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @staticmethod
    def unavailable_reason() -> str | None:
        """Why no engine can start on this machine (a sentence), or None if one can."""
        if os.geteuid() != 0:
            return "a private Docker engine needs root (dockerd runs as root here)"
        missing = [str(p) for p in (DOCKERD, DOCKER) if not p.exists()]
        missing += [tool for tool in ("containerd", "runc", "unshare", "mount") if shutil.which(tool) is None]
        if missing:
            return f"Docker is not installed ({', '.join(missing)} missing): apt-get install docker.io docker-compose"
        return None

    # --- lifecycle ------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> None:
        """Start dockerd and return when `docker version` answers."""
        if self._process is not None and self._process.poll() is None:
            return
        for folder in ("data", "exec", "run"):
            (self.root / folder).mkdir(parents=True, exist_ok=True, mode=0o700)
        config = self.root / "daemon.json"
        config.write_text(json.dumps({"deprecated-key-path": str(self.root / "key.json")}) + "\n")
        dockerd = [
            str(DOCKERD),
            f"--config-file={config}",  # not /etc/docker/daemon.json: no mirrors, no site settings
            f"--data-root={self.root / 'data'}",
            f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.root / 'dockerd.pid'}",
            f"--host={self.host}",
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--storage-driver=overlay2",
        ]
        script = f"mount --bind {shlex.quote(str(self.root / 'run'))} /run && exec {shlex.join(dockerd)}"
        self._process = spawn(
            ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script],
            self.log_path,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
        wait_until(
            lambda: self.docker("version", "--format", "{{.Server.Version}}", timeout=5) != "",
            timeout,
            f"dockerd at {self.host}",
            log_path=self.log_path,
            process=self._process,
            interval=0.1,
        )
        self._namespace = self._own_namespace()

    def _own_namespace(self) -> str | None:
        """dockerd's mount namespace once it has one of its own (never this process's: that
        would make every process of the host a leftover)."""
        if self._process is None or self._process.poll() is not None:
            return None
        try:
            namespace = os.readlink(f"/proc/{self._process.pid}/ns/mnt")
        except OSError:
            return None
        return namespace if namespace != os.readlink("/proc/self/ns/mnt") else None

    def stop(self, timeout: float = 30.0) -> None:
        """Stop dockerd: it stops its containers and its containerd. Whatever still runs in its
        mount namespace after that (a containerd-shim of a container that would not stop) is
        killed by pid. Removes nothing: the root's owner does."""
        if self._process is None:
            return
        self._namespace = self._namespace or self._own_namespace()  # also after a failed start
        terminate(self._process, signal.SIGTERM, timeout=timeout)
        if self._namespace is not None:
            for pid in self.leftover_pids():
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while self.leftover_pids() and time.monotonic() < deadline:
                time.sleep(0.05)
        self._process = None

    def leftover_pids(self) -> list[int]:
        """Live processes in the engine's mount namespace (dockerd, containerd, shims)."""
        if self._namespace is None:
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    namespace = os.readlink(entry / "ns" / "mnt")
                except OSError:
                    continue
                if namespace == self._namespace and pid_alive(int(entry.name)):
                    found.append(int(entry.name))
        return found

    # --- clients --------------------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        """The environment of a docker client of this engine (and nothing of the caller's)."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DOCKER_HOST": self.host,
            "DOCKER_CONFIG": str(self.root / "client"),
        }

    def docker(self, *args: str, timeout: float = 30.0, stdin: bytes | None = None) -> str:
        """Run `docker <args>` against this engine; its stdout, stripped. DockerError if it fails."""
        try:
            result = subprocess.run(
                [str(DOCKER), *args],
                input=stdin,
                capture_output=True,
                env=self.env,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise DockerError(f"docker {shlex.join(args)}: no answer after {timeout:g} s") from None
        if result.returncode != 0:
            said = result.stderr.decode(errors="replace").strip().splitlines()
            raise DockerError(f"docker {shlex.join(args)}: {said[-1] if said else f'exit {result.returncode}'}")
        return result.stdout.decode(errors="replace").strip()

    def inspect(self, *ids: str) -> list[dict[str, Any]]:
        """`docker inspect` of containers (or images), parsed."""
        data: list[dict[str, Any]] = json.loads(self.docker("inspect", *ids))
        return data

    def log_tail(self) -> str:
        return log_tail(self.log_path)


# --- the image ------------------------------------------------------------------------------
def host_mounts() -> list[Path]:
    """What a container of `IMAGE` mounts read-only from this host, at the same paths, to run
    `python -m sandbox.app`: `/usr` (and whichever of /bin, /lib... is not a link into it),
    this Python's installation, the project's virtual environment and the project."""
    paths = [Path("/usr"), *(Path(p) for p in ("/bin", "/sbin", "/lib", "/lib64") if not Path(p).is_symlink())]
    paths += [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), PROJECT_ROOT]
    kept: list[Path] = []
    for path in sorted(set(paths), key=lambda p: len(p.parts)):
        if path.exists() and not any(path.is_relative_to(outer) for outer in kept):
            kept.append(path)
    return kept


def _rootfs() -> bytes:
    """A root file system tarball without a program of its own: the mount points, the links of a
    merged /usr, a root user and this host's loader cache (the libraries come from /usr)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:

        def add(
            name: str, *, mode: int = 0o755, kind: bytes = tarfile.DIRTYPE, data: bytes = b"", link: str = ""
        ) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.linkname, info.size = kind, mode, link, len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data) if data else None)

        # /sbin is a folder of the image: docker mounts its init at /sbin/docker-init.
        for folder in ("dev", "etc", "proc", "root", "run", "run/sergas", "sbin", "sys", "usr", "var"):
            add(folder)
        add("tmp", mode=0o1777)
        for name in ("bin", "lib", "lib64"):
            if Path("/", name).is_symlink():
                add(name, kind=tarfile.SYMTYPE, link=os.readlink(Path("/", name)))
        add("etc/passwd", kind=tarfile.REGTYPE, mode=0o644, data=b"root:x:0:0:root:/root:/bin/sh\n")
        add("etc/group", kind=tarfile.REGTYPE, mode=0o644, data=b"root:x:0:\n")
        cache = Path("/etc/ld.so.cache")
        if cache.exists():
            add("etc/ld.so.cache", kind=tarfile.REGTYPE, mode=0o644, data=cache.read_bytes())
    return buffer.getvalue()


def build_image(engine: DockerEngine, tag: str = IMAGE) -> str:
    """`docker import` the root file system as `tag` (no registry involved); its image id."""
    return engine.docker("import", "--message", "sergas sandbox app (host-mounted)", "-", tag, stdin=_rootfs())
