"""Launching the reference app (sandbox/app.py) as a child process."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from sandbox.processes import NO_PROXY, ChildServer

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class AppProcess(ChildServer):
    """`python -m sandbox.app --config <root>/app.json --name <marker>` on 127.0.0.1:`port`."""

    title = "Sergas app"

    def __init__(self, root: Path, *, marker: str, port: int, log_path: Path, settings: dict[str, Any]):
        super().__init__(port=port, log_path=log_path)
        self.marker = marker
        self.config_path = root / "app.json"
        self.settings = {**settings, "name": marker, "port": port}

    def _launch(self) -> None:
        """Write the config (secrets inside: mode 0600) and start the process."""
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.settings, f, indent=2)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        env.pop("PYTHONSAFEPATH", None)
        self._spawn(
            [sys.executable, "-m", "sandbox.app", "--config", str(self.config_path), "--name", self.marker],
            cwd=PROJECT_ROOT,
            env=env,
        )

    def wait_ready(self, timeout: float = 15.0) -> None:
        """Wait until the app answers HTTP (whatever the state of its dependencies)."""

        def answers() -> bool:
            with NO_PROXY.open(f"{self.url}/api/v1/features", timeout=1) as response:
                return bool(response.status == 200)

        self._wait_until(answers, timeout)
