"""sergas.history: the last measurements of a check in earlier archived runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sergas.history import HISTORY_DEPTH, Earlier, earlier_measurements
from sergas.record import Measurement
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
