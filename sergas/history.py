"""Measurements of earlier archived runs: for growth, and for counters that are cumulative on
the server (Redis INFO stats) and mean something only as a difference."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

# How many earlier runs to look through for the last measurement of a check.
HISTORY_DEPTH = 50


@dataclass(frozen=True)
class Earlier:
    """Measurements of one check on one target in an earlier archived run."""

    values: dict[str, float]
    at: dt.datetime
    run_id: str


def earlier_measurements(run_root: Path, check_id: str, target: str, names: tuple[str, ...]) -> Earlier | None:
    """The newest earlier run in which `check_id` on `target` measured all of `names`.

    Runs are the sibling folders of this run in the archive (`reports/<env>/<timestamp>`);
    summaries that cannot be read are passed over. Measurements are found by their stable name.
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
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for record in summary.get("checks", []):
            if record.get("id") != check_id or record.get("target") != target:
                continue
            values = {
                m["name"]: float(m["value"])
                for m in record.get("measurements", [])
                if m.get("name") in names and not m.get("labels") and isinstance(m.get("value"), int | float)
            }
            if len(values) == len(names):
                return Earlier(values, started, run.name)
    return None
