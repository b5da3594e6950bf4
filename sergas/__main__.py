"""`python -m sergas report capacity|weekly --env NAME`: reports read from the run archive.

NAME is the environment's archive folder (`reports/<NAME>/`); the environment file is not read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from sergas.config import ENVIRONMENTS_DIR
from sergas.forecast import FORECAST_HEADER, WINDOW_DAYS, forecast_rows
from sergas.history import load_runs, measurement_series, run_folders
from sergas.index import forecasts_of
from sergas.weekly import write_weekly

REPORT_DIR = ENVIRONMENTS_DIR.parent / "reports"


def text_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]
    )


def capacity(env_dir: Path) -> str:
    now = dt.datetime.now(dt.UTC)
    runs = load_runs(env_dir, now - dt.timedelta(days=WINDOW_DAYS))
    rows = forecast_rows(forecasts_of(measurement_series(runs), now))
    title = f"Capacity forecast of {env_dir.name}: {len(runs)} runs of the last {WINDOW_DAYS} days, least squares"
    return f"{title}\n{text_table(FORECAST_HEADER, rows)}" if rows else f"{title}\nno capacity measurement"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sergas", description=__doc__)
    reports = parser.add_subparsers(dest="command", required=True).add_parser("report", help="reports of the archive")
    kinds = reports.add_subparsers(dest="kind", required=True)
    for kind, text in (("capacity", "print the capacity forecast"), ("weekly", "write the weekly HTML report")):
        sub = kinds.add_parser(kind, help=text)
        sub.add_argument("--env", required=True, metavar="NAME", help="the environment's folder in the archive")
        sub.add_argument("--report-dir", type=Path, default=REPORT_DIR, metavar="DIR", help=f"default {REPORT_DIR}")
        if kind == "weekly":
            sub.add_argument("--out", type=Path, metavar="FILE", help="default DIR/NAME/weekly-<date>.html")
    args = parser.parse_args(argv)
    env_dir = args.report_dir / args.env
    if "/" in args.env or not env_dir.is_dir() or not run_folders(env_dir):
        print(f"no runs of {args.env!r} archived in {args.report_dir}", file=sys.stderr)
        return 2
    print(capacity(env_dir) if args.kind == "capacity" else write_weekly(env_dir, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
