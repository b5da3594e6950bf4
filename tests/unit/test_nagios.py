"""sergas.nagios: the plugin line and exit code of a run (Nagios plugin guidelines)."""

from __future__ import annotations

import re

import pytest

from sergas.nagios import MAX_MESSAGE, MAX_PROBLEMS, perf_label, perfdata_of, plugin_result
from sergas.status import Status
from sergas.units import Unit
from tests.unit.builders import TARGET, measurement, record

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
# 'label'=value[UOM];[warn];[crit];[min];[max], the label quoted with '' inside for a quote
PERFDATA_ITEM = re.compile(r"'(?:[^'=]|'')+'=(?:U|-?[0-9.]+(?:%|s|B)?)(?:;[-0-9.:~@]*){0,4}")


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ([Status.OK], OK),
        ([Status.OK, Status.WAIVED], OK),
        ([Status.OK, Status.SKIPPED], OK),
        ([Status.OK, Status.WARNING, Status.WAIVED], WARNING),
        ([Status.WARNING, Status.UNKNOWN], UNKNOWN),
        ([Status.UNKNOWN, Status.CRITICAL], CRITICAL),
        ([Status.WARNING, Status.CRITICAL, Status.UNKNOWN, Status.OK], CRITICAL),
        ([Status.SKIPPED, Status.SKIPPED], UNKNOWN),  # nothing evaluated is not ok
        ([], UNKNOWN),
    ],
)
def test_exit_code_of_each_status_mix(statuses: list[Status], code: int) -> None:
    records = [record(s, target=f"db{i}") for i, s in enumerate(statuses)]
    result = plugin_result(records)
    assert result.code == code
    assert result.line.startswith(f"SERGAS {('OK', 'WARNING', 'CRITICAL', 'UNKNOWN')[code]} - ")
    assert "\n" not in result.line


@pytest.mark.parametrize(("run_status", "code"), [(0, OK), (1, OK), (2, UNKNOWN), (3, UNKNOWN), (4, UNKNOWN)])
def test_an_incomplete_run_is_unknown_unless_critical(run_status: int, code: int) -> None:
    assert plugin_result([record(Status.OK)], run_status).code == code
    assert plugin_result([record(Status.CRITICAL)], run_status).code == CRITICAL
    if code == UNKNOWN:
        assert f"run incomplete (pytest exit status {run_status})" in plugin_result([record()], run_status).line


def test_line_counts_then_problems_worst_first_then_perfdata() -> None:
    records = [
        record(Status.OK, check_id="redis.ping", target="cache1:6379", measurements=[]),
        record(
            Status.WARNING,
            check_id="host.memory",
            target="app1",
            message="app1: memory available = 9% <= warning 10%",
            measurements=[measurement("available", 9.0, warning=10, critical=5, below=True)],
        ),
        record(
            Status.CRITICAL,
            message=f"{TARGET}: connections in use = 92% (184/200) >= critical 90%",
            measurements=[measurement("used", 92.0, warning=80, critical=90)],
        ),
    ]
    line = plugin_result(records).line
    assert line == (
        "SERGAS CRITICAL - 1 critical, 1 warning, 1 ok: "
        f"postgres.connections {TARGET}: connections in use = 92% (184/200) >= critical 90%; "
        "host.memory app1: memory available = 9% <= warning 10%"
        " | 'postgres.connections.used'=92%;80;90 'host.memory.available'=9%;10:;5:"
    )


def test_messages_are_one_line_shortened_and_name_their_target() -> None:
    long = record(Status.CRITICAL, target="db1", message="no target first |\nthen " + "x" * 300, measurements=[])
    line = plugin_result([long]).line
    assert line.startswith("SERGAS CRITICAL - 1 critical: postgres.connections db1: no target first / then xxx")
    problem = line.split(": ", 1)[1]
    assert len(problem) == len("postgres.connections ") + MAX_MESSAGE and problem.endswith("...")
    assert "|" not in line, "a | would start the perfdata"


def test_many_problems_are_counted_not_listed() -> None:
    records = [record(Status.UNKNOWN, target=f"db{i}", measurements=[]) for i in range(MAX_PROBLEMS + 3)]
    line = plugin_result(records).line
    assert line.endswith("; and 3 more")
    assert line.count("postgres.connections db") == MAX_PROBLEMS


@pytest.mark.parametrize(
    ("unit", "value", "expected"),
    [
        (Unit.PERCENT, 92.5, "92.5%"),
        (Unit.SECONDS, 0.00013, "0.00013s"),
        (Unit.BYTES, 3 * 2**30, "3221225472B"),
        (Unit.COUNT, 184.0, "184"),
        (Unit.PER_SECOND, 0.05, "0.05"),
        (Unit.COUNT, 1e21, "1000000000000000000000"),
        (Unit.SECONDS, None, "U"),
        (Unit.COUNT, -0.0, "0"),
    ],
)
def test_perfdata_units_and_numbers(unit: Unit, value: float | None, expected: str) -> None:
    assert perfdata_of([record(measurements=[measurement("v", value, unit)])]) == (
        f"'postgres.connections.v'={expected}"
    )


def test_perfdata_thresholds_as_ranges() -> None:
    above = measurement("used", 50.0, warning=80, critical=90.5)
    below = measurement("available", 50.0, warning=10, critical=5, below=True)
    only_critical = measurement("errors", 0.0, Unit.COUNT, critical=1)
    items = perfdata_of([record(measurements=[above, below, only_critical])]).split(" ")
    assert items == [
        "'postgres.connections.used'=50%;80;90.5",
        "'postgres.connections.available'=50%;10:;5:",
        "'postgres.connections.errors'=0;;1",
    ]
    assert all(PERFDATA_ITEM.fullmatch(item) for item in items), items


def test_perfdata_labels_unique_and_quoted() -> None:
    mounts = [measurement("blocks", 10.0, labels={"mount": m}) for m in ("/", "/var")]
    records = [
        record(check_id="host.disk_space", target="app1", measurements=mounts),
        record(check_id="host.disk_space", target="app2", measurements=mounts[:1]),
        record(check_id="logs.auth_failures", target="it's=odd", measurements=[measurement("failures", 2.0)]),
    ]
    items = perfdata_of(records).split(" ")
    assert [item.split("=", 1)[0] for item in items[:3]] == [
        "'host.disk_space.blocks[app1,mount:/]'",
        "'host.disk_space.blocks[app1,mount:/var]'",
        "'host.disk_space.blocks[app2,mount:/]'",
    ]
    assert items[3] == "'logs.auth_failures.failures'=2%", "one target: no target in the label"
    quoted = perf_label(records[2], records[2].measurements[0], with_target=True)
    assert quoted == "logs.auth_failures.failures[it''s:odd]", "no = in a label, a quote doubled"
    assert PERFDATA_ITEM.fullmatch(f"'{quoted}'=1")
