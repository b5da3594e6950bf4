"""sergas.status: the one table from a status to every consumer, and limits."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sergas.status import (
    OUTCOMES,
    CheckOutcome,
    Limit,
    Status,
    critical,
    outcome,
    unknown,
)
from sergas.units import Unit


def test_every_status_has_an_outcome() -> None:
    assert set(OUTCOMES) == set(Status)


@pytest.mark.parametrize(
    ("status", "pytest_outcome", "category", "junit", "nagios"),
    [
        (Status.OK, "passed", "passed", None, 0),
        (Status.WAIVED, "passed", "waived", None, 0),
        (Status.WARNING, "passed", "warning", None, 1),
        (Status.CRITICAL, "failed", "failed", "failure", 2),
        (Status.UNKNOWN, "failed", "error", "error", 3),
        (Status.SKIPPED, "skipped", "skipped", "skipped", 0),
    ],
)
def test_outcome_of_each_status(
    status: Status, pytest_outcome: str, category: str, junit: str | None, nagios: int
) -> None:
    shown = outcome(status)
    assert shown is OUTCOMES[status]
    assert (shown.pytest, shown.category, shown.junit, shown.nagios) == (pytest_outcome, category, junit, nagios)
    assert shown.word == status.value.upper()


def test_letters_are_distinct() -> None:
    assert len({o.letter for o in OUTCOMES.values()}) == len(OUTCOMES)


def test_fail_on_warning_fails_a_warning_only() -> None:
    failing = outcome(Status.WARNING, fail_on=Status.WARNING)
    assert (failing.pytest, failing.junit, failing.nagios, failing.word) == ("failed", "failure", 1, "WARNING")
    assert outcome(Status.OK, fail_on=Status.WARNING) is OUTCOMES[Status.OK]
    assert outcome(Status.CRITICAL, fail_on=Status.WARNING) is OUTCOMES[Status.CRITICAL]
    assert outcome(Status.WARNING).pytest == "passed"


def test_severity_order() -> None:
    ordered = sorted(Status, key=lambda s: s.rank)
    assert ordered == [Status.SKIPPED, Status.OK, Status.WAIVED, Status.WARNING, Status.UNKNOWN, Status.CRITICAL]


@pytest.mark.parametrize(
    ("statuses", "worst"),
    [
        ([], Status.OK),
        ([Status.SKIPPED], Status.SKIPPED),
        ([Status.OK, Status.WAIVED], Status.WAIVED),
        ([Status.WARNING, Status.OK, Status.WARNING], Status.WARNING),
        ([Status.UNKNOWN, Status.WARNING], Status.UNKNOWN),
        ([Status.UNKNOWN, Status.CRITICAL, Status.OK], Status.CRITICAL),
    ],
)
def test_worst(statuses: list[Status], worst: Status) -> None:
    assert Status.worst(statuses) is worst


@pytest.mark.parametrize(("make", "status"), [(unknown, Status.UNKNOWN), (critical, Status.CRITICAL)])
def test_raising_an_outcome(make: Callable[[str], CheckOutcome], status: Status) -> None:
    with pytest.raises(CheckOutcome) as raised:
        raise make("db1:5432: cannot connect")
    assert (raised.value.status, raised.value.message, str(raised.value)) == (
        status,
        "db1:5432: cannot connect",
        "db1:5432: cannot connect",
    )


ABOVE = Limit(80, 90, Unit.PERCENT)
BELOW = Limit(20, 10, Unit.PERCENT, below=True)


@pytest.mark.parametrize(
    ("limit", "value", "status", "reached"),
    [
        (ABOVE, 79.9, Status.OK, None),
        (ABOVE, 80, Status.WARNING, 80),
        (ABOVE, 89.99, Status.WARNING, 80),
        (ABOVE, 90, Status.CRITICAL, 90),
        (ABOVE, 150, Status.CRITICAL, 90),
        (BELOW, 20.1, Status.OK, None),
        (BELOW, 20, Status.WARNING, 20),
        (BELOW, 10.5, Status.WARNING, 20),
        (BELOW, 10, Status.CRITICAL, 10),
        (BELOW, -1, Status.CRITICAL, 10),
        (Limit(None, 5), 100, Status.CRITICAL, 5),
        (Limit(3, None), 100, Status.WARNING, 3),
        (Limit(None, None), 1e9, Status.OK, None),
    ],
)
def test_limit_judges(limit: Limit, value: float, status: Status, reached: float | None) -> None:
    assert limit.judge(value) == (status, reached)
    assert limit.breached(value) is (status is not Status.OK)


@pytest.mark.parametrize(
    ("limit", "text"),
    [
        (ABOVE, "warning >= 80%, critical >= 90%"),
        (BELOW, "warning <= 20%, critical <= 10%"),
        (Limit(None, 3600, Unit.SECONDS), "critical >= 1h"),
        (Limit(512 * 1024**2, None, Unit.BYTES), "warning >= 512.0 MiB"),
        (Limit(None, None), "informational"),
    ],
)
def test_limit_describe(limit: Limit, text: str) -> None:
    assert limit.describe() == text
    assert limit.sign == ("<=" if limit.below else ">=")
