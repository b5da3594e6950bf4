"""Benchmark: the morning check as pytest (`pytest --env demo -m daily`) beside the manual's
daily-health-check.sh, against one sandbox started once, plus the sandbox's own start time.

Run with `make bench`; prints a Markdown table for BENCHMARKS.md. Wall times on a shared
machine are noisy: each command runs several times and the median is reported.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox import Sandbox  # noqa: E402

REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))


def timed(command: list[str], env: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    return time.perf_counter() - started, done.returncode


def median_of(command: list[str], env: dict[str, str]) -> tuple[float, set[int]]:
    runs = [timed(command, env) for _ in range(REPEAT)]
    return statistics.median(t for t, _ in runs), {rc for _, rc in runs}


def main() -> None:
    starts = []
    for _ in range(3):
        box = Sandbox()
        box.start()
        starts.append(box.start_seconds or 0.0)
        box.stop()
    box = Sandbox()
    state = box.start()
    env = {**os.environ, **state.env_vars(), "SERGAS_SANDBOX_STATE": str(state.state_file)}
    report_dir = f"--report-dir={ROOT / 'bench' / 'results'}"
    pytest = [str(ROOT / ".venv" / "bin" / "pytest"), "--env=demo", "-m", "daily", "-q", report_dir]
    try:
        rows = [
            ("manual daily-health-check.sh", *median_of(["bash", str(ROOT / "bench" / "daily-health-check.sh")], env)),
            ("pytest --env demo -m daily", *median_of(pytest, env)),
            ("pytest --env demo -m daily -n 2", *median_of([*pytest, "-n", "2"], env)),
        ]
    finally:
        box.stop()
    base = rows[0][1]
    print(f"Sandbox start (median of {len(starts)}): {statistics.median(starts):.2f} s\n")
    print(f"| command (median of {REPEAT}) | wall time | vs the shell script | exit codes |")
    print("|---|---|---|---|")
    for name, seconds, codes in rows:
        print(f"| `{name}` | {seconds:.2f} s | {seconds / base:.1f}x | {sorted(codes)} |")


if __name__ == "__main__":
    main()
