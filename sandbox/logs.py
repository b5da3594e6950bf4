"""The sandbox's log history and log faults, in the reference app's format (sandbox/app.py).

At start the app log gets a realistic past: request lines spread over the last 26 hours in
`app.log.2.gz` (26 h to 20 h ago), `app.log.1` (20 h to 6 h ago) and `app.log` (6 h ago to now),
each file's mtime set to its last line as logrotate leaves it. Errors, 5xx answers and an open
circuit breaker exist only before the 24-hour window, a slow request only before the 1-hour
window, and a couple of failed logins inside it (below any threshold): a healthy sandbox is ok
only if the checks really window by time. Faults (`LogFaults`) append lines with current
timestamps and remove exactly those lines afterwards.
"""

from __future__ import annotations

import gzip
import os
import random
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PATHS = ("/health", "/api/v1/users", "/api/v1/features", "/metrics", "/api/v1/accounts", "/api/v1/agents/run")
HISTORY_HOURS = 26
HISTORY_STEP_S = 30.0  # one history request every ~30 s
FAULT_SPREAD_S = 600.0  # fault lines are spread over the last ten minutes
ROTATED_AT = (timedelta(hours=20), timedelta(hours=6))  # app.log.2.gz ends 20 h ago, app.log.1 6 h ago


def stamp(when: datetime) -> str:
    """The app's timestamp: ISO 8601 UTC with milliseconds (`2026-12-01T19:40:00.123+00:00`)."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


def request_line(when: datetime, path: str, status: int, duration_ms: int) -> str:
    return f"{stamp(when)} INFO sergas.api request method=GET path={path} status_code={status} duration={duration_ms}"


def error_line(
    when: datetime,
    message: str = "Zoho CRM request failed: connection refused",
    logger: str = "sergas.zoho",
    level: str = "ERROR",
) -> str:
    return f"{stamp(when)} {level} {logger} {message}"


def auth_failure_line(when: datetime, client: str = "203.0.113.7") -> str:
    token = secrets.token_hex(4)
    return (
        f"{stamp(when)} WARNING sergas.auth authentication failed for token sha256:{token} "
        f"path=/api/v1/users client={client}"
    )


def circuit_open_line(when: datetime) -> str:
    return f"{stamp(when)} WARNING sergas.zoho circuit breaker open after 3 consecutive failures"


def history_lines(start: datetime, end: datetime, rng: random.Random) -> Iterator[str]:
    """Healthy traffic between `start` and `end`, one request every ~HISTORY_STEP_S seconds."""
    when = start
    while when < end:
        path = rng.choice(PATHS)
        yield request_line(when, path, 200, rng.randint(2, 180))
        when += timedelta(seconds=rng.uniform(0.5, 1.5) * HISTORY_STEP_S)


def _history(now: datetime) -> list[tuple[datetime, str]]:
    """Every history line with its time, oldest first, incidents placed by age."""
    rng = random.Random(20261201)
    start = now - timedelta(hours=HISTORY_HOURS)
    lines: list[tuple[datetime, str]] = []
    for line in history_lines(start, now - timedelta(seconds=5), rng):
        lines.append((datetime.fromisoformat(line.split(" ", 1)[0]), line))
    incidents = [
        # Before the 24-hour window (in app.log.2.gz): must not count.
        (timedelta(hours=25, minutes=30), error_line, {}),
        (timedelta(hours=25, minutes=29), error_line, {"message": "Database health check failed: timeout"}),
        (timedelta(hours=25, minutes=20), circuit_open_line, {}),
        (
            timedelta(hours=25, minutes=10),
            error_line,
            {"level": "CRITICAL", "logger": "sergas.agents", "message": "agent ZohoDataScout crashed"},
        ),
    ]
    found = [(now - age, maker(now - age, **kwargs)) for age, maker, kwargs in incidents]
    found += [
        (
            now - timedelta(hours=25, minutes=m),
            request_line(now - timedelta(hours=25, minutes=m), "/api/v1/users", 503, 40),
        )
        for m in (1, 2, 3)
    ]
    # Inside 24 h but before the last hour: a slow request (the 1-hour window excludes it).
    three_h = now - timedelta(hours=3)
    found.append((three_h, request_line(three_h, "/api/v1/agents/run", 200, 7300)))
    # Two failed logins in the last day: normal noise, below the warning threshold.
    for hours in (8, 2):
        found.append((now - timedelta(hours=hours), auth_failure_line(now - timedelta(hours=hours))))
    lines += found
    lines.sort(key=lambda item: item[0])
    return lines


def write_history(log_dir: Path, now: datetime | None = None) -> Path:
    """Write app.log.2.gz, app.log.1 and app.log (rewritten in place: a running app keeps
    appending to it through its O_APPEND descriptor). Returns app.log."""
    now = now or datetime.now(UTC)
    log_dir.mkdir(parents=True, exist_ok=True)
    lines = _history(now)
    old_end, mid_end = now - ROTATED_AT[0], now - ROTATED_AT[1]
    parts: list[tuple[Path, list[tuple[datetime, str]]]] = [
        (log_dir / "app.log.2.gz", [x for x in lines if x[0] < old_end]),
        (log_dir / "app.log.1", [x for x in lines if old_end <= x[0] < mid_end]),
        (log_dir / "app.log", [x for x in lines if x[0] >= mid_end]),
    ]
    for path, chunk in parts:
        text = "".join(line + "\n" for _, line in chunk).encode()
        if path.suffix == ".gz":
            path.write_bytes(gzip.compress(text, mtime=int(chunk[-1][0].timestamp())))
        else:
            rewrite(path, text)
        if path.name != "app.log":
            stamp_time = chunk[-1][0].timestamp()
            os.utime(path, (stamp_time, stamp_time))
    return log_dir / "app.log"


def append_lines(path: Path, lines: Iterable[str]) -> list[str]:
    written = list(lines)
    with open(path, "ab") as f:
        f.write("".join(line + "\n" for line in written).encode())
    return written


def rewrite(path: Path, text: bytes) -> None:
    """Make `text` the content of `path` in place: the running app keeps appending to it through
    the O_APPEND descriptor its stderr was opened with, so the file cannot be replaced.

    Written from offset 0, then cut to its length: a line the app appends meanwhile is lost,
    never left before `text` (a truncate first would let a line of now land at the top, and the
    log checks, which read on from the first line inside their window, count the whole file).
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        written = 0
        while written < len(text):
            written += os.pwrite(fd, text[written:], written)
        os.ftruncate(fd, len(text))
    finally:
        os.close(fd)


def remove_lines(path: Path, lines: Iterable[str]) -> None:
    """Remove exactly these lines from `path`, in place (see `rewrite`)."""
    unwanted = set(lines)
    kept = [line for line in path.read_bytes().decode(errors="replace").splitlines() if line not in unwanted]
    rewrite(path, "".join(line + "\n" for line in kept).encode())


@contextmanager
def appended(path: Path, lines: Iterable[str]) -> Iterator[list[str]]:
    """Lines appended to `path` for the block, removed after it."""
    written = append_lines(path, lines)
    try:
        yield written
    finally:
        remove_lines(path, written)


def recent(n: int) -> list[datetime]:
    """`n` times within the last FAULT_SPREAD_S seconds, oldest first."""
    now = datetime.now(UTC)
    return [now - timedelta(seconds=FAULT_SPREAD_S * (n - i) / max(n, 1)) for i in range(n)]


def fault_lines(kind: str, n: int, *, duration_ms: int = 7200, path: str = "/api/v1/agents/run") -> list[str]:
    """`n` lines of one incident kind, timestamped over the last ten minutes."""
    times = recent(n)
    if kind == "errors":
        return [error_line(t) for t in times]
    if kind == "http_5xx":
        return [request_line(t, "/api/v1/users", 503, 35) for t in times]
    if kind == "auth_failures":
        return [auth_failure_line(t) for t in times]
    if kind == "circuit_breaker_open":
        return [circuit_open_line(t) for t in times]
    if kind == "slow_requests":
        return [request_line(t, path, 200, duration_ms) for t in times]
    if kind == "requests":
        return [request_line(t, PATHS[i % len(PATHS)], 200, 20) for i, t in enumerate(times)]
    raise ValueError(f"unknown log fault kind {kind!r}")


def remove_matching(path: Path, text: str) -> None:
    """Remove every line containing `text`, in place (see `rewrite`)."""
    rewrite(path, b"\n".join(line for line in path.read_bytes().split(b"\n") if text.encode() not in line))


class LogFaults:
    """The app log's fault states (part of `sandbox.faults`): lines in `app_log`, removed on exit."""

    def __init__(self, app_log: Path) -> None:
        self.app_log = app_log

    @contextmanager
    def log_lines(self, kind: str, n: int, **options: Any) -> Iterator[list[str]]:
        """`n` lines of `kind` appended to app.log with timestamps in the last minutes, removed after.

        Kinds: errors, http_5xx, auth_failures, circuit_breaker_open, slow_requests (options:
        `duration_ms`, `path`), requests (healthy traffic).
        """
        with appended(self.app_log, fault_lines(kind, n, **options)) as lines:
            yield lines

    @contextmanager
    def config_load_unlogged(self) -> Iterator[None]:
        """The app log without its "Configuration loaded" lines; put back where they were after."""
        original = self.app_log.read_bytes()
        remove_matching(self.app_log, "Configuration loaded")  # as sandbox/app.py logs it at start
        without = self.app_log.read_bytes()
        try:
            yield
        finally:
            rewrite(self.app_log, original + self.app_log.read_bytes()[len(without) :])
