"""Capacity forecast: when a growing measurement reaches its thresholds.

A least-squares line through the series' points of the last `WINDOW_DAYS` days gives the growth
per day; where that line crosses the warning and the critical threshold is the date forecast.
No date when the series is flat (the line moves less than 0.1% of the threshold in 30 days),
moves away from the threshold, is already past it (the newest value), has no such threshold,
too little history (two runs at least a day apart), or would take over ten years: `Reach.reason`
says which.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sergas.history import Point, Series
from sergas.units import format_quantity

WINDOW_DAYS = 30
HORIZON_DAYS = 3650
FLAT = 0.001  # a line moving less than this share of the threshold in WINDOW_DAYS is flat
DAY = 86400.0

# The capacity measurements: (check id, measurement name); any `size` of a backups.* check too.
CAPACITY = {
    ("host.disk_space", "blocks"),
    ("host.disk_space", "inodes"),
    ("postgres.database_size", "size"),
    ("postgres.table_sizes", "largest"),
    ("postgres.connections", "used"),
    ("redis.memory", "used"),
}


def is_capacity(series: Series) -> bool:
    name = series.last.name
    return (series.check, name) in CAPACITY or (series.check.startswith("backups.") and name == "size")


def fit(points: list[Point]) -> tuple[float, float] | None:
    """(slope per day, value at the newest point's time) of the least-squares line, or None when
    the points do not span a day."""
    if len(points) < 2 or (points[-1].at - points[0].at).total_seconds() < DAY:
        return None
    newest = points[-1].at
    xs = [(p.at - newest).total_seconds() / DAY for p in points]
    ys = [p.value for p in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    return slope, mean_y - slope * mean_x


@dataclass(frozen=True)
class Reach:
    """When one threshold is reached: `date`, or None and the `reason` there is none."""

    level: str
    threshold: float | None
    date: dt.date | None = None
    reason: str = ""

    @property
    def text(self) -> str:
        return self.date.isoformat() if self.date else self.reason


@dataclass(frozen=True)
class Forecast:
    series: Series
    slope_per_day: float | None
    warning: Reach
    critical: Reach


def forecast(series: Series, now: dt.datetime | None = None) -> Forecast:
    """The forecast of `series` from its points of the last WINDOW_DAYS days before `now`."""
    now = now or dt.datetime.now(dt.UTC)
    points = [p for p in series.points if now - dt.timedelta(days=WINDOW_DAYS) <= p.at <= now]
    line = fit(points)
    reaches = [
        _reach(level, threshold, series.last.below, points, line)
        for level, threshold in (("warning", series.last.warning), ("critical", series.last.critical))
    ]
    return Forecast(series, line[0] if line else None, *reaches)


def _reach(
    level: str, threshold: float | None, below: bool, points: list[Point], line: tuple[float, float] | None
) -> Reach:
    if threshold is None:
        return Reach(level, None, reason="no threshold")
    if points and (points[-1].value <= threshold if below else points[-1].value >= threshold):
        return Reach(level, threshold, reason="already past")
    if line is None:
        return Reach(level, threshold, reason="too little history")
    slope, current = line
    toward = -slope if below else slope
    if abs(slope) * WINDOW_DAYS <= FLAT * (abs(threshold) or abs(current) or 1.0):
        return Reach(level, threshold, reason="flat")
    if toward < 0:
        return Reach(level, threshold, reason="rising" if below else "shrinking")
    days = (threshold - current) / slope
    if days > HORIZON_DAYS:
        return Reach(level, threshold, reason=f"not within {HORIZON_DAYS // 365} years")
    return Reach(level, threshold, (points[-1].at + dt.timedelta(days=max(days, 0.0))).date())


FORECAST_HEADER = ("check", "measurement", "of", "now", "growth/day", "warning", "critical")


def forecast_rows(forecasts: list[Forecast]) -> list[tuple[str, ...]]:
    """The forecasts as rows of text (the capacity command's table, the pages' tables)."""
    rows = []
    for f in forecasts:
        s, unit = f.series, f.series.last.unit
        slope = (
            "-"
            if f.slope_per_day is None
            else ("+" if f.slope_per_day >= 0 else "") + format_quantity(f.slope_per_day, unit)
        )
        reaches = [
            f"{format_quantity(r.threshold, unit)}: {r.text}" if r.threshold is not None else r.text
            for r in (f.warning, f.critical)
        ]
        rows.append((s.check, s.last.name, s.about, format_quantity(s.points[-1].value, unit), slope, *reaches))
    return rows
