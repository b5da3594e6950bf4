"""Benchmark: what a run costs to start. The morning check (`pytest --env demo -m daily`) beside
the manual's daily-health-check.sh, one check for a monitoring system (`--nagios -k
postgres.connections`), and the floor under both (the interpreter, pytest alone, pytest with
every installed plugin collecting an empty file).

    .venv/bin/python bench/startup.py         # BENCH_REPEAT=7 rounds by default

One sandbox is started (or the running one named by SERGAS_SANDBOX_STATE is used); then every
command runs once per round, rounds interleaved, so the machine's noise falls on all alike; the
table holds medians. Bytecode is written and warm, as in an installed environment
(PYTHONDONTWRITEBYTECODE is cleared for the runs, a first untimed round compiles).

BENCH_BEFORE=/path/to/another/checkout adds the same pytest rows run from that checkout with
this environment's interpreter (its packages shadow the editable install: the current
directory comes first on sys.path), to compare a change side by side.
"""

from __future__ import annotations

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

REPEAT = int(os.environ.get("BENCH_REPEAT", "7"))
Row = tuple[str, list[str], Path]


def rows(checkout: Path, label: str, reports: Path) -> list[Row]:
    pytest = [sys.executable, "-m", "pytest", "--env=demo", "-q", f"--report-dir={reports}"]
    return [
        (f"{label}`pytest --env demo -m daily`", [*pytest, "-m", "daily"], checkout),
        (
            f"{label}`... -m daily -p no:hypothesispytest`",
            [*pytest, "-m", "daily", "-p", "no:hypothesispytest"],
            checkout,
        ),
        (
            f"{label}`pytest --env demo --nagios -k postgres.connections`",
            [*pytest, "--nagios", "-k", "postgres.connections"],
            checkout,
        ),
    ]


def floor_rows(empty: Path) -> list[Row]:
    py = sys.executable
    return [
        ("floor: `python -c pass`", [py, "-c", "pass"], ROOT),
        ("floor: `python -c 'import pytest'`", [py, "-c", "import pytest"], ROOT),
        ("floor: `python -c 'import pytest, pydantic'`", [py, "-c", "import pytest, pydantic"], ROOT),
        (
            "floor: `pytest --co` empty file, no plugins",
            [py, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", str(empty)],
            empty.parent,
        ),
        (
            "floor: `pytest --co` empty file, installed plugins",
            [py, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", str(empty)],
            empty.parent,
        ),
    ]


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done.returncode


def main() -> None:
    load_before = os.getloadavg()[0]
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        env = sandbox_env(stack)
        bare = {**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        empty = Path(tmp) / "empty" / "test_empty.py"
        empty.parent.mkdir()
        empty.write_text("")
        script: Row = ("manual `daily-health-check.sh`", ["bash", str(ROOT / "bench" / "daily-health-check.sh")], ROOT)
        table = [script, *rows(ROOT, "", Path(tmp) / "reports")]
        before = os.environ.get("BENCH_BEFORE")
        if before:
            table += rows(Path(before), "before: ", Path(tmp) / "reports-before")
        table += floor_rows(empty)
        envs = [bare if "no plugins" in name else env for name, _, _ in table]
        for (_, command, cwd), run_env in zip(table, envs, strict=True):  # compile bytecode, warm caches
            timed(command, cwd, run_env)
        walls: list[list[float]] = [[] for _ in table]
        codes: list[set[int]] = [set() for _ in table]
        for _ in range(REPEAT):
            for i, ((_, command, cwd), run_env) in enumerate(zip(table, envs, strict=True)):
                seconds, rc = timed(command, cwd, run_env)
                walls[i].append(seconds)
                codes[i].add(rc)
    base = statistics.median(walls[0])
    print(f"load average (1 min) before {load_before:.2f}, after {os.getloadavg()[0]:.2f}\n")
    print(f"| command (median of {REPEAT}) | wall time | vs the shell script | exit codes |")
    print("|---|---|---|---|")
    for (name, _, _), times, rcs in zip(table, walls, codes, strict=True):
        median = statistics.median(times)
        print(f"| {name} | {median:.2f} s | {median / base:.1f}x | {sorted(rcs)} |")


if __name__ == "__main__":
    main()
