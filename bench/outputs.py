"""Benchmark: what each output adds to a run's wall time, side by side in one run.

`pytest --env demo -m daily` against one sandbox started once, plain and with each output of
the finished run (Prometheus textfile, Pushgateway, Nagios mode, Alertmanager notifications,
the S3 archive copy), interleaved round by round so the machine's noise falls on all alike.
The run report, summary, JUnit file and index are written by every run, the plain one too.

    .venv/bin/python bench/outputs.py        # BENCH_REPEAT=5 rounds by default

Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox import Sandbox  # noqa: E402

REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))


def main() -> None:
    box = Sandbox()
    state = box.start()
    env = {**os.environ, **state.env_vars(), "SERGAS_SANDBOX_STATE": str(state.state_file)}
    with tempfile.TemporaryDirectory() as tmp:
        pytest = [sys.executable, "-m", "pytest", "--env=demo", "-m", "daily", "-q", f"--report-dir={tmp}/reports"]
        variants = {
            "plain": [],
            "--prometheus-textfile": [f"--prometheus-textfile={tmp}/sergas.prom"],
            "--pushgateway": [f"--pushgateway={state.pushgateway_url}"],
            "--nagios": ["--nagios"],
            "--notify-alertmanager": [f"--notify-alertmanager={state.alertmanager_url}"],
            "--archive-s3": ["--archive-s3=s3://sergas-backups/archive"],
        }
        walls: dict[str, list[float]] = {name: [] for name in variants}
        codes: dict[str, set[int]] = {name: set() for name in variants}
        s3 = {
            "AWS_ACCESS_KEY_ID": state.s3_access_key_id,
            "AWS_SECRET_ACCESS_KEY": state.s3_secret_access_key,
            "AWS_ENDPOINT_URL_S3": state.s3_endpoint,
        }
        try:
            for _ in range(REPEAT):
                for name, args in variants.items():
                    started = time.perf_counter()
                    done = subprocess.run(
                        [*pytest, *args], cwd=ROOT, env={**env, **s3}, capture_output=True, text=True, check=False
                    )
                    walls[name].append(time.perf_counter() - started)
                    codes[name].add(done.returncode)
        finally:
            box.stop()
    base = statistics.median(walls["plain"])
    print(f"| `pytest --env demo -m daily` with (median of {REPEAT}) | wall time | vs plain | exit codes |")
    print("|---|---|---|---|")
    for name, times in walls.items():
        median = statistics.median(times)
        print(f"| {name} | {median:.2f} s | {median - base:+.2f} s | {sorted(codes[name])} |")


if __name__ == "__main__":
    main()
