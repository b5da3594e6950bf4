"""sergas.archive: one folder per run, its scratch space, the audit log, sealing, the index."""

from __future__ import annotations

import datetime as dt
import json
import os
import types
from pathlib import Path

import pytest

import sergas.archive
from sergas.archive import Archive, mask_file
from sergas.record import ActionRecord, RunSummary
from sergas.status import Status
from tests.unit.builders import one_per_status, summary


class _FrozenDatetime(dt.datetime):
    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> _FrozenDatetime:
        return cls(2024, 5, 1, 6, 0, 0, tzinfo=tz)


@pytest.fixture
def same_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run starts at 2024-05-01 06:00:00 UTC."""
    monkeypatch.setattr(sergas.archive, "dt", types.SimpleNamespace(datetime=_FrozenDatetime, UTC=dt.UTC))


def action(decision: str = "applied") -> ActionRecord:
    return ActionRecord(
        time="2024-05-01T06:00:01Z",
        environment="prod",
        check="redis.sessions",
        target="127.0.0.1:6379",
        action="expire_sessions",
        risk="low",
        decision=decision,
        plan=["EXPIRE 12 keys"],
        steps=["expired 12 keys"],
        result="ok",
        duration_s=0.5,
    )


@pytest.mark.usefixtures("same_second")
def test_runs_in_the_same_second_get_their_own_folders(tmp_path: Path) -> None:
    first, second, third = (Archive.create(tmp_path / "reports", "prod") for _ in range(3))
    assert [a.run_id for a in (first, second, third)] == [
        "20240501T060000Z",
        "20240501T060000Z-1",
        "20240501T060000Z-2",
    ]
    assert first.root == (tmp_path / "reports" / "prod" / "20240501T060000Z").resolve()
    assert all(a.state_dir.is_dir() and a.state_dir.name == ".state" for a in (first, second, third))
    assert [p.name for p in first.root.iterdir()] == [".state"]


def test_run_folder_is_a_utc_stamp(tmp_path: Path) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    archive = Archive.create(tmp_path, "staging")
    after = dt.datetime.now(dt.UTC)
    stamp = dt.datetime.strptime(archive.run_id, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    assert before <= stamp <= after
    assert archive.root.parent == (tmp_path / "staging").resolve()


def test_file_names(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    names = (archive.html, archive.junit, archive.summary, archive.actions, archive.state_dir)
    assert [p.name for p in names] == ["report.html", "junit.xml", "summary.json", "actions.jsonl", ".state"]


def test_append_actions_writes_json_lines(tmp_path: Path) -> None:
    archive = Archive.create(tmp_path, "prod")
    archive.append_actions([])
    assert not archive.actions.exists()
    archive.append_actions([action("planned")])
    archive.append_actions([action("applied"), action("refused")])
    lines = archive.actions.read_text().splitlines()
    assert [json.loads(line)["decision"] for line in lines] == ["planned", "applied", "refused"]
    assert ActionRecord.model_validate_json(lines[1]) == action("applied")


def test_crash_record_names_the_check_from_the_catalog(tmp_path: Path) -> None:
    archive = Archive.create(tmp_path, "prod")
    nodeid = "checks/daily/test_postgres.py::test_connections[127.0.0.1:5432/sergas]"
    archive.write_catalog("gw0", {"checks/x.py::test_other": ("app.health", "Health", ["daily"])})
    archive.write_catalog("gw1", {nodeid: ("postgres.connections", "Connections in use", ["daily", "postgres"])})
    crashed = archive.crash_record(nodeid, "worker 'gw1' crashed while running it")
    assert (crashed.id, crashed.title, crashed.section, crashed.markers) == (
        "postgres.connections",
        "Connections in use",
        "daily",
        ["daily", "postgres"],
    )
    assert (crashed.target, crashed.status) == ("127.0.0.1:5432/sergas", Status.UNKNOWN)
    assert crashed.message == "127.0.0.1:5432/sergas: could not evaluate: worker 'gw1' crashed while running it"


def test_crash_record_of_an_uncatalogued_check(tmp_path: Path) -> None:
    archive = Archive.create(tmp_path, "prod")
    crashed = archive.crash_record("checks/x.py::test_y", "boom")
    assert (crashed.id, crashed.title, crashed.section, crashed.target) == ("?", "", "", "-")
    assert crashed.message == "-: could not evaluate: boom"


def test_write_summary(tmp_path: Path) -> None:
    archive = Archive.create(tmp_path, "prod")
    run = summary(one_per_status(), run_id=archive.run_id)
    archive.write_summary(run)
    assert RunSummary.model_validate_json(archive.summary.read_text()) == run


def test_seal_masks_drops_scratch_and_points_latest(tmp_path: Path) -> None:
    first = Archive.create(tmp_path, "prod")
    first.seal(str)
    archive = Archive.create(tmp_path, "prod")
    archive.html.write_text("<p>dsn postgresql://u:hunter22@db1/x</p>")
    archive.junit.write_text("<testsuite/>")
    archive.append_actions([action()])
    archive.write_catalog("gw0", {})
    archive.seal(lambda text: text.replace("hunter22", "***"))
    assert archive.html.read_text() == "<p>dsn postgresql://u:***@db1/x</p>"
    assert archive.junit.read_text() == "<testsuite/>"
    assert not archive.state_dir.exists()
    latest = archive.root.parent / "latest"
    assert os.readlink(latest) == archive.run_id  # relative: the archive can move
    assert latest.resolve() == archive.root
    assert sorted(p.name for p in archive.root.iterdir()) == ["actions.jsonl", "junit.xml", "report.html"]
    assert not list(archive.root.parent.glob(".latest-*"))


def test_mask_file_rewrites_only_when_masked(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("token=abc123")
    before = path.stat().st_mtime_ns
    os.utime(path, ns=(before - 10**9, before - 10**9))
    mask_file(path, lambda t: t)
    assert path.stat().st_mtime_ns == before - 10**9
    mask_file(path, lambda t: t.replace("abc123", "***"))
    assert path.read_text() == "token=***"


def test_adopt_copies_a_file_written_elsewhere(tmp_path: Path) -> None:
    archive = Archive.create(tmp_path / "reports", "prod")
    written = tmp_path / "mine.html"
    written.write_text("<html/>")
    archive.adopt(written, "report.html")
    assert archive.html.read_text() == "<html/>"
    archive.adopt(tmp_path / "absent.html", "junit.xml")
    assert not archive.junit.exists()
