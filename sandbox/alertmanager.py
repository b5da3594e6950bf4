"""A private Alertmanager (Debian package `prometheus-alertmanager`), receiving the sandbox
Prometheus's alerts. It notifies nobody (a receiver without integrations), clustering is off,
and a critical alert inhibits the warning of the same name, as production setups usually do.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sandbox.ports import free_port
from sandbox.processes import NO_PROXY, ChildServer

CONFIG = """\
route:
  receiver: "null"
  group_by: [alertname]
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 1h
receivers:
  - name: "null"
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname]
"""


class AlertmanagerServer(ChildServer):
    """`prometheus-alertmanager` on 127.0.0.1:`port`, state (silences) under `<root>/alertmanager`."""

    title = "Alertmanager"

    def __init__(self, root: Path) -> None:
        super().__init__(port=free_port(), log_path=root / "alertmanager.log")
        self.dir = root / "alertmanager"

    def _launch(self) -> None:
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        (self.dir / "alertmanager.yml").write_text(CONFIG)
        binary = (
            shutil.which("prometheus-alertmanager")
            or shutil.which("alertmanager")
            or "/usr/bin/prometheus-alertmanager"
        )
        self._spawn(
            [
                binary,
                f"--config.file={self.dir / 'alertmanager.yml'}",
                f"--storage.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",  # no gossip port: a single private instance
                "--log.level=warn",
            ],
            cwd=self.dir,
        )

    def wait_ready(self, timeout: float = 15.0) -> None:
        def ready() -> bool:
            with NO_PROXY.open(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)

        self._wait_until(ready, timeout)
