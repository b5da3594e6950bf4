"""sergas.index: `reports/index.html`, the history of every environment on one page."""

from __future__ import annotations

import datetime as dt
import re
import threading
from pathlib import Path

import pytest

from sergas import history
from sergas.index import INDEX_RUNS, render_index, write_index
from sergas.record import CheckRecord, RunSummary
from sergas.status import Status
from sergas.units import Unit
from tests.unit.builders import T0, measurement, record
from tests.unit.test_history import disk, run_at

NOW = T0 + dt.timedelta(days=3, hours=1)


def day(n: int) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def size(value: float) -> CheckRecord:
    gib = 2**30
    return record(
        check_id="postgres.database_size",
        measurements=[measurement("size", value, Unit.BYTES, warning=50 * gib, critical=100 * gib)],
    )


def latency(value: float) -> CheckRecord:
    return record(check_id="app.health_endpoint", measurements=[measurement("latency", value, Unit.SECONDS)])


def test_runs_of_each_environment_newest_first(tmp_path: Path) -> None:
    run_at(tmp_path / "prod", day(0), [disk(40), record(Status.CRITICAL), record(Status.CRITICAL, target="db2")])
    run_at(tmp_path / "prod", day(1), [disk(41), record(Status.OK)], exit_status=1)
    run_at(tmp_path / "staging", day(2), [disk(20, status=Status.WARNING)], environment="staging")
    (tmp_path / "prod" / "latest").symlink_to("20240502T060000Z")
    (tmp_path / "prod" / "20240504T060000Z").mkdir()  # still running: no summary
    (tmp_path / "prod" / "notes").mkdir()
    page = write_index(tmp_path, NOW).read_text()

    assert (
        page.startswith("<!doctype html>")
        and "<script" not in page
        and "http" not in page.replace("xmlns='http://www.w3.org/2000/svg'", "")
    )
    assert page.index("<h2>prod</h2>") < page.index("<h2>staging</h2>")
    assert "<a href='#env-prod'>prod</a> <a href='#env-staging'>staging</a>" in page
    prod = page[page.index("<h2>prod</h2>") : page.index("<h2>staging</h2>")]
    assert re.findall(r"<tr><td><a href='([^']+)'>", prod) == [
        "prod/20240502T060000Z/report.html",
        "prod/20240501T060000Z/report.html",
    ]
    assert (
        "<tr><td><a href='prod/20240501T060000Z/report.html'>20240501T060000Z</a></td><td>2024-05-01 06:00:00</td>"
        "<td class='n'>42s</td><td class='n'>0</td><td class='n ok'>1</td><td class='n zero'>0</td>"
        "<td class='n critical'>2</td><td class='n zero'>0</td><td class='n zero'>0</td><td class='n zero'>0</td></tr>"
    ) in prod
    assert "<td class='n bad critical'>1</td>" in prod  # exit status
    assert "2 runs kept, from 2024-05-01 to 2024-05-02 06:00 UTC" in prod
    assert "20240504T060000Z" not in page and "notes" not in page
    # The status counts over time: a line per status that occurred.
    counts = re.search(r"<svg class='chart'[^>]*><title>prod: status counts per run</title>.*?</svg>", prod)
    assert counts is not None and counts.group(0).count("<polyline") == 2


def test_capacity_charts_with_thresholds_and_forecast(tmp_path: Path) -> None:
    for n in range(4):
        run_at(tmp_path / "prod", day(n), [disk(40 + 2 * n), size(2**30 * (1 + n)), latency(0.1 * (n + 1))])
    page = render_index(tmp_path, NOW)
    figures = re.findall(r"<figure>.*?</figure>", page)
    assert [re.search(r"<b>(.*?)</b>", f).group(1) for f in figures] == [  # type: ignore[union-attr]
        "host.disk_space · blocks",
        "postgres.database_size · size",
    ]
    disk_figure = figures[0]
    assert "localhost mount=/" in disk_figure and "now 46% · growth +2%/day · warning 80%: 2024-05-21" in disk_figure
    assert "critical 90%: 2024-05-26" in disk_figure
    assert len(re.findall(r"<line class='rule warning'", disk_figure)) == 1
    assert len(re.findall(r"<line class='rule critical'", disk_figure)) == 1
    assert ">warning 80%</text>" in disk_figure and ">critical 90%</text>" in disk_figure
    assert "warning 50.0 GiB: 2024-06-19" in figures[1]
    # Every numeric measurement has its row and sparkline, capacity or not.
    rows = re.findall(r"<tr><td>([a-z._]+)</td><td>([a-z_]+)</td><td>[^<]*</td><td class='n ok'>([^<]+)</td>", page)
    assert rows == [
        ("app.health_endpoint", "latency", "400ms"),
        ("host.disk_space", "blocks", "46%"),
        ("postgres.database_size", "size", "4.0 GiB"),
    ]
    assert page.count("<svg class='spark'") == 3


def test_escapes_what_it_shows(tmp_path: Path) -> None:
    run_at(tmp_path / "a<b>", day(0), [record(check_id="x<y>", target="t'&")], environment="a<b>")
    page = render_index(tmp_path, NOW)
    assert "<h2>a&lt;b&gt;</h2>" in page and "x&lt;y&gt;" in page and "t&#x27;&amp;" in page
    assert "a<b>" not in page and "x<y>" not in page


def test_nothing_archived(tmp_path: Path) -> None:
    assert "No run archived yet." in render_index(tmp_path, NOW)


def test_written_whole_one_writer_at_a_time(tmp_path: Path) -> None:
    for n in range(5):
        run_at(tmp_path / "prod", day(n), [disk(40 + n)])
    threads = [threading.Thread(target=write_index, args=(tmp_path, NOW)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".index.lock", "index.html", "prod"]
    assert (tmp_path / "index.html").read_text() == render_index(tmp_path, NOW)


def test_no_forecast_of_what_was_not_measured_lately(tmp_path: Path) -> None:
    for n in range(3):
        run_at(tmp_path / "prod", day(n), [disk(40 + n), size(2**30)])
    run_at(tmp_path / "prod", day(40), [size(2**30)])  # the disk not measured for 38 days
    page = render_index(tmp_path, day(40))
    assert [re.search(r"<b>(.*?)</b>", f).group(1) for f in re.findall(r"<figure>.*?</figure>", page)] == [  # type: ignore[union-attr]
        "postgres.database_size · size"
    ]
    assert "<td>host.disk_space</td><td>blocks</td>" in page  # still in the measurements' table


def test_reads_only_the_newest_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run writes the index: past INDEX_RUNS it reads that many summaries, not every kept one."""
    kept = INDEX_RUNS + 5
    for n in range(kept):
        run_at(tmp_path / "prod", day(0) + dt.timedelta(hours=n), [disk(40 + n * 0.1)])
    read: list[Path] = []
    real = history.read_summary

    def counted(run: Path) -> RunSummary | None:
        read.append(run)
        return real(run)

    monkeypatch.setattr(history, "read_summary", counted)
    page = render_index(tmp_path, NOW)

    assert len(read) == INDEX_RUNS
    newest = day(0) + dt.timedelta(hours=kept - 1)
    assert (
        f"{kept} runs kept (the newest {INDEX_RUNS} below), from {day(0):%Y-%m-%d} to {newest:%Y-%m-%d %H:%M} UTC"
        in page
    )
    rows = re.findall(r"<tr><td><a href='prod/(\w+)/report.html'>", page)
    assert len(rows) == INDEX_RUNS and rows[0] == f"{newest:%Y%m%dT%H%M%SZ}"
