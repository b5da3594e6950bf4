"""What the PostgreSQL checks need beyond a session: earlier runs' measurements (for growth)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.reporting import ARCHIVE_KEY

# How many earlier runs to look through for the last measurement of a check.
HISTORY_DEPTH = 50


@dataclass(frozen=True)
class Earlier:
    """A measurement from an earlier archived run."""

    value: float
    at: dt.datetime
    run_id: str


def earlier_measurement(run_root: Path, check_id: str, target: str, name: str) -> Earlier | None:
    """The newest earlier run's value of measurement `name` of `check_id` on `target`.

    Runs are the sibling folders of this run in the archive (`reports/<env>/<timestamp>`);
    summaries that cannot be read are passed over.
    """
    runs = sorted(
        (p for p in run_root.parent.iterdir() if p.is_dir() and not p.is_symlink() and p.name < run_root.name),
        key=lambda p: p.name,
        reverse=True,
    )
    for run in runs[:HISTORY_DEPTH]:
        try:
            summary = json.loads((run / "summary.json").read_text())
            started = dt.datetime.fromisoformat(summary["started"])
        except (OSError, ValueError, KeyError):
            continue
        for record in summary.get("checks", []):
            if record.get("id") != check_id or record.get("target") != target:
                continue
            for m in record.get("measurements", []):
                if m.get("name") == name and isinstance(m.get("value"), int | float):
                    return Earlier(float(m["value"]), started, run.name)
    return None


EarlierLookup = Callable[[str, str, str], Earlier | None]


@pytest.fixture
def earlier(request: pytest.FixtureRequest) -> EarlierLookup:
    """`earlier(check_id, target, measurement)`: that measurement in the newest earlier run
    archived for this environment, or None (first run, or no archive)."""
    archive = request.config.stash.get(ARCHIVE_KEY, None)

    def lookup(check_id: str, target: str, name: str) -> Earlier | None:
        if archive is None:
            return None
        return earlier_measurement(archive.root, check_id, target, name)

    return lookup
