"""A private Prometheus Pushgateway (Debian package `prometheus-pushgateway`), scraped by the
sandbox's Prometheus (job `pushgateway`, `honor_labels`), where `--pushgateway` pushes a run.
Its pushed groups are kept in `<root>/pushgateway/metrics` across a restart.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sandbox.ports import free_port
from sandbox.processes import NO_PROXY, ChildServer


class PushgatewayServer(ChildServer):
    """`prometheus-pushgateway` on 127.0.0.1:`port`."""

    title = "Pushgateway"

    def __init__(self, root: Path) -> None:
        super().__init__(port=free_port(), log_path=root / "pushgateway.log")
        self.dir = root / "pushgateway"

    def _launch(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"
        listen, store = f"--web.listen-address=127.0.0.1:{self.port}", f"--persistence.file={self.dir / 'metrics'}"
        self._spawn([binary, listen, store, "--log.level=warn"], cwd=self.dir)

    def wait_ready(self, timeout: float = 15.0) -> None:
        self._wait_until(self._ready, timeout)

    def _ready(self) -> bool:
        with NO_PROXY.open(f"{self.url}/-/ready", timeout=2) as response:
            return bool(response.status == 200)
