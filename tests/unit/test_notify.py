"""sergas.notify: the Alertmanager alerts of a finished run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sergas.config import Secrets
from sergas.notify import alerts, margin, report_link
from sergas.record import CheckRecord, RunSummary
from sergas.status import Status
from tests.unit.builders import T0, record, summary

NOW = T0 + dt.timedelta(minutes=5)
REPORT = "https://reports.example/prod/20240501T060000Z/report.html"


def post(run: RunSummary, previous: RunSummary | None = None, mask: Any = str) -> list[dict[str, Any]]:
    return alerts(run, previous, now=NOW, interval=86400, report=REPORT, mask=mask)


def by_check(body: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(a["labels"]["check"], a["labels"]["severity"]): a for a in body}


def test_one_alert_per_critical_and_unknown_check_with_its_labels_and_annotations() -> None:
    checks = [record(s, target=f"db1/{s.value}", check_id=f"postgres.{s.value}") for s in Status]
    body = post(summary(checks, run_id="20240501T060000Z"))
    assert sorted(a["labels"]["severity"] for a in body) == ["critical", "unknown"]
    critical = by_check(body)["postgres.critical", "critical"]
    assert critical["labels"] == {
        "alertname": "SergasCheckFailed",
        "env": "prod",
        "check": "postgres.critical",
        "target": "db1/critical",
        "severity": "critical",
        "source": "sergas-checks",
    }
    assert critical["annotations"] == {
        "summary": "db1/critical: critical",
        "description": "Connections in use (postgres.critical critical in run 20240501T060000Z of prod)",
        "report": REPORT,
    }
    assert critical["generatorURL"] == REPORT


def test_an_alert_starts_now_and_ends_after_the_next_run_is_due() -> None:
    (alert,) = post(summary([record(Status.CRITICAL)]))
    assert alert["startsAt"] == "2024-05-01T06:05:00.000Z"
    assert alert["endsAt"] == "2024-05-02T12:05:00.000Z"  # one day and a quarter of one
    assert margin(600) == 300  # at least five minutes


def test_nothing_to_post_for_a_run_without_failures_after_one_without_failures() -> None:
    ok = summary([record(Status.OK), record(Status.WARNING, target="db2"), record(Status.WAIVED, target="db3")])
    assert post(ok, ok) == []


def test_checks_alerting_in_the_previous_run_are_resolved_when_no_longer_so() -> None:
    before = [
        record(Status.CRITICAL, check_id="app.recovered"),
        record(Status.CRITICAL, check_id="app.still_failing"),
        record(Status.CRITICAL, check_id="app.now_unknown"),
        record(Status.CRITICAL, check_id="app.not_run_now"),
        record(Status.OK, check_id="app.was_ok"),
    ]
    now: list[CheckRecord] = [
        record(Status.OK, check_id="app.recovered", message="recovered"),
        record(Status.CRITICAL, check_id="app.still_failing"),
        record(Status.UNKNOWN, check_id="app.now_unknown"),
        record(Status.OK, check_id="app.was_ok"),
    ]
    body = by_check(post(summary(now, run_id="20240501T060000Z"), summary(before, run_id="20240430T060000Z")))
    assert sorted(body) == [
        ("app.now_unknown", "critical"),  # resolved: the critical alert is not the unknown one
        ("app.now_unknown", "unknown"),
        ("app.recovered", "critical"),
        ("app.still_failing", "critical"),
    ]
    resolved = body["app.recovered", "critical"]
    assert resolved["startsAt"] == resolved["endsAt"] == "2024-05-01T06:05:00.000Z"
    assert resolved["annotations"]["summary"] == "recovered"
    assert "app.recovered resolved in run 20240501T060000Z" in resolved["annotations"]["description"]
    assert body["app.now_unknown", "critical"]["endsAt"] == "2024-05-01T06:05:00.000Z"
    assert body["app.still_failing", "critical"]["endsAt"] > body["app.still_failing", "critical"]["startsAt"]


def test_every_label_and_annotation_is_masked() -> None:
    secrets = Secrets()
    secrets.add("hunter22")
    leaky = record(
        Status.CRITICAL,
        target="postgresql://monitor:hunter22@db1:5432/sergas",
        message="cannot connect with password hunter22",
    )
    (alert,) = post(summary([leaky]), mask=secrets.mask)
    assert "hunter22" not in str(alert)
    assert alert["labels"]["target"] == "postgresql://monitor:***@db1:5432/sergas"
    assert alert["annotations"]["summary"] == "cannot connect with password ***"


def test_the_report_link_is_under_report_url_or_a_file_uri(tmp_path: Path) -> None:
    root = tmp_path / "prod" / "20240501T060000Z"
    assert report_link("https://reports.example/", root) == REPORT
    assert report_link(None, root) == f"file://{root}/report.html"
