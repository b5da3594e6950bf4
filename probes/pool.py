"""How many PostgreSQL connections the app may open: every process holds its own SQLAlchemy
pool of `pool_size` connections, growing by up to `max_overflow` under load.

The app's maximum is instances x workers x (pool_size + max_overflow), summed over the app
hosts: each runs `[app] replicas` instances (Compose; one otherwise) of `[app] workers`
processes. Kubernetes has no app hosts: `[app] replicas` pods in all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

POOL_SIZE = "DATABASE_POOL_SIZE"
MAX_OVERFLOW = "DATABASE_MAX_OVERFLOW"
# SQLAlchemy's create_engine defaults, what the app runs with when its .env sets neither.
DEFAULTS = {POOL_SIZE: 5, MAX_OVERFLOW: 10}


@dataclass(frozen=True)
class Figure:
    """A pool figure and where it came from: `[app] pool_size`, `.env`, `SQLAlchemy default`."""

    value: int
    source: str


@dataclass(frozen=True)
class Pool:
    """One process's pool."""

    size: Figure
    overflow: Figure

    @property
    def most(self) -> int:
        return self.size.value + self.overflow.value

    def describe(self) -> str:
        return f"pool {self.size.value} ({self.size.source}) + overflow {self.overflow.value} ({self.overflow.source})"


def pool_of(configured: Mapping[str, int | None], from_file: Mapping[str, int] | None) -> Pool:
    """The pool of one process: each figure from the environment file when it gives it
    (`configured`, by variable name), else the app's .env (`from_file`, the keys it sets; None:
    not read), else SQLAlchemy's default."""

    def figure(name: str, key: str) -> Figure:
        given = configured.get(name)
        if given is not None:
            return Figure(given, f"[app] {key}")
        if from_file is not None and name in from_file:
            return Figure(from_file[name], ".env")
        return Figure(DEFAULTS[name], "SQLAlchemy default" if from_file is not None else "default, no .env read")

    return Pool(figure(POOL_SIZE, "pool_size"), figure(MAX_OVERFLOW, "max_overflow"))


def capacity(pools: Mapping[str, Pool], instances: int, workers: int) -> tuple[int, list[str]]:
    """The app's maximum connections, and how it adds up (one line per place): each place of
    `pools` (an app host, or the Deployment) runs `instances` instances of `workers` processes."""
    each = {where: instances * workers * pool.most for where, pool in pools.items()}
    lines = [
        f"{where}: {instances} instance(s) x {workers} worker(s) x {pool.describe()} = {each[where]}"
        for where, pool in pools.items()
    ]
    return sum(each.values()), lines
