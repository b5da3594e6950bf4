"""The files of one archived run, and their pruning (no pytest here).

`reports/<env>/<UTC timestamp>/` holds what the outputs write (report.html, junit.xml,
summary.json) and `actions.jsonl`; `.state/` is scratch space the run's processes share while
it runs; `latest` points at the newest complete run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from sergas.record import ActionRecord, CheckRecord, RunSummary, section_of
from sergas.status import Status


@dataclass(frozen=True)
class Archive:
    root: Path

    @classmethod
    def create(cls, report_dir: Path, env_name: str) -> Archive:
        """A new folder `<report_dir>/<env>/<UTC timestamp>`, unique even for runs in the same second."""
        base = report_dir / env_name
        base.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        for n in range(1000):
            root = base / (stamp if n == 0 else f"{stamp}-{n}")
            try:
                root.mkdir()
            except FileExistsError:
                continue
            archive = cls(root.resolve())
            archive.state_dir.mkdir()
            return archive
        raise RuntimeError(f"cannot create a run folder under {base}")

    @property
    def run_id(self) -> str:
        return self.root.name

    @property
    def state_dir(self) -> Path:
        """Scratch space shared by the run's processes (xdist workers); removed at the end."""
        return self.root / ".state"

    @property
    def html(self) -> Path:
        return self.root / "report.html"

    @property
    def junit(self) -> Path:
        return self.root / "junit.xml"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def actions(self) -> Path:
        """The audit log: one JSON line per remediation offered, applied or refused."""
        return self.root / "actions.jsonl"

    def write_catalog(self, worker: str, checks: dict[str, tuple[str, str, list[str]]]) -> None:
        """nodeid -> (check id, title, markers), so a check whose worker crashed can still be named."""
        (self.state_dir / f"nodes-{worker}.json").write_text(json.dumps(checks))

    def catalogued(self) -> set[str]:
        """Every check selected to run, by node id (from each process's catalog)."""
        return {nodeid for path in self.state_dir.glob("nodes-*.json") for nodeid in json.loads(path.read_text())}

    def crash_record(self, nodeid: str, reason: str) -> CheckRecord:
        """The record of a check whose xdist worker died while running it: unknown."""
        check_id, title, markers = "?", "", list[str]()
        for path in self.state_dir.glob("nodes-*.json"):
            check_id, title, markers = json.loads(path.read_text()).get(nodeid, (check_id, title, markers))
        target = nodeid.rsplit("[", 1)[1].rstrip("]") if nodeid.endswith("]") else "-"
        return CheckRecord(
            id=check_id,
            title=title,
            section=section_of(markers),
            markers=markers,
            nodeid=nodeid,
            target=target,
            status=Status.UNKNOWN,
            message=f"{target}: could not evaluate: {reason}",
        )

    def append_actions(self, records: list[ActionRecord]) -> None:
        """Append remediation records to the run's audit log (workers append concurrently)."""
        if not records:
            return
        with FileLock(str(self.state_dir / "actions.lock")), self.actions.open("a") as out:
            for record in records:
                out.write(record.model_dump_json() + "\n")

    def write_summary(self, summary: RunSummary) -> None:
        self.write(self.summary, summary.to_json().encode())

    def write(self, path: Path, data: bytes) -> None:
        """Write a file of the run atomically: a reader (the index, a later run) sees the whole
        file or none of it, also when the disk fills up on the way."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(data)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)

    def adopt(self, written: Path, name: str) -> None:
        """Copy a file written elsewhere (a user's --html path) into the archive as `name`."""
        own = self.root / name
        if written.is_file() and written.resolve() != own:
            shutil.copyfile(written, own)

    def seal(self, mask: Callable[[str], str]) -> None:
        """End the run: mask secrets in every archived file (the last guard, after each
        writer's own masking), drop the scratch folder, point `latest` at this run."""
        for path in self.root.iterdir():
            if path.is_file():
                mask_file(path, mask)
        for path in sorted(self.state_dir.glob("*"), reverse=True):
            path.unlink()
        self.state_dir.rmdir()
        latest = self.root.parent / "latest"
        tmp = self.root.parent / f".latest-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(self.root.name)
        tmp.replace(latest)


def mask_file(path: Path, mask: Callable[[str], str]) -> None:
    """Rewrite `path` with secrets masked, when it holds any."""
    text = path.read_text(errors="replace")
    masked = mask(text)
    if masked != text:
        path.write_text(masked)


def run_time(name: str) -> dt.datetime | None:
    """When a run folder's run started, from its name (`20240501T060000Z`, `...-1`); None when
    the name is not a run folder's."""
    if not RUN_NAME.fullmatch(name):
        return None
    try:
        return dt.datetime.strptime(name[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:  # 20241399T...: a run's name in shape only
        return None


def prune_runs(env_dir: Path, keep_days: int, current: Path, now: dt.datetime | None = None) -> list[Path]:
    """Delete the run folders of `reports/<env>/` that started more than `keep_days` ago.

    Only folders named as runs are touched, never a symlink (nor anything through one), never
    `current` nor the run `latest` points at; returns what was deleted, oldest first. A folder
    that cannot be deleted is left (partly) in place: pruning never fails the run."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=keep_days)
    latest = env_dir / "latest"
    spared = {current.name, Path(os.readlink(latest)).name if latest.is_symlink() else ""}
    pruned = []
    for path in sorted(env_dir.iterdir()):
        started = run_time(path.name)
        if started is None or started >= cutoff or path.name in spared or path.is_symlink() or not path.is_dir():
            continue
        try:
            shutil.rmtree(path)  # removes the symlinks inside, never what they point at
        except OSError:
            continue
        pruned.append(path)
    return pruned


RUN_NAME = re.compile(r"\d{8}T\d{6}Z(-\d+)?")
