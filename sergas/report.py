"""What `report.html` shows, computed from the run's records (pure: pytest-html only places it).

The header of a run (environment, times, exit status, counts, the checks that are not ok, worst
first), the order of the rows (manual section, then worst first), what changed since the previous
run of the same environment, and each check's details (measurements against their thresholds with
a small gauge, remediation, evidence). Every fragment is HTML built with `html.escape`.
"""

from __future__ import annotations

import enum
import html
from collections.abc import Iterable
from dataclasses import dataclass

from sergas.record import SECTIONS, CheckRecord, Measurement, RunSummary
from sergas.status import Status
from sergas.units import Unit, format_duration, format_quantity

# The statuses that need a reader's attention, worst first; then the others, for the counts.
NOT_OK = (Status.CRITICAL, Status.UNKNOWN, Status.WARNING, Status.WAIVED)
COUNT_ORDER = (*NOT_OK, Status.OK, Status.SKIPPED)
# pytest's exit codes (pytest.ExitCode), in words.
EXIT_WORDS = {
    0: "all passed",
    1: "checks failed",
    2: "interrupted",
    3: "internal error",
    4: "usage error",
    5: "no checks collected",
}

Key = tuple[str, str]  # (check id, target): a check's identity from run to run


class Change(enum.StrEnum):
    """A check against the previous run of the same environment."""

    NEW = "new"  # not ok now; ok, skipped or absent before
    RESOLVED = "resolved"  # ok now; not ok before
    UNCHANGED = "unchanged"


def key_of(record: CheckRecord) -> Key:
    return record.id, record.target


def change(now: Status, before: Status | None) -> Change:
    if now in NOT_OK and before not in NOT_OK:
        return Change.NEW
    if now is Status.OK and before in NOT_OK:
        return Change.RESOLVED
    return Change.UNCHANGED


@dataclass(frozen=True)
class Previous:
    """The previous run of the same environment, as this run's report compares against it."""

    run_id: str
    started: str
    statuses: dict[Key, Status]

    @classmethod
    def of(cls, summary: RunSummary) -> Previous:
        return cls(
            summary.run_id,
            f"{summary.started:%Y-%m-%d %H:%M:%S} UTC",
            {key_of(r): r.status for r in summary.checks},
        )

    @property
    def link(self) -> str:
        """Its report, relative to this run's report (runs are sibling folders)."""
        return f"../{self.run_id}/report.html"

    def change(self, record: CheckRecord) -> Change:
        return change(record.status, self.statuses.get(key_of(record)))

    def gone(self, records: Iterable[CheckRecord]) -> list[tuple[Key, Status]]:
        """Checks not ok in the previous run that this run did not check at all."""
        present = {key_of(r) for r in records}
        return sorted(
            ((k, s) for k, s in self.statuses.items() if s in NOT_OK and k not in present),
            key=lambda ks: (-ks[1].rank, ks[0]),
        )


def worst_first(records: Iterable[CheckRecord]) -> list[CheckRecord]:
    """The records that are not ok, worst first (critical, unknown, warning, waived), then by id and target."""
    return sorted((r for r in records if r.status in NOT_OK), key=lambda r: (-r.status.rank, r.id, r.target))


def order_key(record: CheckRecord) -> str:
    """The rows' default order as one string (pytest-html sorts a column by its text): manual
    section (daily, weekly, monthly, then the others), then worst first, then id and target."""
    section = SECTIONS.index(record.section) if record.section in SECTIONS else len(SECTIONS)
    return f"{section}{9 - record.status.rank}:{record.section}:{record.id}:{record.target}"


def since_cell(record: CheckRecord, previous: Previous | None) -> tuple[str, str]:
    """The row's mark against the previous run and its tooltip ('' when there is no previous run)."""
    if previous is None:
        return "", "no earlier run of this environment in the archive"
    before = previous.statuses.get(key_of(record))
    return previous.change(record).value, f"{previous.run_id}: {before.value if before else 'not checked'}"


# ---- measurements -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gauge:
    """A measurement on a bar from 0: where its value and thresholds fall, in % of the bar."""

    value: float
    warning: float | None
    critical: float | None


def gauge(m: Measurement) -> Gauge | None:
    """A percentage on 0-100 (more when it is over); another value with thresholds on a scale
    whose last fifth is past the highest threshold. None without a value or anything to hold it against."""
    limits = [t for t in (m.warning, m.critical) if t is not None]
    if m.value is None or m.value < 0 or any(t < 0 for t in limits):
        return None
    if m.unit is Unit.PERCENT:
        full = max(100.0, m.value)
    elif limits:
        full = max(m.value, max(limits) * 1.25)
    else:
        return None
    if full <= 0:
        return None

    def at(x: float | None) -> float | None:
        return None if x is None else round(100 * x / full, 1)

    return Gauge(round(100 * m.value / full, 1), at(m.warning), at(m.critical))


def gauge_html(m: Measurement) -> str:
    bar = gauge(m)
    if bar is None:
        return ""
    ticks = "".join(
        f"<span class='gauge-tick tick-{name}' style='left:{at}%'></span>"
        for name, at in (("warning", bar.warning), ("critical", bar.critical))
        if at is not None
    )
    return (
        f"<span class='gauge'><span class='gauge-fill status-{m.status.value}' style='width:{bar.value}%'>"
        f"</span>{ticks}</span>"
    )


def _threshold(m: Measurement, value: float | None) -> str:
    return "" if value is None else f"{'≤' if m.below else '≥'} {format_quantity(value, m.unit)}"


def measurements_html(measurements: list[Measurement]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(m.label)}</td><td><code>{html.escape(m.name)}</code></td>"
        f"<td class='num'>{'no data' if m.value is None else html.escape(format_quantity(m.value, m.unit))}</td>"
        f"<td class='num'>{_threshold(m, m.warning)}</td><td class='num'>{_threshold(m, m.critical)}</td>"
        f"<td>{gauge_html(m)}</td><td class='status-{m.status.value}'>{m.status.value}</td></tr>"
        for m in measurements
    )
    if not rows:
        return ""
    return (
        "<table class='sergas-measurements'><tr><th>measurement</th><th>name</th><th>value</th>"
        f"<th>warning</th><th>critical</th><th></th><th>status</th></tr>{rows}</table>"
    )


def _remediation_html(record: CheckRecord) -> str:
    parts = []
    if record.before is not None:
        parts.append(
            f"<p><b>before remediation:</b> {html.escape(record.before.status.upper())}: "
            f"{html.escape(record.before.message)}</p>"
        )
    for offer in record.remediation:
        items = "".join(f"<li><code>{html.escape(step)}</code></li>" for step in offer.steps or offer.plan)
        verb = "did" if offer.steps else "would run"
        parts.append(
            f"<p><b>remediation {html.escape(offer.action)}</b> ({html.escape(offer.risk)}): "
            f"{html.escape(offer.decision)} — {html.escape(offer.result)}</p><p>{verb}:</p><ul>{items}</ul>"
        )
    if record.left_after_remediation:
        items = "".join(f"<li>{html.escape(s)}</li>" for s in record.left_after_remediation)
        parts.append(f"<p><b>still found after remediation:</b></p><ul>{items}</ul>")
    return "".join(parts)


def _retries_html(record: CheckRecord) -> str:
    """The attempts of a check run again under --retry-timeout."""
    if record.retries is None:
        return ""
    retries = record.retries
    rows = "".join(
        f"<tr><td class='num'>{a.after_s:g}s</td><td class='status-{a.status.value}'>{a.status.value}</td>"
        f"<td>{html.escape(a.message)}</td></tr>"
        for a in retries.attempts
    )
    if retries.flapping:
        verdict = "flapping: not ok again on the attempt confirming it"
    elif retries.healthy_after_s is not None:
        verdict = f"healthy after {retries.healthy_after_s:g}s"
    else:
        verdict = "never ok before the retry timeout"
    return (
        f"<p><b>{len(retries.attempts)} attempts</b>: {html.escape(verdict)}</p>"
        f"<table class='sergas-attempts'><tr><th>after</th><th>status</th><th>message</th></tr>{rows}</table>"
    )


def details_html(record: CheckRecord) -> str:
    """A check's details below its row: attempts, remediation, measurements, evidence ('' when none)."""
    if not (record.measurements or record.evidence or record.remediation or record.before or record.retries):
        return ""
    evidence = "".join(f"<h4>{html.escape(e.title)}</h4><pre>{html.escape(e.content)}</pre>" for e in record.evidence)
    return (
        f"<div class='sergas-details'>{_retries_html(record)}{_remediation_html(record)}"
        f"{measurements_html(record.measurements)}{evidence}</div>"
    )


# ---- the header ---------------------------------------------------------------------------------


def _status_cell(status: Status) -> str:
    return f"<td class='col-status status-{status.value}'>{status.value.upper()}</td>"


def _problem_row(record: CheckRecord, previous: Previous | None) -> str:
    mark, tip = since_cell(record, previous)
    message = record.message.splitlines()[0] if record.message else ""
    return (
        f"<tr>{_status_cell(record.status)}<td class='check'>{html.escape(record.id)}</td>"
        f"<td>{html.escape(record.target)}</td><td class='message'>{html.escape(message)}</td>"
        f"<td class='since since-{mark}' title='{html.escape(tip)}'>{mark}</td></tr>"
    )


def _previous_html(summary: RunSummary, previous: Previous | None) -> str:
    if previous is None:
        return "<p class='sergas-previous'>No earlier run of this environment in the archive.</p>"
    changes = [previous.change(r) for r in summary.checks]
    resolved = [r for r in summary.checks if previous.change(r) is Change.RESOLVED]
    rows = [
        f"<tr>{_status_cell(Status.OK)}<td class='check'>{html.escape(r.id)}</td><td>{html.escape(r.target)}</td>"
        f"<td>was {previous.statuses[key_of(r)].value}</td></tr>"
        for r in sorted(resolved, key=key_of)
    ]
    rows += [
        f"<tr><td class='col-status'>—</td><td class='check'>{html.escape(check)}</td><td>{html.escape(target)}</td>"
        f"<td>was {status.value}; not checked in this run</td></tr>"
        for (check, target), status in previous.gone(summary.checks)
    ]
    link = html.escape(previous.link)
    text = (
        f"Since the <a class='previous-run' href='{link}'>previous run {html.escape(previous.run_id)}</a> "
        f"({html.escape(previous.started)}): <b>{changes.count(Change.NEW)} new</b>, "
        f"<b>{changes.count(Change.RESOLVED)} resolved</b>, {changes.count(Change.UNCHANGED)} unchanged."
    )
    table = f"<table class='sergas-resolved'>{''.join(rows)}</table>" if rows else ""
    return f"<p class='sergas-previous'>{text}</p>{table}"


def header_html(summary: RunSummary, previous: Previous | None) -> str:
    """What an operator reads first: the run in one line, counts per status, then every check
    that is not ok, worst first, and what changed since the previous run."""
    worst = Status.worst([r.status for r in summary.checks])
    verdict = (worst.value, worst.value.upper()) if summary.checks else ("unknown", "NO CHECKS")
    seconds = (summary.finished - summary.started).total_seconds()
    exit_word = EXIT_WORDS.get(summary.exit_status, "")
    facts = (
        f"<span class='verdict status-{verdict[0]}'>{verdict[1]}</span> "
        f"<b>{html.escape(summary.environment)}</b> · {summary.started:%Y-%m-%d %H:%M:%S} UTC · "
        f"took {format_duration(seconds)} · exit status {summary.exit_status}"
        f"{f' ({exit_word})' if exit_word else ''} · run {html.escape(summary.run_id)}"
    )
    counts = "".join(
        f"<span class='count status-{s.value}{' zero' if not summary.counts.get(s) else ''}'>"
        f"{summary.counts.get(s, 0)} {s.value}</span>"
        for s in COUNT_ORDER
    )
    problems = worst_first(summary.checks)
    if problems:
        listing = f"<table class='sergas-problems'>{''.join(_problem_row(r, previous) for r in problems)}</table>"
    else:
        listing = f"<p class='sergas-all-ok'>{'Every check is ok.' if summary.checks else 'No check ran.'}</p>"
    return (
        f"<div class='sergas-header'><p class='sergas-facts'>{facts}</p>"
        f"<p class='sergas-counts'>{counts}</p>{listing}{_previous_html(summary, previous)}</div>"
    )
