"""Child processes that die with their parent, waiting for them to become ready, and
`ChildServer`, what every sandbox server run as a child process has in common. Also `NO_PROXY`,
the opener every sandbox HTTP request to 127.0.0.1 goes through."""

from __future__ import annotations

import ctypes
import os
import pwd
import queue
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, ClassVar, TypeVar

T = TypeVar("T")

PR_SET_PDEATHSIG = 1
# Loopback URLs must not go through an http_proxy from the environment.
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent(parent_pid: int, sig: int) -> Callable[[], None]:
    """A preexec_fn: ask the kernel to send `sig` when the forking thread exits (see _Spawner)."""

    def preexec() -> None:
        if _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            os._exit(127)
        # The parent may have died between fork() and prctl(): then nobody will signal us.
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), sig)

    return preexec


class _Spawner:
    """One long-lived daemon thread that forks every child.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits (prctl(2)), not the
    process: a child started from a short-lived thread (a ThreadPoolExecutor worker, a
    thread-per-request server) would be killed when that thread ends. Forking from a thread
    that lives as long as the process makes "dies with its parent" mean the process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def call(self, fn: Callable[[], T]) -> T:
        if threading.current_thread() is self._thread:
            return fn()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sandbox-spawner", daemon=True)
                self._thread.start()
        future: Future[T] = Future()
        self._queue.put((fn, future))
        return future.result()

    def _run(self) -> None:
        while True:
            fn, future = self._queue.get()
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)


_spawner = _Spawner()


def spawn(
    argv: Sequence[str],
    log_path: Path,
    *,
    user: str | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    death_signal: int = signal.SIGTERM,
) -> subprocess.Popen[bytes]:
    """Start `argv` in a new session, appending stdout and stderr to `log_path`.

    The child receives `death_signal` when this Python process exits (it is forked by a
    long-lived thread, see `_Spawner`), so nothing outlives the process that started it. With
    `user`, the child runs as that OS user and its primary group, without supplementary groups.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    parent_pid = os.getpid()

    def popen() -> subprocess.Popen[bytes]:
        with open(log_path, "ab") as log:
            return subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                start_new_session=True,
                preexec_fn=_die_with_parent(parent_pid, death_signal),
                user=user,
                group=pwd.getpwnam(user).pw_gid if user is not None else None,
                extra_groups=[] if user is not None else None,
            )

    return _spawner.call(popen)


def log_tail(path: Path | None, lines: int = 20) -> str:
    """The last `lines` lines of a log file, or a note that there is none."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(no log at {path}: {exc.strerror})"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    *,
    log_path: Path | None = None,
    process: subprocess.Popen[bytes] | None = None,
    interval: float = 0.02,
) -> None:
    """Poll `predicate` until it returns True; raise RuntimeError naming `what` otherwise.

    Exceptions raised by the predicate count as "not yet". If `process` exits meanwhile, fail at
    once instead of waiting for the timeout. The error carries the tail of `log_path`.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            if predicate():
                return
        except Exception as exc:
            last_error = exc
        if process is not None and process.poll() is not None:
            reason = f"{what}: process exited with code {process.returncode}"
            break
        if time.monotonic() >= deadline:
            reason = f"{what}: not ready after {timeout:g} s"
            break
        time.sleep(interval)
    if last_error is not None:
        reason += f" (last error: {last_error})"
    tail = log_tail(log_path)
    if tail:
        reason += f"\n--- {log_path} (tail) ---\n{tail}"
    raise RuntimeError(reason)


def terminate(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Send `sig`, wait up to `timeout`, then SIGKILL; always reaps the child."""
    if process.poll() is None:
        try:
            process.send_signal(sig)
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        except ProcessLookupError:
            pass
    else:
        process.wait()


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


class ChildServer:
    """A server run as a child process on 127.0.0.1:`port`, its output appended to `log_path`.

    This holds the process (`pid`, `is_running`, `stop`); a subclass says how to start it
    (`_launch`, which writes its files and calls `_spawn`) and when it is ready (`wait_ready`).
    The signal that stops it is also the one it receives if the owner dies.
    """

    title: ClassVar[str] = "server"  # "<title> on port <port>" in errors
    stop_signal: ClassVar[int] = signal.SIGTERM
    stop_timeout: ClassVar[float] = 10.0

    def __init__(self, *, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def launch(self) -> None:
        """Start the process without waiting for it (see `wait_ready`); nothing if it runs."""
        if self.is_running():
            return
        self._launch()

    def _launch(self) -> None:
        raise NotImplementedError

    def wait_ready(self, timeout: float = 15.0) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def stop(self, *, save: bool = False) -> None:
        """Send `stop_signal`, wait up to `stop_timeout`, then SIGKILL (see `terminate`).

        `save`: keep the server's state for the next `start()` (a fault's restart), for the
        servers whose state would otherwise be lost (Redis, S3); the others ignore it.
        """
        if self._process is not None:
            terminate(self._process, self.stop_signal, timeout=self.stop_timeout)

    def _spawn(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
    ) -> None:
        self._process = spawn(argv, self.log_path, user=user, cwd=cwd, env=env, death_signal=self.stop_signal)

    def _wait_until(
        self, predicate: Callable[[], bool], timeout: float, what: str | None = None, *, interval: float = 0.02
    ) -> None:
        """`wait_until` on this server's process and log; `what` defaults to "<title> on port <port>"."""
        wait_until(
            predicate,
            timeout,
            what or f"{self.title} on port {self.port}",
            log_path=self.log_path,
            process=self._process,
            interval=interval,
        )
