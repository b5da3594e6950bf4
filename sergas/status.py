"""Statuses, limits and what a status means to every consumer: the vocabulary of every check.

`OUTCOMES` is the one table from a status to pytest's outcome, the terminal's letter and word,
the JUnit element and the Nagios exit code. Nothing else maps a status.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sergas.units import Unit, format_quantity


class Status(enum.StrEnum):
    """Nagios-style outcome of one check on one target."""

    OK = "ok"
    SKIPPED = "skipped"
    WAIVED = "waived"
    WARNING = "warning"
    UNKNOWN = "unknown"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Severity order: skipped < ok < waived < warning < unknown < critical."""
        return _RANK[self]

    @classmethod
    def worst(cls, statuses: list[Status]) -> Status:
        return max(statuses, key=lambda s: s.rank, default=cls.OK)


_RANK = {
    Status.SKIPPED: 0,
    Status.OK: 1,
    Status.WAIVED: 2,
    Status.WARNING: 3,
    Status.UNKNOWN: 4,
    Status.CRITICAL: 5,
}


@dataclass(frozen=True)
class Outcome:
    """What one status is to each consumer.

    `pytest`: passed, failed or skipped (the test's outcome); `category`: the terminal summary's
    word for it (`error` for unknown: not a finding about the target); `junit`: the element a
    testcase carries (None: none); `nagios`: the plugin exit code.
    """

    pytest: str
    category: str
    letter: str
    word: str
    colour: str
    junit: str | None
    nagios: int


OUTCOMES: dict[Status, Outcome] = {
    Status.OK: Outcome("passed", "passed", ".", "OK", "green", None, 0),
    Status.WAIVED: Outcome("passed", "waived", "v", "WAIVED", "cyan", None, 0),
    Status.WARNING: Outcome("passed", "warning", "w", "WARNING", "yellow", None, 1),
    Status.CRITICAL: Outcome("failed", "failed", "F", "CRITICAL", "red", "failure", 2),
    Status.UNKNOWN: Outcome("failed", "error", "U", "UNKNOWN", "purple", "error", 3),
    Status.SKIPPED: Outcome("skipped", "skipped", "s", "SKIPPED", "yellow", "skipped", 0),
}
# --fail-on=warning: a warning fails the run as a critical does, and is a <failure> in JUnit.
FAILING_WARNING = Outcome("failed", "warning", "W", "WARNING", "yellow", "failure", 1)


def outcome(status: Status, fail_on: Status = Status.CRITICAL) -> Outcome:
    """The outcome of `status` when `fail_on` (critical or warning) is the lowest failing status."""
    if status is Status.WARNING and fail_on is Status.WARNING:
        return FAILING_WARNING
    return OUTCOMES[status]


class CheckOutcome(Exception):
    """Ends the running check at once with `status` and a one-line message (raised by probes,
    fixtures and checks: `raise unknown("...")`)."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def unknown(message: str) -> CheckOutcome:
    """An exception that ends the current check as unknown with a one-line reason."""
    return CheckOutcome(Status.UNKNOWN, message)


def critical(message: str) -> CheckOutcome:
    """An exception that ends the current check as critical (the finding itself)."""
    return CheckOutcome(Status.CRITICAL, message)


@dataclass(frozen=True)
class Limit:
    """Thresholds of one measurement in its unit. `below=True` fires when the value falls to them."""

    warning: float | None
    critical: float | None
    unit: Unit = Unit.COUNT
    below: bool = False

    def judge(self, value: float) -> tuple[Status, float | None]:
        """The status of `value` and the threshold it reached (None when ok)."""
        for status, threshold in ((Status.CRITICAL, self.critical), (Status.WARNING, self.warning)):
            if threshold is None:
                continue
            if (value <= threshold) if self.below else (value >= threshold):
                return status, threshold
        return Status.OK, None

    def breached(self, value: float) -> bool:
        """Whether `value` reaches the warning or the critical threshold."""
        return self.judge(value)[0] != Status.OK

    @property
    def sign(self) -> str:
        return "<=" if self.below else ">="

    def describe(self) -> str:
        parts = [
            f"{name} {self.sign} {format_quantity(t, self.unit)}"
            for name, t in (("warning", self.warning), ("critical", self.critical))
            if t is not None
        ]
        return ", ".join(parts) or "informational"
