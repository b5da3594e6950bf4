"""What a check looks at (`Target`), and one client per target per process (`Targets`).

A target has a `kind` (postgres, redis, http, prometheus, alertmanager, s3, host), a `key` that
says where it is without a secret (`postgresql://user@db1:5432/sergas`, `ssh://deploy@app1`:
what a "cannot connect" names), a `label` that reports show in their target column (one rule:
`host:port`, with `/database` where a server holds several; the host name for a host), and how
to connect. `Targets.client` connects once and reuses the client. The first failure to reach a
target is remembered, in this process and in the run's shared folder (so other xdist workers
see it too): later checks of that target end as unknown at once with the same one-line reason
instead of each waiting out the timeout again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from filelock import FileLock

from sergas.status import CheckOutcome, unknown

T = TypeVar("T")


@dataclass(frozen=True)
class Target(Generic[T]):
    """One thing checks connect to, and how."""

    kind: str
    key: str
    label: str
    connect: Callable[[], T]
    alive: Callable[[T], bool] | None = None


def address_label(url: str, default_port: int) -> str:
    """The naming rule for a network service: `host:port` (the port written even when default)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port or default_port}"


def short_reason(exc: BaseException) -> str:
    """The cause of a connection failure, in a few words: `connection refused`, `timeout expired`."""
    cause: BaseException | None = exc
    while cause is not None:  # the operating system's word, when a client wrapped it
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror[0].lower() + cause.strerror[1:]
        cause = cause.__cause__ or cause.__context__
    text = re.sub(r"\[Errno -?\d+\] ", "", str(exc).strip())
    if not text:
        return type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else text
    # psycopg: 'connection failed: connection to server at "h", port 1 failed: Connection refused'
    line = re.split(r"failed: ", line)[-1]
    line = line.split(". ")[0].rstrip(".")
    return line[0].lower() + line[1:] if len(line) > 1 and line[1].islower() else line


class Targets:
    """The run's clients in this process, one per target, closed at the end of the run."""

    def __init__(self, shared_dir: Path | None) -> None:
        self._clients: dict[str, Any] = {}
        self._failures: dict[str, str] = {}
        self._shared = shared_dir

    def _failure_file(self, key: str) -> Path | None:
        if self._shared is None:
            return None
        digest = hashlib.sha1(key.encode()).hexdigest()[:16]
        return self._shared / f"unreachable-{digest}.json"

    def _known_failure(self, key: str) -> str | None:
        if key in self._failures:
            return self._failures[key]
        path = self._failure_file(key)
        if path is not None and path.exists():
            self._failures[key] = json.loads(path.read_text())["reason"]
            return self._failures[key]
        return None

    def _remember_failure(self, key: str, reason: str) -> None:
        self._failures[key] = reason
        path = self._failure_file(key)
        if path is not None:
            path.write_text(json.dumps({"target": key, "reason": reason}))

    def client(self, target: Target[T]) -> T:
        """The cached client of `target`, connecting on first use (or when it died); `unknown`
        with the reason when it cannot be reached, now or earlier in the run."""
        key, connect, alive = target.key, target.connect, target.alive
        cached: T | None = self._clients.get(key)
        if cached is not None and (alive is None or alive(cached)):
            return cached
        known = self._known_failure(key)
        if known is not None:
            raise unknown(known)
        lock = FileLock(str(self._failure_file(key)) + ".lock") if self._shared else None
        if lock is not None:
            lock.acquire()
        try:
            known = self._known_failure(key)
            if known is not None:
                raise unknown(known)
            try:
                client = connect()
            except Exception as exc:
                reason = f"cannot connect to {key}: {short_reason(exc)}"
                self._remember_failure(key, reason)
                raise unknown(reason) from None
        finally:
            if lock is not None:
                lock.release()
        self._clients[key] = client
        return client

    def forget_failures(self) -> None:
        """Reach every target afresh: a check run again (a rollout gate's retry) must not end on
        what an earlier attempt found unreachable."""
        self._failures.clear()
        if self._shared is not None:
            for path in self._shared.glob("unreachable-*.json"):
                path.unlink(missing_ok=True)

    def probe(self, targets: list[Target[Any]]) -> None:
        """Reach every target at once: one attempt each, concurrently, within its own timeouts.
        What answers is kept for the checks; what fails is remembered, so no check waits again.
        An environment whose every component hangs costs one timeout, not their sum."""
        if not targets:
            return
        with ThreadPoolExecutor(max_workers=min(len(targets), 32), thread_name_prefix="probe") as pool:
            for attempt in [pool.submit(self.client, target) for target in targets]:
                with contextlib.suppress(CheckOutcome):
                    attempt.result()

    def close(self) -> None:
        for client in self._clients.values():
            closer = getattr(client, "close", None)
            if callable(closer):
                with contextlib.suppress(Exception):  # closing at the end: nothing left to report to
                    closer()
        self._clients.clear()
