"""sergas.report: what report.html shows (order, marks since the previous run, gauges, escaping)."""

from __future__ import annotations

import re

import pytest

from sergas.record import Attempt, Evidence, Retries
from sergas.report import (
    Change,
    Gauge,
    Previous,
    change,
    details_html,
    gauge,
    gauge_html,
    header_html,
    order_key,
    since_cell,
    worst_first,
)
from sergas.status import Status
from sergas.units import Unit
from tests.unit.builders import TARGET, measurement, one_per_status, record, summary

NASTY = "<script>alert('x')</script> & \"q\""


def test_worst_first_lists_only_what_is_not_ok() -> None:
    checks = [*one_per_status(), record(Status.CRITICAL, check_id="a.first", target="z")]
    assert [(r.status, r.id) for r in worst_first(checks)] == [
        (Status.CRITICAL, "a.first"),
        (Status.CRITICAL, "postgres.connections"),
        (Status.UNKNOWN, "postgres.connections"),
        (Status.WARNING, "postgres.connections"),
        (Status.WAIVED, "postgres.connections"),
    ]


def test_rows_order_by_section_then_worst_first() -> None:
    rows = [
        record(Status.OK, section="daily", check_id="a.ok"),
        record(Status.CRITICAL, section="", check_id="a.other"),
        record(Status.WARNING, section="monthly", check_id="a.monthly"),
        record(Status.SKIPPED, section="daily", check_id="a.skipped"),
        record(Status.CRITICAL, section="weekly", check_id="a.weekly"),
        record(Status.UNKNOWN, section="daily", check_id="b.unknown"),
        record(Status.WARNING, section="daily", check_id="a.warning"),
    ]
    assert [r.id for r in sorted(rows, key=order_key)] == [
        "b.unknown",
        "a.warning",
        "a.ok",
        "a.skipped",
        "a.weekly",
        "a.monthly",
        "a.other",
    ]


@pytest.mark.parametrize(
    ("now", "before", "expected"),
    [
        (Status.CRITICAL, None, Change.NEW),
        (Status.WARNING, Status.OK, Change.NEW),
        (Status.UNKNOWN, Status.SKIPPED, Change.NEW),
        (Status.CRITICAL, Status.WARNING, Change.UNCHANGED),
        (Status.WAIVED, Status.CRITICAL, Change.UNCHANGED),
        (Status.OK, Status.CRITICAL, Change.RESOLVED),
        (Status.OK, Status.WAIVED, Change.RESOLVED),
        (Status.OK, Status.OK, Change.UNCHANGED),
        (Status.OK, None, Change.UNCHANGED),
        (Status.SKIPPED, Status.CRITICAL, Change.UNCHANGED),
    ],
)
def test_change_since_the_previous_run(now: Status, before: Status | None, expected: Change) -> None:
    assert change(now, before) is expected


def test_previous_run_marks_each_check_and_lists_those_gone() -> None:
    before = summary(
        [
            record(Status.CRITICAL, check_id="app.zoho"),
            record(Status.OK, check_id="app.health"),
            record(Status.WARNING, check_id="redis.memory", target="cache1"),
            record(Status.OK, check_id="redis.ping"),
        ],
        run_id="20240430T060000Z",
    )
    previous = Previous.of(before)
    now = [record(Status.OK, check_id="app.zoho"), record(Status.WARNING, check_id="app.health")]
    assert [previous.change(r) for r in now] == [Change.RESOLVED, Change.NEW]
    assert previous.gone(now) == [(("redis.memory", "cache1"), Status.WARNING)]
    assert previous.link == "../20240430T060000Z/report.html"
    assert since_cell(now[0], previous) == ("resolved", "20240430T060000Z: critical")
    assert since_cell(record(check_id="new.one"), previous) == ("unchanged", "20240430T060000Z: not checked")
    assert since_cell(now[0], None)[0] == ""


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        (dict(value=42.0, unit=Unit.PERCENT), Gauge(42.0, None, None)),
        (dict(value=42.0, unit=Unit.PERCENT, warning=80, critical=90), Gauge(42.0, 80.0, 90.0)),
        (dict(value=150.0, unit=Unit.PERCENT, warning=70, critical=90), Gauge(100.0, 46.7, 60.0)),
        (dict(value=99.0, unit=Unit.PERCENT, warning=95, critical=90, below=True), Gauge(99.0, 95.0, 90.0)),
        (dict(value=0.5, unit=Unit.SECONDS, warning=1, critical=5), Gauge(8.0, 16.0, 80.0)),
        (dict(value=12.0, unit=Unit.COUNT, warning=1), Gauge(100.0, 8.3, None)),
        (dict(value=0.0, unit=Unit.COUNT, critical=1), Gauge(0.0, None, 80.0)),
        (dict(value=3.0, unit=Unit.COUNT), None),  # nothing to hold it against
        (dict(value=None, unit=Unit.PERCENT), None),  # no data
        (dict(value=-1.0, unit=Unit.SECONDS, warning=1), None),
        (dict(value=0.0, unit=Unit.COUNT, warning=0), None),  # a scale of nothing
    ],
)
def test_gauge_maths(kw: dict[str, object], expected: Gauge | None) -> None:
    assert gauge(measurement(**kw)) == expected  # type: ignore[arg-type]


def test_gauge_html_places_value_and_thresholds() -> None:
    bar = gauge_html(measurement(value=92.0, warning=80, critical=90, status=Status.CRITICAL))
    assert "class='gauge-fill status-critical' style='width:92.0%'" in bar
    assert re.findall(r"tick-(\w+)' style='left:([\d.]+)%'", bar) == [("warning", "80.0"), ("critical", "90.0")]
    assert gauge_html(measurement(value=None)) == ""


def test_details_show_measurements_against_thresholds_and_escape() -> None:
    m = measurement("used", 92.0, warning=80, critical=90, status=Status.CRITICAL, label=NASTY)
    rate = measurement("success", 97.5, warning=95, critical=90, below=True)
    checked = record(Status.CRITICAL, measurements=[m, rate]).model_copy(
        update={"evidence": [Evidence(title=NASTY, content=NASTY)]}
    )
    details = details_html(checked)
    assert "<script>" not in details and details.count("&lt;script&gt;") == 3
    assert "<td class='num'>92%</td><td class='num'>≥ 80%</td><td class='num'>≥ 90%</td>" in details
    assert "<td class='num'>97.5%</td><td class='num'>≤ 95%</td><td class='num'>≤ 90%</td>" in details
    assert details_html(record(measurements=[])) == ""


@pytest.mark.parametrize(
    ("statuses", "healthy_after", "flapping", "verdict"),
    [
        ([Status.CRITICAL, Status.OK, Status.OK], 10.0, False, "healthy after 10s"),
        ([Status.CRITICAL, Status.OK, Status.CRITICAL], 10.0, True, "flapping: not ok again"),
        ([Status.UNKNOWN, Status.CRITICAL], None, False, "never ok before the retry timeout"),
    ],
)
def test_details_show_the_attempts_of_a_retried_check(
    statuses: list[Status], healthy_after: float | None, flapping: bool, verdict: str
) -> None:
    attempts = [Attempt(after_s=10.0 * i, status=s, message=f"{NASTY} {i}") for i, s in enumerate(statuses)]
    retried = record(statuses[-1], measurements=[]).model_copy(
        update={"retries": Retries(attempts=attempts, healthy_after_s=healthy_after, flapping=flapping)}
    )
    details = details_html(retried)
    assert f"<b>{len(statuses)} attempts</b>: {verdict}" in details
    assert details.count("<tr><td class='num'>") == len(statuses) and "<script>" not in details
    assert f"<td class='num'>10s</td><td class='status-{statuses[1].value}'>" in details


def test_header_counts_the_run_and_lists_what_is_not_ok_worst_first() -> None:
    checks = [*one_per_status(), record(Status.CRITICAL, check_id="app.zoho", target="app1", message=NASTY)]
    header = header_html(summary(checks, environment="prod"), None)
    assert "<script>" not in header and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in header
    assert "<b>prod</b> · 2024-05-01 06:00:00 UTC · took 12.5s · exit status 2 (interrupted)" in header
    counts = re.findall(r"<span class='count status-(\w+)[^']*'>(\d+) (\w+)</span>", header)
    assert [(s, int(n)) for s, n, _ in counts] == [
        ("critical", 2),
        ("unknown", 1),
        ("warning", 1),
        ("waived", 1),
        ("ok", 1),
        ("skipped", 1),
    ]
    listed = re.findall(r"<td class='col-status status-(\w+)'>\w+</td><td class='check'>([^<]+)</td>", header)
    assert listed == [
        ("critical", "app.zoho"),
        ("critical", "postgres.connections"),
        ("unknown", "postgres.connections"),
        ("warning", "postgres.connections"),
        ("waived", "postgres.connections"),
    ]
    assert "No earlier run of this environment" in header


def test_header_against_the_previous_run() -> None:
    before = summary(
        [record(Status.CRITICAL, check_id="app.zoho"), record(Status.WARNING, check_id="logs.errors")],
        run_id="20240430T060000Z",
    )
    now = summary([record(Status.OK, check_id="app.zoho"), record(Status.CRITICAL, check_id="redis.memory")])
    header = header_html(now, Previous.of(before))
    assert "href='../20240430T060000Z/report.html'>previous run 20240430T060000Z</a>" in header
    assert "<b>1 new</b>, <b>1 resolved</b>, 0 unchanged." in header
    assert f"<td class='check'>app.zoho</td><td>{TARGET}</td><td>was critical</td>" in header
    assert f"<td class='check'>logs.errors</td><td>{TARGET}</td><td>was warning; not checked in this run" in header
    assert re.search(
        r"redis\.memory</td>.*<td class='since since-new' title='20240430T060000Z: not checked'>new", header
    )


def test_header_when_every_check_is_ok() -> None:
    header = header_html(summary([record(Status.OK)]), None)
    assert "Every check is ok." in header and "<span class='verdict status-ok'>OK</span>" in header


def test_header_when_no_check_ran() -> None:
    header = header_html(summary([]), None)
    assert "No check ran." in header and "<span class='verdict status-unknown'>NO CHECKS</span>" in header
