"""The Alertmanager alerts of a finished run (the bodies of `POST /api/v2/alerts`; no HTTP here).

One alert per check and target that ends critical or unknown, labelled so the site's routing
can use it: `alertname="SergasCheckFailed"`, `env`, `check`, `target`, `severity` (the check's
status: `critical` or `unknown`) and `source="sergas-checks"`, the label that marks the suite's
own alerts (the alert checks do not count them). It ends by itself a little after the next run
is due (`endsAt` = now + interval + margin) unless that run sends it again; a check alerting in
the previous run and ok (or otherwise not alerting the same way) in this one is resolved
explicitly (`endsAt` = now). A check absent from this run is left alone: its alert ends by itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sergas.record import CheckRecord, RunSummary
from sergas.status import Status

ALERTNAME = "SergasCheckFailed"
SOURCE_LABEL, SOURCE = "source", "sergas-checks"  # marks the suite's own alerts
ALERTING = (Status.CRITICAL, Status.UNKNOWN)
MIN_MARGIN = 300.0  # seconds an alert outlives the next expected run, at least


def margin(interval: float) -> float:
    """How long past the next expected run an alert lasts: a quarter interval, at least 5 minutes
    (a late timer, a slow run), so a check that keeps failing never flaps."""
    return max(interval / 4, MIN_MARGIN)


def report_link(report_url: str | None, root: Path) -> str:
    """The run's report.html: under `report_url` where the archive is served (by the run's path
    in it, `<env>/<run id>/report.html`), else a file:// URI of the run folder `root`."""
    if report_url is None:
        return (root / "report.html").as_uri()
    return f"{report_url.rstrip('/')}/{root.parent.name}/{root.name}/report.html"


def labels(environment: str, record: CheckRecord) -> dict[str, str]:
    """An alert's identity: the same check, target and status make the same alert run after run."""
    return {
        "alertname": ALERTNAME,
        "env": environment,
        "check": record.id,
        "target": record.target,
        "severity": record.status.value,
        SOURCE_LABEL: SOURCE,
    }


def alerts(
    summary: RunSummary,
    previous: RunSummary | None,
    *,
    now: dt.datetime,
    interval: float,
    report: str,
    mask: Callable[[str], str],
) -> list[dict[str, Any]]:
    """The alerts to post for `summary`: firing ones, then those of `previous` to resolve.

    Every label and annotation is masked with `mask`."""
    ends = now + dt.timedelta(seconds=interval + margin(interval))

    def alert(alert_labels: dict[str, str], record: CheckRecord, until: dt.datetime) -> dict[str, Any]:
        verdict = "resolved" if until == now else record.status.value
        annotations = {
            "summary": record.message,
            "description": f"{record.title} ({record.id} {verdict} in run {summary.run_id} of {summary.environment})",
            "report": report,
        }
        return {
            "labels": {k: mask(v) for k, v in alert_labels.items()},
            "annotations": {k: mask(v) for k, v in annotations.items()},
            "startsAt": _utc(now),
            "endsAt": _utc(until),
            "generatorURL": mask(report),
        }

    firing = [r for r in summary.checks if r.status in ALERTING]
    sent = [labels(summary.environment, r) for r in firing]
    body = [alert(labels(summary.environment, r), r, ends) for r in firing]
    current = {(r.id, r.target): r for r in summary.checks}
    for earlier in previous.checks if previous else []:
        now_record = current.get((earlier.id, earlier.target))
        earlier_labels = labels(summary.environment, earlier)
        if earlier.status in ALERTING and now_record is not None and earlier_labels not in sent:
            sent.append(earlier_labels)
            body.append(alert(earlier_labels, now_record, now))
    return body


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
