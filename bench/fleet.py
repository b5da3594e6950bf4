"""Benchmark: the daily host and log checks over ssh against 1, 10, 20 and 50 hosts.

    .venv/bin/python bench/fleet.py [--hosts 1,10,20,50] [--workers 0,2,4] [--repeat 3] [--before COPY]

For each host count, starts that many namespace hosts (sandbox/hosts.py: a network namespace
with its own sshd each; needs root and openssh-server), writes an environment whose `app` and
`db` roles are all of them and whose `[logs]` names a log history in the app's format (the hosts
share the root file system, so each reads the same files), then times `pytest -m daily -k "host.
or logs."` serially and with `-n 2` and `-n 4`, alternating, and prints a Markdown table: the
median wall time, its ratio to one host run the same way, and what pytest collected and ran.
With `--before COPY` (a copy of the checkout before a change, `--after` defaulting to this one)
both run alternating, in one session, one table each.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.hosts import NamespaceHosts  # noqa: E402
from sandbox.logs import write_history  # noqa: E402

SELECTION = ("-m", "daily", "-k", "host. or logs.")


def environment(hosts: NamespaceHosts, log_dir: Path) -> str:
    """Every host in both roles; the log history under `log_dir`."""
    specs = ", ".join(f'"{h.spec}?ssh_config={hosts.ssh_config}&timeout=5"' for h in hosts.hosts)
    return (
        f'name = "fleet{len(hosts.hosts)}"\n[hosts]\napp = [{specs}]\ndb = [{specs}]\n\n'
        f'[logs]\nsource = "file"\nfiles = ["{log_dir}/app.log"]\ndir = "{log_dir}"\n'
        f'postgres_files = ["{log_dir}/postgres.log"]\n'
    )


def write_logs(log_dir: Path) -> None:
    write_history(log_dir)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    (log_dir / "postgres.log").write_text(f"{now} UTC [4242] LOG:  checkpoint complete: wrote 3 buffers\n")


def run_once(tree: Path, env_file: Path, report_dir: Path, workers: int) -> tuple[float, str]:
    """Wall time of one run of the checkout `tree`, and pytest's last line (`80 passed, 358
    deselected in 1.2s`)."""
    command = [str(ROOT / ".venv" / "bin" / "pytest"), f"--env={env_file}", f"--report-dir={report_dir}", "-q"]
    command += [*SELECTION, *(["-n", str(workers)] if workers else [])]
    env = {**os.environ, "PYTHONPATH": str(tree)}  # before the virtual environment's editable install
    started = time.perf_counter()
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return elapsed, tail


def counts(tail: str) -> str:
    """`80 passed, 358 deselected` -> `80/438` (ran / collected)."""
    found = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", tail)}
    ran = sum(n for word, n in found.items() if word not in ("deselected", "warnings", "warning"))
    return f"{ran}/{ran + found.get('deselected', 0)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1,10,20,50")
    parser.add_argument("--workers", default="0,2,4", help="xdist workers per column; 0: serial")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--before", type=Path, help="a copy of the checkout before a change: both run, alternating, one table each"
    )
    parser.add_argument("--after", type=Path, default=ROOT, help="the checkout after it (default: this one)")
    args = parser.parse_args()
    available, why = NamespaceHosts.available()
    if not available:
        raise SystemExit(f"cannot run: {why}")
    host_counts = [int(n) for n in args.hosts.split(",")]
    trees = {
        **({"before": args.before} if args.before else {}),
        "after" if args.before else "this checkout": args.after,
    }
    columns = [(name, w) for name in trees for w in (int(n) for n in args.workers.split(","))]
    rows: dict[int, dict[tuple[str, int], tuple[float, str]]] = {}
    starts: dict[int, float] = {}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="fleet-", dir="/tmp") as tmp:
        log_dir = Path(tmp, "logs")
        write_logs(log_dir)
        for count in host_counts:
            began = time.perf_counter()
            with NamespaceHosts(Path(tmp, f"hosts{count}"), count=count) as hosts:
                starts[count] = time.perf_counter() - began
                env_file = Path(tmp, f"fleet{count}.toml")
                env_file.write_text(environment(hosts, log_dir))
                times: dict[tuple[str, int], list[float]] = {c: [] for c in columns}
                tails: dict[tuple[str, int], str] = {}
                for _ in range(args.repeat):
                    for name, w in columns:  # alternating: a burst of load hits every column alike
                        elapsed, tails[(name, w)] = run_once(trees[name], env_file, Path(tmp, "reports"), w)
                        times[(name, w)].append(elapsed)
                rows[count] = {c: (statistics.median(times[c]), counts(tails[c])) for c in columns}
            loads.append(os.getloadavg()[0])
            done = ", ".join(f"{n} -n {w}: {rows[count][(n, w)][0]:.2f} s" for n, w in columns)
            print(f"{count} hosts: {done}", file=sys.stderr)
    print(f"Load average (1 min) at start and after each host count: {', '.join(f'{x:.1f}' for x in loads)}.")
    for name in trees:
        print(f"\n{name}: median of {args.repeat} wall time (ratio to 1 host) [items run/collected]\n")
        mine = [w for n, w in columns if n == name]
        print("| hosts | " + " | ".join("serial" if w == 0 else f"-n {w}" for w in mine) + " | hosts start |")
        print("|---|" + "---|" * (len(mine) + 1))
        for count in host_counts:
            cells = []
            for w in mine:
                seconds, items = rows[count][(name, w)]
                base = rows[host_counts[0]][(name, w)][0]
                cells.append(f"{seconds:.2f} s ({seconds / base:.2f}x) [{items}]")
            print(f"| {count} | " + " | ".join(cells) + f" | {starts[count]:.1f} s |")


if __name__ == "__main__":
    main()
