"""Benchmark: a run's wall time against the number of runs already archived for its environment.

One real `pytest --env demo -m daily` run gives the template summary; then one report folder per
size gets that many earlier runs (valid summary.json files written through sergas.record, one an
hour back from now, all inside `[reports] keep_days` so none is pruned), and `pytest --env demo
-m daily --report-dir <that folder>` runs against each, sizes interleaved round by round. Each
timed run adds one run to its folder (negligible beside the sizes). Also timed in process: the
index (`sergas.index.write_index`) and the previous-run lookup (`sergas.history.previous_summary`)
over each folder.

    .venv/bin/python bench/archive_history.py      # BENCH_REPEAT=5, BENCH_SIZES=10,1000

One sandbox is started (or the running one named by SERGAS_SANDBOX_STATE is used). Prints a
Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sandbox_env import sandbox_env  # noqa: E402
from sergas.history import previous_summary  # noqa: E402
from sergas.index import write_index  # noqa: E402
from sergas.record import RunSummary  # noqa: E402

REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "10,1000").split(",")]
ENV_NAME = "demo"


def fake_history(template: RunSummary, env_dir: Path, count: int, now: dt.datetime) -> None:
    """`count` archived runs before `now`, one an hour: the template's checks, its own run id and times."""
    env_dir.mkdir(parents=True)
    took = template.finished - template.started
    for n in range(count, 0, -1):
        started = (now - dt.timedelta(hours=n)).replace(microsecond=0)
        run_id = started.strftime("%Y%m%dT%H%M%SZ")
        summary = template.model_copy(update={"run_id": run_id, "started": started, "finished": started + took})
        (env_dir / run_id).mkdir()
        (env_dir / run_id / "summary.json").write_text(summary.to_json())


def in_process(report_dir: Path) -> tuple[float, float]:
    """Seconds to write the index, and to find the previous run, over `report_dir` as it is."""
    started = time.perf_counter()
    write_index(report_dir)
    index = time.perf_counter() - started
    started = time.perf_counter()
    previous_summary(report_dir / ENV_NAME / "99999999T999999Z")
    return index, time.perf_counter() - started


def main() -> None:
    load_before = os.getloadavg()[0]
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        env = sandbox_env(stack)
        pytest = [sys.executable, "-m", "pytest", f"--env={ENV_NAME}", "-m", "daily", "-q"]
        first = Path(tmp) / "template"
        subprocess.run([*pytest, f"--report-dir={first}"], cwd=ROOT, env=env, capture_output=True, check=False)
        template = RunSummary.model_validate_json((first / ENV_NAME / "latest" / "summary.json").read_bytes())
        now = dt.datetime.now(dt.UTC)
        folders = {n: Path(tmp) / f"runs-{n}" for n in SIZES}
        for n, folder in folders.items():
            fake_history(template, folder / ENV_NAME, n, now)
        walls: dict[int, list[float]] = {n: [] for n in SIZES}
        codes: dict[int, set[int]] = {n: set() for n in SIZES}
        for _ in range(REPEAT):
            for n, folder in folders.items():
                started = time.perf_counter()
                done = subprocess.run(
                    [*pytest, f"--report-dir={folder}"], cwd=ROOT, env=env, capture_output=True, check=False
                )
                walls[n].append(time.perf_counter() - started)
                codes[n].add(done.returncode)
        inside = {n: [in_process(folder) for _ in range(REPEAT)] for n, folder in folders.items()}
    base = statistics.median(walls[SIZES[0]])
    load_after = os.getloadavg()[0]
    print(f"{len(template.checks)} checks a run; load average {load_before:.2f} before, {load_after:.2f} after\n")
    print(
        f"| archived runs | `pytest --env demo -m daily` (median of {REPEAT}) | vs {SIZES[0]} runs "
        "| index written (in process) | previous run found (in process) | exit codes |"
    )
    print("|---|---|---|---|---|---|")
    for n in SIZES:
        median = statistics.median(walls[n])
        index = statistics.median(i for i, _ in inside[n])
        previous = statistics.median(p for _, p in inside[n])
        print(
            f"| {n:,} | {median:.2f} s | {median / base:.2f}x | {index * 1000:.0f} ms | {previous * 1000:.1f} ms "
            f"| {sorted(codes[n])} |"
        )


if __name__ == "__main__":
    main()
