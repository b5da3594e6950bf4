"""The all-hung environment: app, PostgreSQL, Redis, Prometheus and Alertmanager all accept
connections and never answer. How long does `pytest -m daily` take to end, with its report?

    .venv/bin/python bench/all_hung.py [--runs 3]

The bound to reach (reliability issue): connect + command timeout + start-up, not their sum
over the targets. Prints the wall time of each run and the median.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox import liars  # noqa: E402

CONNECT_S, COMMAND_S = 3, 8


def environment(ports: dict[str, int]) -> str:
    return f"""name = "hung"
[app]
url = "http://127.0.0.1:{ports["app"]}"
runtime = "process"
service = "no-such-process"
[postgres]
dsn = "postgresql://monitor@127.0.0.1:{ports["postgres"]}/sergas"
[redis]
url = "redis://127.0.0.1:{ports["redis"]}/0"
[prometheus]
url = "http://127.0.0.1:{ports["prometheus"]}"
[alertmanager]
url = "http://127.0.0.1:{ports["alertmanager"]}"
[timeouts]
connect = {CONNECT_S}
command = {COMMAND_S}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    walls = []
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        names = ("app", "postgres", "redis", "prometheus", "alertmanager")
        ports = {name: stack.enter_context(liars.serving("hung")) for name in names}
        env = Path(tmp) / "hung.toml"
        env.write_text(environment(ports))
        for _ in range(runs):
            command = [sys.executable, "-m", "pytest", "--env", str(env), "-m", "daily", "-q"]
            started = time.monotonic()
            done = subprocess.run(
                [*command, "--report-dir", f"{tmp}/reports"], capture_output=True, text=True, cwd=ROOT, check=False
            )
            walls.append(time.monotonic() - started)
            print(f"exit {done.returncode}, {walls[-1]:.1f} s: {done.stdout.strip().splitlines()[-1]}")
    print(f"median {statistics.median(walls):.1f} s over {runs} runs (connect {CONNECT_S} s, command {COMMAND_S} s)")


if __name__ == "__main__":
    main()
