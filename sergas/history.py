"""Measurements of earlier archived runs: for growth, for counters that are cumulative on the
server (Redis INFO stats) and mean something only as a difference, and as series over every kept
run (the index's charts, the capacity forecast, the weekly report)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sergas.archive import run_time
from sergas.record import LabelValue, Measurement, RunSummary
from sergas.status import Status

# How many earlier runs to look through for the last measurement of a check.
HISTORY_DEPTH = 50


@dataclass(frozen=True)
class Earlier:
    """Measurements of one check on one target in an earlier archived run."""

    values: dict[str, float]
    at: dt.datetime
    run_id: str


def earlier_runs(run_root: Path) -> list[Path]:
    """The run folders archived before `run_root` for the same environment, newest first: its
    sibling folders in `reports/<env>/` (never `latest`, a link)."""
    return [p for p in reversed(run_folders(run_root.parent)) if p.name < run_root.name]


def read_summary(run: Path) -> RunSummary | None:
    """A run folder's summary.json, or None when it is missing, unreadable or of another schema."""
    try:
        return RunSummary.model_validate_json((run / "summary.json").read_bytes())
    except (OSError, ValueError):
        return None


def previous_summary(run_root: Path) -> RunSummary | None:
    """The newest complete earlier run of the same environment (its summary), or None."""
    for run in earlier_runs(run_root)[:HISTORY_DEPTH]:
        summary = read_summary(run)
        if summary is not None:
            return summary
    return None


def earlier_measurements(run_root: Path, check_id: str, target: str, names: tuple[str, ...]) -> Earlier | None:
    """The newest earlier run in which `check_id` on `target` measured all of `names`.

    Summaries that cannot be read are passed over; measurements are found by their stable name
    (and only those about the target as a whole, with no labels).
    """
    for run in earlier_runs(run_root)[:HISTORY_DEPTH]:
        summary = read_summary(run)
        if summary is None:
            continue
        for record in summary.checks:
            if record.id != check_id or record.target != target:
                continue
            values = {
                m.name: m.value for m in record.measurements if m.name in names and not m.labels and m.value is not None
            }
            if len(values) == len(names):
                return Earlier(values, summary.started, run.name)
    return None


def environments(report_dir: Path) -> list[Path]:
    """The environment folders of an archive (`reports/<env>/`) that hold at least one run folder."""
    if not report_dir.is_dir():
        return []
    return sorted(p for p in report_dir.iterdir() if p.is_dir() and not p.is_symlink() and run_folders(p))


def run_folders(env_dir: Path, since: dt.datetime | None = None) -> list[Path]:
    """The run folders of `reports/<env>/`, oldest first: named as runs, never a symlink; only
    those started at `since` or later when it is given."""
    found = []
    for path in env_dir.iterdir():
        started = run_time(path.name)
        if started is not None and (since is None or started >= since) and path.is_dir() and not path.is_symlink():
            found.append(path)
    return sorted(found, key=lambda p: p.name)


def load_runs(env_dir: Path, since: dt.datetime | None = None) -> list[RunSummary]:
    """The summaries of the runs of `reports/<env>/` (since `since`), oldest first; a run without a
    readable summary (still running, broken) is left out."""
    return [s for s in (read_summary(p) for p in run_folders(env_dir, since)) if s is not None]


def newest_runs(folders: list[Path], count: int) -> list[RunSummary]:
    """The summaries of the newest `count` readable runs of `folders` (run folders, oldest
    first), oldest first. Reads from the newest back, at most `count + HISTORY_DEPTH` of them: the
    cost of a run's history output stays the same however many runs are kept."""
    found = []
    for path in reversed(folders[-(count + HISTORY_DEPTH) :]):
        summary = read_summary(path)
        if summary is not None:
            found.append(summary)
            if len(found) == count:
                break
    return found[::-1]


Labels = tuple[tuple[str, LabelValue], ...]


@dataclass(frozen=True)
class Point:
    at: dt.datetime
    value: float
    status: Status
    run_id: str


@dataclass
class Series:
    """One measurement over the runs of one environment, oldest first: keyed by (check id,
    target, measurement name, labels); `last` is the newest run's measurement (its unit, label
    and thresholds)."""

    check: str
    target: str
    last: Measurement
    points: list[Point] = field(default_factory=list)

    @property
    def labels(self) -> Labels:
        return tuple(sorted(self.last.labels.items()))

    @property
    def about(self) -> str:
        """Which object it is about, as a person reads it: `localhost mount=/`."""
        return " ".join([self.target, *(f"{k}={v}" for k, v in self.labels)])


def measurement_series(runs: Iterable[RunSummary]) -> list[Series]:
    """Every numeric measurement of `runs` (one environment, oldest first) as a series."""
    series: dict[tuple[str, str, str, str], Series] = {}
    for run in runs:
        for record in run.checks:
            for m in record.measurements:
                if m.value is None:
                    continue
                key = (record.id, record.target, m.name, str(sorted(m.labels.items())))
                one = series.setdefault(key, Series(record.id, record.target, m))
                one.last = m
                one.points.append(Point(run.started, m.value, m.status, run.run_id))
    return [series[key] for key in sorted(series)]
