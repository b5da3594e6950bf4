"""Launching the reference app (sandbox/app.py) as a child process; the app's fault states
(`AppFaults`)."""

from __future__ import annotations

import json
import os
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock

from sandbox.control import Handler, undone_after
from sandbox.processes import NO_PROXY, ChildServer
from sandbox.traffic import TrafficDriver

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_ABSENT = object()


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
            "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p),
        }
        env.pop("PYTHONSAFEPATH", None)
        self._spawn(
            [sys.executable, "-m", "sandbox.app", "--config", str(self.config_path), "--name", self.marker],
            cwd=PROJECT_ROOT,
            env=env,
        )

    def wait_ready(self, timeout: float = 15.0) -> None:
        """Wait until the app answers HTTP (whatever the state of its dependencies)."""

        request = urllib.request.Request(
            f"{self.url}/api/v1/features", headers={"Authorization": f"Bearer {self.settings['admin_token']}"}
        )

        def answers() -> bool:
            with NO_PROXY.open(request, timeout=1) as response:
                return bool(response.status == 200)

        self._wait_until(answers, timeout)


class AppFaults:
    """The app's fault states (part of `sandbox.faults`); each restores on exit.

    Most are keys in `faults_file`, which the app re-reads on every request: nested or
    concurrent faults on different keys compose, and each restores only its own key.
    `lifecycle` stops and starts the app (see `sandbox.control.Handler`); `traffic` is the
    owner's traffic driver (None on an attached handle).
    """

    def __init__(self, faults_file: Path, lifecycle: Handler, traffic: TrafficDriver | None) -> None:
        self.faults_file = faults_file
        self.lifecycle = lifecycle
        self.traffic = traffic

    @contextmanager
    def app_stopped(self) -> Iterator[None]:
        """The app process terminated (`pgrep -f <marker>` finds nothing); restarted after."""
        with undone_after(self.lifecycle, "app"):
            yield

    @contextmanager
    def zoho_unreachable(self) -> Iterator[None]:
        """The app's Zoho URL points at a closed port: /health is 200 "degraded"."""
        with self._app_fault("zoho_unreachable", True):
            yield

    @contextmanager
    def health_delayed(self, seconds: float) -> Iterator[None]:
        """/health answers after `seconds`."""
        with self._app_fault("health_delay_s", seconds):
            yield

    @contextmanager
    def health_status(self, code: int) -> Iterator[None]:
        """/health answers with HTTP `code` (its body unchanged)."""
        with self._app_fault("health_status", code):
            yield

    @contextmanager
    def health_garbage(self) -> Iterator[None]:
        """/health answers an HTML error page instead of JSON."""
        with self._app_fault("health_garbage", True):
            yield

    @contextmanager
    def http_errors(self, path: str = "/api/v1/users", code: int = 500) -> Iterator[None]:
        """Every request to `path` (the traffic driver sends some each second) answers `code`."""
        with self._app_fault("http_errors", {path: code}):
            yield

    @contextmanager
    def slow_endpoint(self, path: str = "/api/v1/features", seconds: float = 1.5) -> Iterator[None]:
        """Every request to `path` takes `seconds` longer."""
        with self._app_fault("slow_paths", {path: seconds}):
            yield

    @contextmanager
    def agent_failures(self) -> Iterator[None]:
        """The app's scheduled agent sessions end in failure."""
        with self._app_fault("agent_failures", True):
            yield

    @contextmanager
    def metrics_hidden(self, *prefixes: str) -> Iterator[None]:
        """/metrics leaves out the families whose names start with `prefixes`."""
        with self._app_fault("metrics_hidden", list(prefixes)):
            yield

    @contextmanager
    def feature_flag_flipped(self, name: str) -> Iterator[None]:
        """/api/v1/features answers flag `name` inverted (true for false)."""
        with self._app_fault("features_flipped", [name]):
            yield

    @contextmanager
    def traffic_paused(self) -> Iterator[None]:
        """The sandbox's traffic driver stopped (owner only): the app gets no requests."""
        driver = self.traffic
        if driver is None:
            raise RuntimeError("traffic_paused needs the sandbox's owner (the driver runs there)")
        driver.stop()
        try:
            yield
        finally:
            driver.start()

    @contextmanager
    def _app_fault(self, key: str, value: object) -> Iterator[None]:
        path = self.faults_file
        lock = FileLock(str(path) + ".lock", timeout=10)

        def update(new: object) -> object:
            with lock:
                try:
                    faults = json.loads(path.read_text())
                except (OSError, ValueError):
                    faults = {}
                old = faults.get(key, _ABSENT)
                if new is _ABSENT:
                    faults.pop(key, None)
                else:
                    faults[key] = new
                tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                tmp.write_text(json.dumps(faults) + "\n")
                os.replace(tmp, path)  # the app never reads half a file
                return old

        previous = update(value)
        try:
            yield
        finally:
            update(previous)
