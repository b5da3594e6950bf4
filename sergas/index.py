"""`reports/index.html`: the history of every environment on one self-contained page (inline CSS
and SVG, no script): its kept runs, status counts over time, the capacity measurements charted
against their thresholds with a forecast, and every numeric measurement's series, over the
newest `INDEX_RUNS` runs of each environment."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from html import escape
from pathlib import Path

from filelock import FileLock

from sergas.archive import run_time
from sergas.charts import Line, Rule, chart, sparkline
from sergas.forecast import FORECAST_HEADER, WINDOW_DAYS, Forecast, forecast, forecast_rows, is_capacity
from sergas.history import Series, environments, measurement_series, newest_runs, run_folders
from sergas.record import RunSummary
from sergas.status import Status
from sergas.units import Unit, format_duration, format_quantity

# Runs read per environment: every run writes the index again, so it reads the newest runs only
# (parsing a summary costs milliseconds; a thousand kept runs would cost seconds per run).
INDEX_RUNS = 50
STATUSES = (Status.OK, Status.WARNING, Status.CRITICAL, Status.UNKNOWN, Status.WAIVED, Status.SKIPPED)
COLOURS = {
    Status.OK: "#2a7d2a",
    Status.WARNING: "#c77700",
    Status.CRITICAL: "#c0211f",
    Status.UNKNOWN: "#7b3fa0",
    Status.WAIVED: "#2a8c9c",
    Status.SKIPPED: "#8a8a8a",
}
CSS = (
    "body{font:14px/1.4 system-ui,sans-serif;color:#222;max-width:1240px;margin:0 auto;padding:0 16px 40px}"
    "h1{margin:16px 0 4px}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:32px}"
    "h3{margin:20px 0 8px}nav a{margin-right:12px}.muted{color:#888}"
    "table{border-collapse:collapse;margin:4px 0 12px}td,th{padding:3px 10px;text-align:left;vertical-align:middle}"
    "td:not(:last-child){white-space:nowrap}th{background:#f0f0f0;font-weight:600}"
    "tr:nth-child(even) td{background:#fafafa}td.n{text-align:right}"
    ".zero{color:#bbb}.bad{font-weight:600}"
    + "".join(f".{s}{{color:{c}}}" for s, c in COLOURS.items())
    + ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(580px,1fr));gap:12px}"
    "figure{margin:0;padding:8px 10px;border:1px solid #ddd;border-radius:6px;background:#fff}"
    "figcaption{font-size:13px;margin-bottom:4px}figcaption b{font-size:14px}.chart{max-width:100%;height:auto}"
)


def html_page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<meta name='viewport' content='width=device-width'><style>{CSS}</style><body>{body}</body></html>\n"
    )


def write_atomic(path: Path, text: str) -> None:
    """Write `path` whole or not at all: a temporary file beside it, then renamed over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table of text cells (escaped here)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def forecasts_of(series: list[Series], now: dt.datetime) -> list[Forecast]:
    """The capacity forecast of each capacity series measured in the forecast window."""
    since = now - dt.timedelta(days=WINDOW_DAYS)
    return [forecast(s, now) for s in series if is_capacity(s) and s.points[-1].at >= since]


def forecast_table(forecasts: list[Forecast]) -> str:
    if not forecasts:
        return "<p class='muted'>No capacity measurement in the last 30 days.</p>"
    return table(FORECAST_HEADER, forecast_rows(forecasts))


def _runs_table(env_dir: Path, runs: list[RunSummary]) -> str:
    head = "".join(f"<th class='{s}'>{s}</th>" for s in STATUSES)
    rows = []
    for run in reversed(runs):
        cells = "".join(
            f"<td class='n {s if run.counts.get(s) else 'zero'}'>{run.counts.get(s, 0)}</td>" for s in STATUSES
        )
        link = escape(f"{env_dir.name}/{run.run_id}/report.html")
        took = format_duration((run.finished - run.started).total_seconds())
        rows.append(
            f"<tr><td><a href='{link}'>{escape(run.run_id)}</a></td><td>{run.started:%Y-%m-%d %H:%M:%S}</td>"
            f"<td class='n'>{took}</td><td class='n{' bad critical' if run.exit_status else ''}'>{run.exit_status}</td>"
            f"{cells}</tr>"
        )
    return f"<table><tr><th>run</th><th>started (UTC)</th><th>took</th><th>exit</th>{head}</tr>{''.join(rows)}</table>"


def _capacity_figure(f: Forecast) -> str:
    s, m = f.series, f.series.last
    rules = [
        Rule(level, threshold, COLOURS[Status(level)])
        for level, threshold in (("warning", m.warning), ("critical", m.critical))
        if threshold is not None
    ]
    line = Line(m.name, [(p.at, p.value) for p in s.points], "#2f5fb3")
    [row] = forecast_rows([f])
    growth = "" if f.slope_per_day is None else f" · growth {row[4]}/day"
    return (
        f"<figure><figcaption><b>{escape(s.check)} · {escape(m.name)}</b> {escape(s.about)}<br>"
        f"{escape(m.label)} now {escape(row[3])}{escape(growth)} · warning {escape(row[5])} · "
        f"critical {escape(row[6])}</figcaption>"
        f"{chart([line], m.unit, rules, title=f'{s.check} {m.name} {s.about}')}</figure>"
    )


def _measurements_table(series: list[Series]) -> str:
    rows = []
    for s in series:
        values, unit = [p.value for p in s.points], s.last.unit
        span = f"{format_quantity(min(values), unit)} to {format_quantity(max(values), unit)}"
        rows.append(
            f"<tr><td>{escape(s.check)}</td><td>{escape(s.last.name)}</td><td>{escape(s.about)}</td>"
            f"<td class='n {s.points[-1].status}'>{escape(format_quantity(values[-1], unit))}</td>"
            f"<td class='n'>{escape(span)}</td><td>{sparkline(values)}</td><td class='n'>{len(values)}</td></tr>"
        )
    return (
        "<table><tr><th>check</th><th>measurement</th><th>of</th><th>latest</th><th>lowest to highest</th>"
        f"<th>over the kept runs</th><th>runs</th></tr>{''.join(rows)}</table>"
    )


def environment_section(env_dir: Path, now: dt.datetime) -> str:
    folders = run_folders(env_dir)
    runs = newest_runs(folders, INDEX_RUNS)
    if not runs:
        return ""
    name = runs[-1].environment
    series = measurement_series(runs)
    counts = [Line(s.value, [(r.started, r.counts.get(s, 0)) for r in runs], COLOURS[s]) for s in STATUSES]
    counts = [line for line in counts if any(v for _, v in line.points)]
    forecasts = forecasts_of(series, now)
    figures = "".join(_capacity_figure(f) for f in forecasts)
    return (
        f"<section id='env-{escape(env_dir.name)}'><h2>{escape(name)}</h2>"
        f"<p>{_kept(folders, runs)} to {runs[-1].started:%Y-%m-%d %H:%M} UTC; "
        f"latest: <a href='{escape(env_dir.name)}/{escape(runs[-1].run_id)}/report.html'>"
        f"{escape(runs[-1].run_id)}</a></p>"
        f"<h3>Status counts per run</h3>"
        f"{chart(counts, Unit.COUNT, title=f'{name}: status counts per run', width=1200, height=200)}"
        f"<h3>Capacity</h3>{forecast_table(forecasts)}<div class='cards'>{figures}</div>"
        f"<h3>Runs</h3>{_runs_table(env_dir, runs)}"
        f"<h3>Measurements</h3>{_measurements_table(series)}</section>"
    )


def _kept(folders: list[Path], runs: list[RunSummary]) -> str:
    """`N runs kept, from <day>`; past INDEX_RUNS, the kept runs are counted by their folders and
    the page says how many of the newest it shows."""
    if len(folders) <= INDEX_RUNS:
        return f"{len(runs)} run{'s' if len(runs) != 1 else ''} kept, from {runs[0].started:%Y-%m-%d}"
    oldest = run_time(folders[0].name) or runs[0].started
    return f"{len(folders)} runs kept (the newest {len(runs)} below), from {oldest:%Y-%m-%d}"


def render_index(report_dir: Path, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    envs = environments(report_dir)
    nav = " ".join(f"<a href='#env-{escape(p.name)}'>{escape(p.name)}</a>" for p in envs)
    sections = "".join(environment_section(p, now) for p in envs)
    body = (
        f"<h1>Sergas check runs</h1><p class='muted'>Written {now:%Y-%m-%d %H:%M} UTC. Forecasts: a least-squares "
        "line through the last 30 days of each capacity measurement, to where it meets the threshold.</p>"
        f"<nav>{nav}</nav>{sections or '<p>No run archived yet.</p>'}"
    )
    return html_page("Sergas check runs", body)


def write_index(report_dir: Path, now: dt.datetime | None = None) -> Path:
    """Write `reports/index.html` again, atomically and one writer at a time."""
    index = report_dir / "index.html"
    with FileLock(str(report_dir / ".index.lock")):
        write_atomic(index, render_index(report_dir, now))
    return index
