"""What the Redis checks read: INFO sections, parsed by redis-py."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis as redis_py


def ping_latency(client: redis_py.Redis) -> float:
    """Seconds for one PING round trip."""
    started = time.perf_counter()
    client.ping()
    return time.perf_counter() - started


@dataclass(frozen=True)
class MemoryUsage:
    used: int
    rss: int
    maxmemory: int
    policy: str

    @property
    def used_pct(self) -> float | None:
        """Share of maxmemory in use; None when maxmemory is 0 (no limit)."""
        return 100.0 * self.used / self.maxmemory if self.maxmemory else None


def memory_usage(client: redis_py.Redis) -> MemoryUsage:
    info = client.info("memory")
    return MemoryUsage(
        used=int(info["used_memory"]),
        rss=int(info["used_memory_rss"]),
        maxmemory=int(info.get("maxmemory", 0)),
        policy=str(info.get("maxmemory_policy", "")),
    )
