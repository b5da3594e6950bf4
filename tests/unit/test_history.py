"""sergas.history: the last measurements of a check in earlier archived runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sergas.archive import prune_runs
from sergas.history import (
    HISTORY_DEPTH,
    Earlier,
    Point,
    earlier_measurements,
    environments,
    load_runs,
    measurement_series,
    run_folders,
)
from sergas.record import CheckRecord, Measurement, RunSummary
from sergas.status import Status
from sergas.units import Unit
from tests.unit.builders import T0, TARGET, measurement, record, summary

CHECK = "redis.stats"
NAMES = ("keyspace_hits", "keyspace_misses")


def hits(hit: float | None, miss: float | None = 10.0, **kw: object) -> list[Measurement]:
    return [measurement("keyspace_hits", hit, Unit.COUNT, **kw), measurement("keyspace_misses", miss, Unit.COUNT)]


def archived(env_dir: Path, run_id: str, measurements: list[Measurement], target: str = TARGET) -> Path:
    root = env_dir / run_id
    root.mkdir(parents=True, exist_ok=True)
    checks = [record(Status.OK, check_id=CHECK, target=target, measurements=measurements)]
    (root / "summary.json").write_text(summary(checks, run_id=run_id).to_json())
    return root


@pytest.fixture
def current(tmp_path: Path) -> Path:
    """This run's folder (its own summary is not written yet)."""
    root = tmp_path / "prod" / "20240510T060000Z"
    root.mkdir(parents=True)
    return root


def test_newest_earlier_run_is_found(current: Path) -> None:
    archived(current.parent, "20240508T060000Z", hits(100))
    archived(current.parent, "20240509T060000Z", hits(250, 12))
    archived(current.parent, "20240511T060000Z", hits(999))  # later than this run: not earlier
    (current.parent / "latest").symlink_to("20240511T060000Z")
    assert earlier_measurements(current, CHECK, TARGET, NAMES) == Earlier(
        {"keyspace_hits": 250.0, "keyspace_misses": 12.0}, T0, "20240509T060000Z"
    )


def test_nothing_earlier(current: Path) -> None:
    assert earlier_measurements(current, CHECK, TARGET, NAMES) is None


@pytest.mark.parametrize(
    "newest",
    [
        pytest.param(hits(None), id="no-data"),
        pytest.param(hits(5, labels={"db": "0"}), id="labelled"),
        pytest.param(hits(5)[:1], id="one-name-missing"),
        pytest.param("{broken", id="unreadable"),
        pytest.param('{"checks": []}', id="no-started"),
        pytest.param(None, id="no-summary"),
    ],
)
def test_runs_without_all_values_are_passed_over(current: Path, newest: list[Measurement] | str | None) -> None:
    archived(current.parent, "20240508T060000Z", hits(100))
    folder = current.parent / "20240509T060000Z"
    if isinstance(newest, list):
        archived(current.parent, folder.name, newest)
    else:
        folder.mkdir()
        if newest is not None:
            (folder / "summary.json").write_text(newest)
    found = earlier_measurements(current, CHECK, TARGET, NAMES)
    assert found is not None and (found.run_id, found.values["keyspace_hits"]) == ("20240508T060000Z", 100.0)


def test_other_targets_and_checks_are_not_taken(current: Path) -> None:
    archived(current.parent, "20240509T060000Z", hits(100), target="10.0.0.9:6379")
    assert earlier_measurements(current, CHECK, TARGET, NAMES) is None
    assert earlier_measurements(current, "redis.memory", "10.0.0.9:6379", NAMES) is None
    found = earlier_measurements(current, CHECK, "10.0.0.9:6379", ("keyspace_hits",))
    assert found is not None and found.values == {"keyspace_hits": 100.0}


def test_history_depth_is_bounded(current: Path) -> None:
    archived(current.parent, "20240101T000000Z", hits(1))
    start = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    for n in range(HISTORY_DEPTH):
        (current.parent / (start + dt.timedelta(minutes=n)).strftime("%Y%m%dT%H%M%SZ")).mkdir()
    assert earlier_measurements(current, CHECK, TARGET, NAMES) is None


def test_started_is_read_as_a_datetime(current: Path) -> None:
    archived(current.parent, "20240509T060000Z", hits(1))
    found = earlier_measurements(current, CHECK, TARGET, NAMES)
    assert found is not None and found.at == dt.datetime(2024, 5, 1, 6, tzinfo=dt.UTC) and found.at.tzinfo is not None


# --- the kept runs of an environment as series (the index, the forecast, the weekly report)


def run_at(
    env_dir: Path, at: dt.datetime, checks: list[CheckRecord], *, exit_status: int = 0, environment: str = "prod"
) -> RunSummary:
    """A run archived in `env_dir` as the suite does it: its folder named by its start time."""
    run = RunSummary.of(
        run_id=at.strftime("%Y%m%dT%H%M%SZ"),
        environment=environment,
        started=at,
        finished=at + dt.timedelta(seconds=42),
        exit_status=exit_status,
        checks=checks,
    )
    (env_dir / run.run_id).mkdir(parents=True)
    (env_dir / run.run_id / "summary.json").write_text(run.to_json())
    return run


def disk(used: float, mount: str = "/", status: Status = Status.OK, warning: float = 80) -> CheckRecord:
    blocks = measurement("blocks", used, Unit.PERCENT, warning=warning, critical=90, labels={"mount": mount})
    return record(status, check_id="host.disk_space", target="localhost", measurements=[blocks])


def test_run_folders_are_runs_only(tmp_path: Path) -> None:
    (tmp_path / "reports" / "staging").mkdir(parents=True)  # no run in it
    tmp_path = tmp_path / "reports" / "prod"
    tmp_path.mkdir()
    for name in ("20240502T060000Z", "20240501T060000Z-1", "20240501T060000Z", "notes", "20241399T060000Z"):
        (tmp_path / name).mkdir()
    (tmp_path / "20240503T060000Z").write_text("a file")
    (tmp_path / "20240504T060000Z").symlink_to("20240502T060000Z")
    (tmp_path / "latest").symlink_to("20240502T060000Z")
    assert [p.name for p in run_folders(tmp_path)] == ["20240501T060000Z", "20240501T060000Z-1", "20240502T060000Z"]
    assert [p.name for p in run_folders(tmp_path, since=T0 + dt.timedelta(hours=1))] == ["20240502T060000Z"]
    assert environments(tmp_path.parent) == [tmp_path] and environments(tmp_path / "absent") == []


def test_load_runs_passes_over_unreadable_summaries(tmp_path: Path) -> None:
    first = run_at(tmp_path, T0, [disk(40)])
    (tmp_path / "20240501T070000Z").mkdir()  # still running
    (tmp_path / "20240501T080000Z").mkdir()
    (tmp_path / "20240501T080000Z" / "summary.json").write_text('{"schema_version": 1}')
    second = run_at(tmp_path, T0 + dt.timedelta(days=1), [disk(41)])
    assert load_runs(tmp_path) == [first, second]
    assert load_runs(tmp_path, since=T0 + dt.timedelta(hours=1)) == [second]


def test_series_are_keyed_by_check_target_name_and_labels(tmp_path: Path) -> None:
    runs = [
        run_at(tmp_path, T0, [disk(40), disk(20, "/var")]),
        run_at(tmp_path, T0 + dt.timedelta(days=1), [disk(41), record(measurements=[measurement(value=None)])]),
        run_at(tmp_path, T0 + dt.timedelta(days=2), [disk(42), disk(45, "/var", warning=70)]),  # the newest thresholds
    ]
    series = measurement_series(runs)
    assert [(s.check, s.about, [p.value for p in s.points]) for s in series] == [
        ("host.disk_space", "localhost mount=/", [40, 41, 42]),
        ("host.disk_space", "localhost mount=/var", [20, 45]),
    ]
    assert series[1].last.warning == 70 and series[1].labels == (("mount", "/var"),)
    assert series[0].points[-1] == Point(T0 + dt.timedelta(days=2), 42, Status.OK, "20240503T060000Z")


def test_pruning_keeps_the_recent_the_current_and_what_is_not_a_run(tmp_path: Path) -> None:
    env_dir = tmp_path / "prod"
    now = T0 + dt.timedelta(days=100)
    old = [run_at(env_dir, T0 + dt.timedelta(days=d), [disk(40)]).run_id for d in (0, 1, 2, 3)]
    recent = run_at(env_dir, now - dt.timedelta(days=89), [disk(40)]).run_id
    (env_dir / "latest").symlink_to(old[1])  # an older run is still the latest complete one
    (env_dir / "20240101T000000Z-notes").mkdir()
    (env_dir / "weekly-2024-01-01.html").write_text("")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("")
    (env_dir / "20240101T000000Z").symlink_to(elsewhere)  # named as a run, but a link: left alone
    (env_dir / old[2] / "out").symlink_to(elsewhere)  # a link inside a pruned run: only the link goes
    current = env_dir / old[3]

    pruned = prune_runs(env_dir, 90, current, now)

    assert [p.name for p in pruned] == [old[0], old[2]]
    left = {p.name for p in env_dir.iterdir()}
    assert left == {
        old[1],
        old[3],
        recent,
        "latest",
        "20240101T000000Z-notes",
        "weekly-2024-01-01.html",
        "20240101T000000Z",
    }
    assert (elsewhere / "keep.txt").exists()
    assert prune_runs(env_dir, 90, current, now) == []
