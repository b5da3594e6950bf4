"""junit.xml as CI systems read it: one testcase per check and target.

A testcase is named `<check id>[<target>]` with the manual section as its classname, carries
its status, check id, target and measurements as `<property>` elements, and holds the element
`sergas.status.OUTCOMES` names for its status: critical is a `<failure>`, unknown an `<error>`
(could not be evaluated: not a finding about the target), skipped `<skipped>`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sergas.record import CheckRecord, Measurement, RunSummary
from sergas.status import Status, outcome


def testcase_name(record: CheckRecord) -> str:
    return f"{record.id}[{record.target}]"


def measurement_key(measurement: Measurement) -> str:
    """`used`, or `blocks{mount="/"}` for one of several objects of a target."""
    if not measurement.labels:
        return measurement.name
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(measurement.labels.items()))
    return f"{measurement.name}{{{labels}}}"


def junit_xml(summary: RunSummary, fail_on: Status = Status.CRITICAL) -> bytes:
    """The whole document for one run."""
    elements = {record.nodeid: outcome(record.status, fail_on).junit for record in summary.checks}
    suite = ET.Element(
        "testsuite",
        name=f"sergas {summary.environment}",
        tests=str(len(summary.checks)),
        failures=str(sum(e == "failure" for e in elements.values())),
        errors=str(sum(e == "error" for e in elements.values())),
        skipped=str(sum(e == "skipped" for e in elements.values())),
        time=f"{(summary.finished - summary.started).total_seconds():.3f}",
        timestamp=summary.started.isoformat(timespec="seconds"),
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (("environment", summary.environment), ("run_id", summary.run_id)):
        ET.SubElement(properties, "property", name=name, value=value)
    for record in summary.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=record.section or "checks",
            name=testcase_name(record),
            time=f"{record.duration_s:.3f}",
        )
        props = ET.SubElement(case, "properties")
        for name, value in (("status", record.status.value), ("check", record.id), ("target", record.target)):
            ET.SubElement(props, "property", name=name, value=value)
        for measurement in record.measurements:
            value = "" if measurement.value is None else f"{measurement.value:.15g}"
            ET.SubElement(props, "property", name=f"measurement.{measurement_key(measurement)}", value=value)
        element = elements[record.nodeid]
        if element is not None:
            ET.SubElement(case, element, message=record.message).text = record.message
    suites = ET.Element("testsuites", name="sergas")
    suites.append(suite)
    document: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return document
