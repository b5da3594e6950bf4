"""Benchmark: the TTL audit of redis.sessions_without_ttl (probes.redis.keys_without_ttl) over
1,000,000 keys, its ways side by side, beside the manual's weekly pipeline
`redis-cli --scan --pattern "session:*" | xargs -L 1 redis-cli ttl` over a 10,000-key sample
of the same data (one redis-cli process per key: running it over a million keys takes hours).

The ways, all redis-py's public API:
  pipeline   SCAN page (COUNT 1000), then one pipeline(transaction=False) of TTL per page;
  EVAL_RO    one read-only script per page: SCAN + TTL of each key in the server, returning
             the next cursor and only the keys with TTL -1 (COUNT 250, the probe's default, 1000 and 5000).
A script blocks the server while it runs: each call's server time (SLOWLOG, microseconds) is
reported, as is CPU of the client and of redis-server.

A private redis-server is started on a free port and loaded with 1,000,000 session keys
(pipelined, `redis-cli --pipe`), 1% of them without TTL. Run:

    .venv/bin/python bench/redis_ttl_audit.py

Prints a Markdown table for BENCHMARKS.md. Goal: the audit at least 100,000 keys/s.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from probes.redis import TtlAudit, connect_redis, keys_without_ttl  # noqa: E402
from sandbox.ports import free_port  # noqa: E402
from sandbox.processes import spawn, terminate, wait_until  # noqa: E402

KEYS = int(os.environ.get("BENCH_KEYS", "1000000"))
SAMPLE = int(os.environ.get("BENCH_SAMPLE", "10000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
NO_TTL_EVERY = 100  # 1% of the sessions never expire
GOAL = 100_000


def session_key(i: int) -> bytes:
    return b"session:user:%d:%016x" % (i % 4999, i * 2654435761 % (1 << 64))


def load(port: int) -> float:
    """SET every key (EX 3600 but for 1%), pipelined through `redis-cli --pipe`; seconds taken."""
    chunks = []
    for i in range(KEYS):
        key = session_key(i)
        value = b'{"user_id": %d}' % (i % 4999)
        if i % NO_TTL_EVERY == 0:
            chunks.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value))
        else:
            chunks.append(
                b"*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$2\r\nEX\r\n$4\r\n3600\r\n"
                % (len(key), key, len(value), value)
            )
    started = time.perf_counter()
    done = subprocess.run(
        ["redis-cli", "-p", str(port), "--pipe"], input=b"".join(chunks), capture_output=True, check=True
    )
    if b"errors: 0" not in done.stdout:
        raise RuntimeError(done.stdout.decode()[-300:])
    return time.perf_counter() - started


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def manual_pipeline(port: int) -> tuple[float, list[str]]:
    """The manual's `--scan | xargs -L 1 redis-cli ttl`, over the first SAMPLE keys the scan gives."""
    cli = f"redis-cli -p {port}"
    command = f'{cli} --scan --pattern "session:*" | head -n {SAMPLE} | xargs -L 1 {cli} ttl'
    started = time.perf_counter()
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    return seconds, done.stdout.split()


@dataclass
class Way:
    """One way of running the audit, and what its runs measured."""

    name: str
    server_side: bool
    count: int
    audits: list[TtlAudit] = field(default_factory=list)
    cpu: list[tuple[float, float]] = field(default_factory=list)  # (client, redis-server) seconds
    calls: int = 0  # script calls, all runs
    usec: int = 0  # server time in them (INFO commandstats)
    slowest_us: int = 0  # the slowest one (SLOWLOG)
    over_1ms: int = 0

    @property
    def median(self) -> TtlAudit:
        return sorted(self.audits, key=lambda a: a.seconds)[len(self.audits) // 2]


WAYS = [
    Way("pipeline: SCAN COUNT 1000, then `pipeline(transaction=False)` of TTL", False, 1000),
    Way("EVAL_RO per SCAN page (SCAN + TTL in the server), COUNT 250 (the probe's default)", True, 250),
    Way("EVAL_RO per SCAN page (SCAN + TTL in the server), COUNT 1000", True, 1000),
    Way("EVAL_RO per SCAN page (SCAN + TTL in the server), COUNT 5000", True, 5000),
]


def eval_usec(admin: redis.Redis) -> tuple[int, int]:
    """(calls, microseconds) the server spent in EVAL_RO and EVAL, inner commands included."""
    stats = admin.info("commandstats")
    entries = [stats.get(f"cmdstat_{name}", {}) for name in ("eval_ro", "eval")]
    return sum(int(e.get("calls", 0)) for e in entries), sum(int(e.get("usec", 0)) for e in entries)


def run_way(way: Way, client: redis.Redis, admin: redis.Redis, server_pid: int) -> None:
    """One audit. A script's calls are timed by the server: the mean from INFO commandstats, the
    slowest from SLOWLOG (at 100 us, so the TTLs inside the script, logged too, stay out)."""
    admin.config_set("slowlog-log-slower-than", 100 if way.server_side else 10000)
    admin.config_set("slowlog-max-len", 10000)
    admin.slowlog_reset()
    before = os.times().user + os.times().system, process_cpu(server_pid), eval_usec(admin)
    audit = keys_without_ttl(client, "session:*", count=way.count, server_side=way.server_side)
    way.cpu.append((os.times().user + os.times().system - before[0], process_cpu(server_pid) - before[1]))
    way.audits.append(audit)
    if way.server_side:
        calls, usec = (after - at for after, at in zip(eval_usec(admin), before[2], strict=True))
        assert calls == audit.calls, (calls, audit.calls)
        way.usec += usec
        way.calls += calls
        slow = [e for e in admin.slowlog_get(10000) if bytes(e["command"]).upper().startswith(b"EVAL")]
        way.slowest_us = max([way.slowest_us, *(int(e["duration"]) for e in slow)])
        way.over_1ms += sum(int(e["duration"]) > 1000 for e in slow)
    admin.config_set("slowlog-log-slower-than", 10000)


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="redis-ttl-bench-"))
    port = free_port()
    server = spawn(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root),
        ],
        root / "redis.log",
        cwd=root,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        log = root / "redis.log"
        wait_until(lambda: bool(connect_redis(url, 1)), 10, f"Redis on {url}", log_path=log, process=server)
        client = connect_redis(url, timeout=30)  # the suite's own client, as the check gets it
        admin = connect_redis(url, timeout=30)  # SLOWLOG on its own connection
        load_s = load(port)
        assert client.dbsize() == KEYS
        version = str(client.info("server")["redis_version"])
        for _ in range(REPEAT):  # rounds interleaved: a load spike on the machine hits every way
            for way in WAYS:
                run_way(way, client, admin, server.pid)
        for way in WAYS:
            for audit in way.audits:
                assert audit.scanned == KEYS, (way.name, audit.scanned)
                assert len(audit.without_ttl) == KEYS // NO_TTL_EVERY, (way.name, len(audit.without_ttl))
            assert way.median.without_ttl == WAYS[0].median.without_ttl
        manual_s, ttls = manual_pipeline(port)
        assert len(ttls) == SAMPLE, len(ttls)
        # What the manual's awk step would hand to `redis-cli del`: the line after a -1, a TTL value.
        awk = subprocess.run(
            ["awk", "$1 == -1 {print prev} {prev=$1}"],
            input="\n".join(ttls) + "\n",
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    finally:
        terminate(server)
        shutil.rmtree(root, ignore_errors=True)

    manual_rate = SAMPLE / manual_s
    print(
        f"redis-server {version}, redis-py {redis.__version__}. Loaded {KEYS:,} keys"
        f" (1 in {NO_TTL_EVERY} without TTL) with redis-cli --pipe in {load_s:.1f} s.\n"
    )
    print(
        f"| method (median of {REPEAT}) | keys | calls | seconds | keys/s | CPU client + server (s)"
        " | server time per call | vs the manual |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for way in WAYS:
        audit = way.median
        client_cpu = statistics.mean(c for c, _ in way.cpu)
        server_cpu = statistics.mean(s for _, s in way.cpu)
        per_call = "n/a (no script)"
        if way.calls:
            per_call = (
                f"mean {way.usec / way.calls / 1000:.2f} ms, max {way.slowest_us / 1000:.2f} ms,"
                f" {100 * way.over_1ms / way.calls:.0f}% > 1 ms"
            )
        print(
            f"| {way.name} | {audit.scanned:,} | {audit.calls:,} | {audit.seconds:.2f} |"
            f" {audit.keys_per_second:,.0f} | {client_cpu:.2f} + {server_cpu:.2f} | {per_call} |"
            f" {audit.keys_per_second / manual_rate:,.0f}x |"
        )
    print(
        f"| manual `--scan \\| xargs -L 1 redis-cli ttl` | {SAMPLE:,} | {SAMPLE + 1:,} processes | {manual_s:.2f} |"
        f" {manual_rate:,.0f} | | | 1x |"
    )
    print()
    for way in WAYS:
        rates = ", ".join(f"{a.keys_per_second:,.0f}" for a in way.audits)
        met = "met" if way.median.keys_per_second >= GOAL else "NOT met"
        print(f"- {way.name} [{way.median.method}]: runs {rates} keys/s; goal {GOAL:,}: {met}.")
    print(f"\nKeys without TTL found by every run: {KEYS // NO_TTL_EVERY:,} (the same names by every way).")
    print(
        f"In the sample the manual's awk step prints {len(awk)} names for `del`, e.g. {sorted(set(awk))[:3]}:"
        " TTL values, not keys."
    )
    print(f"Machine load average at the end: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs).")


if __name__ == "__main__":
    main()
