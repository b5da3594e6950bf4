"""sergas.junit: junit.xml as CI systems read it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from junitparser import Error, Failure, JUnitXml, Properties, Skipped, TestCase

from sergas.junit import junit_xml, measurement_key
from sergas.junit import testcase_name as case_name  # imported as test_*, pytest would collect it
from sergas.status import Status
from sergas.units import Unit
from tests.unit.builders import TARGET, measurement, one_per_status, record, summary


def suite_of(document: bytes) -> ET.Element:
    root = ET.fromstring(document)
    assert root.tag == "testsuites"  # as pytest writes it: one <testsuite> inside
    [suite] = root.findall("testsuite")
    return suite


def cases_by_status(document: bytes) -> dict[str, ET.Element]:
    cases = {}
    for case in suite_of(document).iter("testcase"):
        [status] = [p.get("value") for p in case.iter("property") if p.get("name") == "status"]
        assert status is not None
        cases[status] = case
    return cases


def test_testcase_name_and_measurement_key() -> None:
    assert case_name(record()) == "postgres.connections[127.0.0.1:5432/sergas]"
    assert measurement_key(measurement("used")) == "used"
    assert (
        measurement_key(measurement("blocks", labels={"mount": "/", "dev": "sda1"})) == 'blocks{dev="sda1",mount="/"}'
    )


def test_suite_attributes() -> None:
    document = junit_xml(summary(one_per_status()))
    assert document.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    suite = suite_of(document)
    assert dict(suite.attrib) == {
        "name": "sergas prod",
        "tests": "6",
        "failures": "1",
        "errors": "1",
        "skipped": "1",
        "time": "12.500",
        "timestamp": "2024-05-01T06:00:00+00:00",
    }
    suite_properties = suite.find("properties")
    assert suite_properties is not None
    assert [(p.get("name"), p.get("value")) for p in suite_properties] == [
        ("environment", "prod"),
        ("run_id", "20240501T060000Z"),
    ]


@pytest.mark.parametrize(
    ("status", "element"),
    [
        (Status.OK, None),
        (Status.WAIVED, None),
        (Status.WARNING, None),
        (Status.CRITICAL, "failure"),
        (Status.UNKNOWN, "error"),
        (Status.SKIPPED, "skipped"),
    ],
)
def test_each_status_has_its_element(status: Status, element: str | None) -> None:
    case = cases_by_status(junit_xml(summary(one_per_status())))[status.value]
    target = TARGET if status is Status.OK else f"127.0.0.1:5432/{status.value}"
    assert case.attrib == {"classname": "daily", "name": f"postgres.connections[{target}]", "time": "0.250"}
    results = [child for child in case if child.tag != "properties"]
    if element is None:
        assert results == []
    else:
        [result] = results
        assert (result.tag, result.get("message"), result.text) == (
            element,
            f"{target}: {status.value}",
            f"{target}: {status.value}",
        )
    properties = [(p.get("name"), p.get("value")) for p in case.iter("property")]
    assert properties == [
        ("status", status.value),
        ("check", "postgres.connections"),
        ("target", target),
        ("measurement.used", "42"),
    ]


def test_fail_on_warning_makes_a_warning_a_failure() -> None:
    document = junit_xml(summary(one_per_status()), fail_on=Status.WARNING)
    assert suite_of(document).get("failures") == "2"
    assert cases_by_status(document)["warning"].find("failure") is not None


def test_section_less_check_is_classed_checks_and_measurements_are_keyed() -> None:
    measurements = [
        measurement("blocks", 1024.0, Unit.BYTES, labels={"mount": "/"}),
        measurement("lag", None, Unit.SECONDS),
        measurement("ratio", 0.125, Unit.COUNT),
    ]
    document = junit_xml(summary([record(section="", measurements=measurements)]))
    [case] = suite_of(document).iter("testcase")
    assert case.get("classname") == "checks"
    values = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert {k: v for k, v in values.items() if k and k.startswith("measurement.")} == {
        'measurement.blocks{mount="/"}': "1024",
        "measurement.lag": "",
        "measurement.ratio": "0.125",
    }


def test_measurement_values_keep_their_digits() -> None:
    # A CI trend of a table's size or a row count must read back the value measured, not 5.36871e+08.
    document = junit_xml(summary([record(measurements=[measurement("size", 536870912.0, Unit.BYTES)])]))
    [value] = [p.get("value") for p in suite_of(document).iter("property") if p.get("name") == "measurement.size"]
    assert value is not None and float(value) == 536870912.0


def test_messages_are_escaped() -> None:
    message = 'db1: used = 95% >= critical 90% <&> "quoted"'
    document = junit_xml(summary([record(Status.CRITICAL, message=message)]))
    failure = suite_of(document).find("testcase/failure")
    assert failure is not None and failure.get("message") == failure.text == message


def test_junitparser_reads_it() -> None:
    xml = JUnitXml.fromstring(junit_xml(summary(one_per_status())))
    [suite] = list(xml)
    assert (suite.name, suite.tests, suite.failures, suite.errors, suite.skipped) == ("sergas prod", 6, 1, 1, 1)
    cases: dict[str, TestCase] = {case.name: case for case in suite}
    case = cases["postgres.connections[127.0.0.1:5432/sergas]"]
    assert case.classname == "daily" and case.time == 0.25 and case.is_passed
    # junitparser 5 has no TestCase.properties(): read the <properties> child.
    properties = case.child(Properties)  # type: ignore[no-untyped-call]
    assert {p.name: p.value for p in properties}["status"] == "ok"
    results = {name: type(c.result[0]) for name, c in cases.items() if c.result}
    assert results == {
        "postgres.connections[127.0.0.1:5432/critical]": Failure,
        "postgres.connections[127.0.0.1:5432/unknown]": Error,
        "postgres.connections[127.0.0.1:5432/skipped]": Skipped,
    }
    assert cases["postgres.connections[127.0.0.1:5432/unknown]"].result[0].message == "127.0.0.1:5432/unknown: unknown"
