"""`python -m sandbox up [--state-file F]`: start the sandbox and keep it up until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from pathlib import Path

from sandbox.stack import Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the sandbox, print its variables, wait for a signal")
    up.add_argument(
        "--state-file",
        type=Path,
        help="also keep the state here (removed on exit); default: <root>/state.json",
    )
    args = parser.parse_args(argv)

    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    sandbox = Sandbox(state_file=args.state_file.resolve() if args.state_file else None)
    try:
        state = sandbox.start()
        state_file = sandbox.extra_state_file or state.state_file
        print(f"# sandbox up in {sandbox.start_seconds:.1f} s")
        print(f"# state file: {state_file}")
        for name, value in state.env_vars().items():
            print(f"export {name}={shlex.quote(value)}")
        print("# Ctrl-C (or SIGTERM) stops it", flush=True)
        while not stopping.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
