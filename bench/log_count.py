"""Log counting on a 1 GiB file: `logs.errors_24h`'s on-host command beside plain `grep -c`.

    .venv/bin/python bench/log_count.py [--size-mib 1024] [--runs 5] [--keep DIR]

Writes an app log of realistic lines in the app's format (requests, warnings, errors sprinkled
about one in 2,000 lines) covering the last 24 h, warms the page cache, then times in one run,
alternating: `grep -c ERROR` and `grep -ci 'ERROR\\|CRITICAL'` (the manual's), and the exact
command `logs.errors_24h` sends to a host (probes/logs.py: grep prefilter, awk window check
and count), all through `sh -c` on the local host. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from probes.logs import FileSource, count_command, parse_count
from sandbox.logs import PATHS


def write_log(path: Path, size: int, rng: random.Random) -> int:
    """About `size` bytes of log over the last 24 h; returns the number of ERROR/CRITICAL lines."""
    bodies = [
        f" INFO sergas.api request method=GET path={p} status_code={c} duration={d}"
        for p in PATHS
        for c in (200, 200, 200, 201, 304, 404)
        for d in (3, 12, 48, 97, 180, 420)
    ]
    bodies += [
        " WARNING sergas.zoho Zoho CRM slow answer latency_ms=1830",
        " INFO sergas.agents session done agent=ZohoDataScout",
    ]
    errors = [
        " ERROR sergas.zoho Zoho CRM request failed: connection refused",
        " ERROR sergas.database query failed: canceling statement due to statement timeout",
        " CRITICAL sergas.agents agent ZohoDataScout crashed",
    ]
    avg = 100
    n_lines = size // avg
    start = datetime.now(UTC) - timedelta(hours=23, minutes=45)
    step = timedelta(hours=23, minutes=44).total_seconds() / n_lines
    written, error_count, i = 0, 0, 0
    with open(path, "w", buffering=1 << 22) as f:
        base = start.timestamp()
        while written < size:
            chunk = []
            prefix_time = datetime.fromtimestamp(base + i * step, UTC).isoformat(timespec="seconds")[:19]
            for _ in range(1000):
                ms = f"{rng.randrange(1000):03d}"
                if rng.random() < 0.0005:
                    body = rng.choice(errors)
                    error_count += 1
                else:
                    body = rng.choice(bodies)
                chunk.append(f"{prefix_time}.{ms}+00:00{body}\n")
            i += 1000
            text = "".join(chunk)
            f.write(text)
            written += len(text)
    return error_count


def timed(command: str) -> tuple[float, str]:
    began = time.perf_counter()
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False)
    return time.perf_counter() - began, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="write the log here and keep it")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="sergas-logbench-"))
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "app.log"
    try:
        began = time.perf_counter()
        expected = write_log(log, args.size_mib << 20, random.Random(7))  # ~30 s on an idle machine
        print(
            f"wrote {log} ({log.stat().st_size / 2**30:.2f} GiB, {expected} ERROR/CRITICAL lines) "
            f"in {time.perf_counter() - began:.1f} s",
            file=sys.stderr,
        )
        commands = {
            "`grep -c ERROR app.log`": f"grep -c ERROR {log}",
            "`grep -ci 'ERROR\\|CRITICAL' app.log` (the manual's)": f"grep -ci 'ERROR\\|CRITICAL' {log}",
            "`logs.errors_24h` on-host command": count_command(FileSource((str(log),)), "errors", 86400),
        }
        for command in commands.values():  # warm the page cache
            timed(command)
        times: dict[str, list[float]] = {name: [] for name in commands}
        outputs: dict[str, str] = {}
        for _ in range(args.runs):
            for name, command in commands.items():
                seconds, out = timed(command)
                times[name].append(seconds)
                outputs[name] = out
        counted = parse_count(outputs["`logs.errors_24h` on-host command"]).count
        base = statistics.median(times["`grep -c ERROR app.log`"])
        print(f"| command (median of {args.runs}) | wall time | vs `grep -c ERROR` | count |")
        print("|---|---|---|---|")
        for name in commands:
            median = statistics.median(times[name])
            count = counted if "errors_24h" in name else outputs[name].strip()
            print(f"| {name} | {median:.2f} s | {median / base:.2f}x | {count} |")
        print(f"\nexpected ERROR/CRITICAL lines: {expected}; counted by logs.errors_24h: {counted}")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
