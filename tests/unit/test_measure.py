"""fixtures/measure.py's pure logic: effective limits, findings, verdicts, waivers, messages."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from fixtures.measure import CheckRun, CheckSpec, check
from sergas.config import Environment, Secrets, parse
from sergas.status import Limit, Status, critical, unknown
from sergas.units import Unit, UnitError

SPEC = CheckSpec(
    "redis.memory",
    "Redis memory",
    {
        "used": Limit(80, 90, Unit.PERCENT),
        "fragmentation": Limit(1.5, 3.0),
        "free": Limit(20, 10, Unit.PERCENT, below=True),
    },
)
TODAY = dt.date(2024, 5, 1)


def environment(**sections: Any) -> Environment:
    return parse({"name": "t", **sections}, Path("t.toml"), Secrets(), environ={})


def run(target: str = "127.0.0.1:6379", secrets: Secrets | None = None, **sections: Any) -> CheckRun:
    return CheckRun(SPEC, environment(**sections), secrets or Secrets(), target=target)


def waiver(expires: dt.date, target: str | None = None, check_id: str = "redis.memory") -> dict[str, Any]:
    return {"check": check_id, "reason": "migration", "expires": expires.isoformat(), "target": target}


def test_override_keys() -> None:
    assert SPEC.override_keys("used") == ["redis.memory.used", "redis.memory"]
    assert SPEC.override_keys("fragmentation") == ["redis.memory.fragmentation"]


@pytest.mark.parametrize(
    ("thresholds", "name", "limit"),
    [
        ({}, "used", Limit(80, 90, Unit.PERCENT)),
        ({"redis.memory": {"warning": "70%", "critical": 85}}, "used", Limit(70, 85, Unit.PERCENT)),
        ({"redis.memory": {"critical": "95%"}}, "used", Limit(80, 95, Unit.PERCENT)),
        ({"redis.memory": {"warning": 70}, "redis.memory.used": {"warning": 60}}, "used", Limit(60, 90, Unit.PERCENT)),
        ({"redis.memory": {"warning": 2}}, "fragmentation", Limit(1.5, 3.0)),
        ({"redis.memory.fragmentation": {"warning": 2}}, "fragmentation", Limit(2, 3.0)),
        ({"redis.memory.free": {"critical": "5%"}}, "free", Limit(20, 5, Unit.PERCENT, below=True)),
    ],
    ids=["default", "primary", "primary-critical", "specific-wins", "primary-only-first", "named", "below-kept"],
)
def test_effective_limit(thresholds: dict[str, Any], name: str, limit: Limit) -> None:
    assert SPEC.effective_limit(name, environment(thresholds=thresholds)) == limit


@pytest.mark.parametrize(
    ("key", "written", "name", "message"),
    [
        (
            "redis.memory",
            "5m",
            "used",
            """[thresholds."redis.memory"]: '5m' is a duration, but a percentage is expected """
            """(examples: 80 or "80%"): redis.memory.used is a percentage""",
        ),
        (
            "redis.memory.fragmentation",
            "5%",
            "fragmentation",
            """[thresholds."redis.memory.fragmentation"]: '5%' is a percentage, but a plain number is expected """
            "(examples: 10): redis.memory.fragmentation is a plain number",
        ),
    ],
)
def test_misfit_override_names_its_key(key: str, written: str, name: str, message: str) -> None:
    env = environment(thresholds={key: {"warning": written}})
    with pytest.raises(UnitError) as raised:
        SPEC.effective_limit(name, env)
    assert str(raised.value) == message


def test_check_refuses_a_limit_that_is_not_a_measurement_name() -> None:
    with pytest.raises(ValueError, match=r"^redis.memory: limit name 'Used' is not a measurement name"):
        check("redis.memory", "Redis memory", Used=Limit(80, 90))


def test_measure_judges_against_the_effective_limit() -> None:
    checked = run(thresholds={"redis.memory": {"warning": "70%"}})
    assert checked.measure("used", 75.5, label="used memory", detail="of 4 GiB", labels={"db": 0}) is Status.WARNING
    assert checked.findings == [(Status.WARNING, "used memory = 75.5% (of 4 GiB) >= warning 70%")]
    [m] = checked.measurements
    assert (m.name, m.label, m.value, m.unit, m.warning, m.critical, m.status, m.labels) == (
        "used",
        "used memory",
        75.5,
        Unit.PERCENT,
        70.0,
        90.0,
        Status.WARNING,
        {"db": 0},
    )


@pytest.mark.parametrize(
    ("name", "value", "status", "finding"),
    [
        ("used", 50, Status.OK, "used = 50%"),
        ("used", 92.5, Status.CRITICAL, "used = 92.5% >= critical 90%"),
        ("free", 15, Status.WARNING, "free = 15% <= warning 20%"),
        ("fragmentation", 3.25, Status.CRITICAL, "fragmentation = 3.25 >= critical 3"),
        ("used", None, Status.UNKNOWN, "used: no data"),
    ],
)
def test_measure_findings(name: str, value: float | None, status: Status, finding: str) -> None:
    checked = run()
    assert checked.measure(name, value) is status
    assert checked.findings == [(status, finding)]
    assert checked.measurements[0].value == value and checked.measurements[0].status is status


def test_record_is_informational() -> None:
    checked = run()
    checked.record("evicted_keys", 12, labels={"db": "0"})
    [m] = checked.measurements
    assert (m.label, m.value, m.unit, m.warning, m.critical, m.status) == (
        "evicted keys",
        12,
        Unit.COUNT,
        None,
        None,
        Status.OK,
    )
    assert checked.findings == [] and checked.status is Status.OK


def test_judged_records_a_status_the_check_made() -> None:
    checked = run()
    checked.judged("fragmentation", 2.0, Status.CRITICAL, label="fragmentation ratio", context={"pid": 4711})
    [m] = checked.measurements
    assert (m.status, m.warning, m.critical, m.context) == (Status.CRITICAL, 1.5, 3.0, {"pid": 4711})
    assert checked.findings == []


def test_message_starts_with_the_target_and_lists_the_worst_findings() -> None:
    checked = run(target="127.0.0.1:6379")
    assert checked.message == "127.0.0.1:6379: no findings"
    checked.ok("reachable")
    checked.measure("used", 95)
    checked.warning("fragmentation rising")
    checked.critical("evictions seen")
    assert checked.status is Status.CRITICAL
    assert checked.message == "127.0.0.1:6379: used = 95% >= critical 90%; evictions seen"


def test_message_masks_secrets() -> None:
    secrets = Secrets()
    secrets.add("hunter22")
    checked = run(secrets=secrets)
    checked.critical("AUTH hunter22 refused by redis://:hunter22@127.0.0.1:6379")
    assert checked.message == "127.0.0.1:6379: AUTH *** refused by redis://:***@127.0.0.1:6379"


def test_attach_masks_and_limits_evidence() -> None:
    secrets = Secrets()
    secrets.add("hunter22")
    checked = run(secrets=secrets)
    checked.attach("INFO", "requirepass hunter22\n" + "x" * 30000)
    [evidence] = checked.evidence
    assert (
        evidence.title == "INFO" and evidence.content.startswith("requirepass ***\n") and len(evidence.content) == 20000
    )


@pytest.mark.parametrize(
    ("exc", "status", "finding"),
    [
        (critical("127.0.0.1:6379: maxmemory is 0"), Status.CRITICAL, "maxmemory is 0"),
        (
            unknown("cannot connect to redis://127.0.0.1:6379/0: connection refused"),
            Status.UNKNOWN,
            "cannot connect to redis://127.0.0.1:6379/0: connection refused",
        ),
        (AssertionError("assert 3 == 0\n  where 3 = len(...)"), Status.CRITICAL, "assert 3 == 0"),
        (AssertionError(), Status.CRITICAL, "assertion failed"),
        (KeyError("used_memory"), Status.UNKNOWN, "could not evaluate: KeyError: 'used_memory'"),
        (
            ConnectionResetError("reset by peer\nmore"),
            Status.UNKNOWN,
            "could not evaluate: ConnectionResetError: reset by peer",
        ),
    ],
    ids=["critical", "unknown", "assertion", "bare-assertion", "key-error", "os-error"],
)
def test_ended_replaces_the_findings(exc: BaseException, status: Status, finding: str) -> None:
    checked = run()
    checked.measure("used", 50)
    checked.warning("earlier finding")
    checked.ended(exc)
    assert checked.findings == [(status, finding)]
    assert checked.status is status
    assert checked.message == f"127.0.0.1:6379: {finding}"


def test_ended_cuts_a_long_message_to_one_line() -> None:
    checked = run()
    checked.ended(RuntimeError("x" * 500))
    [(_, finding)] = checked.findings
    assert finding == "could not evaluate: RuntimeError: " + "x" * 300


def critical_run(*waivers: dict[str, Any]) -> CheckRun:
    checked = run(waivers=list(waivers))
    checked.measure("used", 50)
    checked.measure("used", 95)
    checked.measure("fragmentation", 2)
    return checked


@pytest.mark.parametrize("expires", [dt.date(2024, 6, 30), TODAY], ids=["future", "today"])
@pytest.mark.parametrize("target", [None, "127.0.0.1:6379"], ids=["any-target", "this-target"])
def test_active_waiver_waives(expires: dt.date, target: str | None) -> None:
    checked = critical_run(waiver(expires, target))
    checked.apply_waivers(TODAY)
    assert checked.status is Status.WAIVED
    assert [s for s, _ in checked.findings] == [Status.OK, Status.WAIVED, Status.WAIVED, Status.WAIVED]
    assert checked.message == (
        "127.0.0.1:6379: used = 95% >= critical 90%; fragmentation = 2 >= warning 1.5; "
        f"waived until {expires}: migration"
    )


@pytest.mark.parametrize(
    "other",
    [waiver(dt.date(2024, 6, 30), target="10.0.0.9:6379"), waiver(dt.date(2024, 6, 30), check_id="redis.clients")],
    ids=["other-target", "other-check"],
)
def test_waiver_of_something_else_does_not_apply(other: dict[str, Any]) -> None:
    checked = critical_run(other)
    checked.apply_waivers(TODAY)
    assert checked.status is Status.CRITICAL
    assert checked.message == "127.0.0.1:6379: used = 95% >= critical 90%"


def test_expired_waiver_is_stated() -> None:
    checked = critical_run(waiver(dt.date(2024, 4, 30)))
    checked.apply_waivers(TODAY)
    assert checked.status is Status.CRITICAL
    assert checked.message == "127.0.0.1:6379: used = 95% >= critical 90%; waiver expired 2024-04-30: migration"


def test_unknown_is_never_waived() -> None:
    checked = run(waivers=[waiver(dt.date(2024, 6, 30))])
    checked.measure("used", None)
    checked.apply_waivers(TODAY)
    assert checked.status is Status.UNKNOWN
    assert checked.findings == [(Status.UNKNOWN, "used: no data")]


def test_waiver_leaves_an_unknown_finding_unknown() -> None:
    checked = run(waivers=[waiver(dt.date(2024, 6, 30))])
    checked.measure("used", 95)
    checked.measure("fragmentation", None)
    checked.apply_waivers(TODAY)
    assert checked.status is Status.UNKNOWN
    assert checked.message == "127.0.0.1:6379: fragmentation: no data"
