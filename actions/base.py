"""What every remediation action is: an id, a risk, a plan and an apply. No pytest in here.

An action is built by a check with the exact objects it found (tables, keys, files, pids) and
the means to reach them; the `remediation` fixture binds it to its environment and target.
`plan()` says precisely what `apply()` would do, without doing it.
`apply()` uses its own connection (never the check's read-only one), holds a lock per
environment and action while it works, and re-verifies each object under that lock, so a second
run, or a concurrent one, finds nothing left to do.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Self


class Risk(enum.Enum):
    SAFE = "safe"  # applied by --remediate=safe
    DISRUPTIVE = "disruptive"  # applied only when named: --remediate=ID


@dataclass
class Outcome:
    """What apply() did: the steps done, the objects skipped (with why), and an error if any."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    error: str | None = None
    refused: str | None = None  # the target cannot take this action (why); nothing was changed

    @property
    def summary(self) -> str:
        if self.error:
            return f"failed: {self.error}"
        if self.refused:
            return f"refused by the target: {self.refused}"
        if not self.done:
            return "nothing to do" + (f" ({'; '.join(self.skipped)})" if self.skipped else "")
        return f"{len(self.done)} step(s) done" + (f", {len(self.skipped)} skipped" if self.skipped else "")


class ActionError(Exception):
    """An action could not run (lock not taken, target refused); the message is one line."""


class Action(ABC):
    """One remediation, bound to the objects a check found on one target."""

    id: ClassVar[str]
    description: ClassVar[str]
    risk: ClassVar[Risk]
    # Where it acts, set by bind(): the remediation fixture binds every action offered to the
    # environment and the target of the check that offers it.
    environment: str = ""
    target: str = ""

    def bind(self, *, environment: str, target: str) -> Self:
        self.environment = environment
        self.target = target
        return self

    @property
    def lock_name(self) -> str:
        """Two runs on the same environment never apply the same action at once."""
        return f"sergas:{self.environment}:{self.id}"

    @abstractmethod
    def plan(self) -> list[str]:
        """The exact steps apply() would take, each naming its object and where."""

    @abstractmethod
    def apply(self) -> Outcome:
        """Take the lock, re-verify each object, act on those still needing it."""
