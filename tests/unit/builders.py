"""Records and summaries for the unit tests: one place that knows their required fields."""

from __future__ import annotations

import datetime as dt

from sergas.record import CheckRecord, Measurement, RunSummary
from sergas.status import Status
from sergas.units import Unit

T0 = dt.datetime(2024, 5, 1, 6, 0, 0, tzinfo=dt.UTC)
TARGET = "127.0.0.1:5432/sergas"


def measurement(name: str = "used", value: float | None = 42.0, unit: Unit = Unit.PERCENT, **kw: object) -> Measurement:
    return Measurement.model_validate(
        {"name": name, "label": name.replace("_", " "), "value": value, "unit": unit, **kw}
    )


def record(
    status: Status = Status.OK,
    *,
    check_id: str = "postgres.connections",
    target: str = TARGET,
    section: str = "daily",
    measurements: list[Measurement] | None = None,
    message: str | None = None,
) -> CheckRecord:
    return CheckRecord(
        id=check_id,
        title="Connections in use",
        section=section,
        markers=[section, "postgres"] if section else ["postgres"],
        nodeid=f"checks/test_{check_id.replace('.', '_')}.py::test_it[{target}]",
        target=target,
        status=status,
        message=f"{target}: {status.value}" if message is None else message,
        duration_s=0.25,
        measurements=[measurement()] if measurements is None else measurements,
    )


def summary(checks: list[CheckRecord], *, run_id: str = "20240501T060000Z", environment: str = "prod") -> RunSummary:
    return RunSummary.of(
        run_id=run_id,
        environment=environment,
        started=T0,
        finished=T0 + dt.timedelta(seconds=12.5),
        exit_status=2,
        checks=checks,
    )


def one_per_status() -> list[CheckRecord]:
    """One record per status, each on its own target (`<addr>/<status>`), the ok one on TARGET."""
    return [record(s, target=TARGET if s is Status.OK else f"127.0.0.1:5432/{s.value}") for s in Status]
