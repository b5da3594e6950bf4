"""A private Alertmanager (Debian package `prometheus-alertmanager`), receiving the sandbox
Prometheus's alerts. It notifies nobody (a receiver without integrations), clustering is off,
and a critical alert inhibits the warning of the same name, as production setups usually do.
Its fault states: `AlertmanagerFaults`.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox.control import Handler, undone_after
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


class AlertmanagerFaults:
    """Alertmanager's fault states (part of `sandbox.faults`) on the server at `alertmanager_url`;
    each restores on exit. `lifecycle` stops and starts the server (see `sandbox.control.Handler`)."""

    def __init__(self, alertmanager_url: str, lifecycle: Handler) -> None:
        self.alertmanager_url = alertmanager_url
        self.lifecycle = lifecycle

    @contextmanager
    def alertmanager_stopped(self) -> Iterator[None]:
        """Alertmanager shut down; restarted on the same port with its silences."""
        with undone_after(self.lifecycle, "alertmanager"):
            yield

    @contextmanager
    def alert_firing(self, name: str, severity: str = "critical", **labels: str) -> Iterator[dict[str, str]]:
        """An alert POSTed to Alertmanager (exactly what the manual's 'acknowledge' snippet does);
        resolved on exit by POSTing it again with endsAt in the past. Yields its labels.
        `severity=""`: an alert without a severity label."""
        url = self.alertmanager_url
        alert_labels = {"alertname": name, "severity": severity, "instance": "sandbox", **labels}
        if not severity:
            del alert_labels["severity"]
        now = datetime.now(UTC)
        _post_json(f"{url}/api/v2/alerts", [_alert(alert_labels, now, now + timedelta(hours=1))])
        try:
            yield alert_labels
        finally:
            # Resolved: ends now. Never before it starts (Alertmanager answers 400 to that): a
            # block shorter than a second used to end "a second ago", before its own start.
            ended = max(datetime.now(UTC), now + timedelta(milliseconds=1))
            _post_json(f"{url}/api/v2/alerts", [_alert(alert_labels, now, ended)])

    @contextmanager
    def alert_silenced(self, labels: dict[str, str], comment: str = "sandbox fault") -> Iterator[str]:
        """A silence matching `labels` (how an alert is acknowledged); expired on exit. Yields its id."""
        url = self.alertmanager_url
        now = datetime.now(UTC)
        silence = {
            "matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in labels.items()],
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "sandbox",
            "comment": comment,
        }
        silence_id = str(_post_json(f"{url}/api/v2/silences", silence)["silenceID"])
        try:
            yield silence_id
        finally:
            request = urllib.request.Request(f"{url}/api/v2/silence/{silence_id}", method="DELETE")
            with NO_PROXY.open(request, timeout=5) as response:
                response.read()


def _alert(labels: dict[str, str], starts: datetime, ends: datetime) -> dict[str, Any]:
    return {
        "labels": labels,
        "annotations": {"summary": "raised by a sandbox fault"},
        "startsAt": starts.isoformat(),
        "endsAt": ends.isoformat(),
    }


def _post_json(url: str, body: object) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with NO_PROXY.open(request, timeout=5) as response:
        text = response.read()
    return json.loads(text) if text.strip() else None
