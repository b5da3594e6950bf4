"""The weekly report of one environment: which checks were not ok in the last 7 days, when and for
how long, the remediations applied, and the capacity forecasts; one self-contained HTML page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape
from pathlib import Path

from sergas.forecast import WINDOW_DAYS
from sergas.history import load_runs, measurement_series
from sergas.index import forecast_table, forecasts_of, html_page, table, write_atomic
from sergas.record import ActionRecord, RunSummary
from sergas.status import Status
from sergas.units import format_duration

DAYS = 7
NOT_OK = {Status.WARNING, Status.CRITICAL, Status.UNKNOWN}
CLEARED = {Status.OK, Status.WAIVED}  # skipped, or not run at all, tells nothing either way


@dataclass
class Incident:
    """A check on a target not ok from `first_seen` to `last_seen` (runs in a row that ran it),
    `resolved` at the first later run that found it ok again, or still open (None)."""

    check: str
    target: str
    worst: Status
    first_seen: dt.datetime
    last_seen: dt.datetime
    message: str
    runs: int = 1
    resolved: dt.datetime | None = None

    @property
    def lasted(self) -> dt.timedelta:
        """Until resolved, or until last seen when still open."""
        return (self.resolved or self.last_seen) - self.first_seen


def incidents(runs: list[RunSummary]) -> list[Incident]:
    """The not-ok episodes in `runs` (oldest first), by first seen."""
    open_: dict[tuple[str, str], Incident] = {}
    closed = []
    for run in runs:
        for record in run.checks:
            key = (record.id, record.target)
            found = open_.get(key)
            if record.status in NOT_OK and found is None:
                open_[key] = Incident(record.id, record.target, record.status, run.started, run.started, record.message)
            elif record.status in NOT_OK and found is not None:
                found.worst = Status.worst([found.worst, record.status])
                found.last_seen, found.message, found.runs = run.started, record.message, found.runs + 1
            elif record.status in CLEARED and found is not None:
                found.resolved = run.started
                closed.append(open_.pop(key))
    return sorted([*closed, *open_.values()], key=lambda i: (i.first_seen, i.check, i.target))


def applied_remediations(runs: list[RunSummary]) -> list[ActionRecord]:
    return [a for run in runs for r in run.checks for a in r.remediation if a.decision == "applied"]


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def _when(at: dt.datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M}"


def weekly_report(env_dir: Path, now: dt.datetime | None = None) -> str:
    """The weekly report's page for the runs of `reports/<env>/` in the 7 days before `now`."""
    now = now or dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(days=DAYS)
    history = load_runs(env_dir, now - dt.timedelta(days=WINDOW_DAYS))
    runs = [r for r in history if start <= r.started <= now]
    found = incidents(runs)
    rows = [
        (
            i.check,
            i.target,
            i.worst.value,
            _when(i.first_seen),
            _when(i.last_seen),
            f"resolved {_when(i.resolved)}" if i.resolved else "still open",
            format_duration(i.lasted.total_seconds()) if i.lasted else "one run",
            str(i.runs),
            i.message,
        )
        for i in found
    ]
    actions = [(a.time, a.check, a.target, a.action, "; ".join(a.steps), a.result) for a in applied_remediations(runs)]
    name = runs[-1].environment if runs else env_dir.name
    still_open = sum(1 for i in found if i.resolved is None)
    body = (
        f"<h1>Sergas weekly report: {escape(name)}</h1>"
        f"<p>{_when(start)} to {_when(now)} UTC: {_count(len(runs), 'run')}; {_count(len(found), 'check')} not ok "
        f"({still_open} still open); {_count(len(actions), 'remediation')} applied.</p>"
        "<h2>Checks not ok</h2>"
        + (
            table(("check", "target", "worst", "first seen", "last seen", "state", "for", "runs", "last message"), rows)
            if rows
            else "<p>Every check was ok in every run.</p>"
        )
        + "<h2>Remediations applied</h2>"
        + (table(("time", "check", "target", "action", "steps", "result"), actions) if actions else "<p>None.</p>")
        + f"<h2>Capacity forecast</h2>{forecast_table(forecasts_of(measurement_series(history), now))}"
    )
    return html_page(f"Sergas weekly report: {name}", body)


def write_weekly(env_dir: Path, out: Path | None = None, now: dt.datetime | None = None) -> Path:
    """Write the weekly report (default `reports/<env>/weekly-<date>.html`); returns its path."""
    now = now or dt.datetime.now(dt.UTC)
    out = out or env_dir / f"weekly-{now:%Y-%m-%d}.html"
    write_atomic(out, weekly_report(env_dir, now))
    return out
