"""A private Prometheus (Debian package `prometheus`) scraping the reference app every second,
and the sandbox's Pushgateway (job `pushgateway`, `honor_labels`: a pushed run keeps its labels).

Its rules (sandbox/prometheus.py `RULES`) send alerts to the sandbox's Alertmanager. The scrape
and evaluation interval is 1 s so that a young server has the two samples `rate()` needs within
a few seconds of the start (`wait_for_data`). Its fault states: `PrometheusFaults`.
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sandbox.control import Handler, undone_after
from sandbox.ports import free_port
from sandbox.processes import NO_PROXY, ChildServer

JOB = "sergas-app"
SCRAPE_INTERVAL = "1s"

# Alerting rules in the manual's spirit; `for:` keeps short faults (a restart) from firing.
RULES = f"""\
groups:
  - name: sergas
    rules:
      - alert: SergasDown
        expr: up{{job="{JOB}"}} == 0
        for: 1m
        labels: {{severity: critical}}
        annotations:
          summary: "Sergas app {{{{ $labels.instance }}}} is not scraped"
      - alert: HighErrorRate
        expr: >-
          sum(rate(sergas_http_requests_total{{job="{JOB}",path!="/metrics",status=~"5.."}}[5m]))
          / sum(rate(sergas_http_requests_total{{job="{JOB}",path!="/metrics"}}[5m])) > 0.05
        for: 2m
        labels: {{severity: critical}}
        annotations:
          summary: "More than 5% of requests answer 5xx"
      - alert: SlowResponses
        expr: >-
          histogram_quantile(0.95, sum by (le) (
            rate(sergas_http_request_duration_seconds_bucket{{job="{JOB}",path!="/metrics"}}[5m]))) > 1
        for: 5m
        labels: {{severity: warning}}
        annotations:
          summary: "p95 response time above 1 s"
"""


def _config(app_port: int, alertmanager_port: int, pushgateway_port: int) -> str:
    return f"""\
global:
  scrape_interval: {SCRAPE_INTERVAL}
  scrape_timeout: {SCRAPE_INTERVAL}
  evaluation_interval: {SCRAPE_INTERVAL}
rule_files: ["rules.yml"]
scrape_configs:
  - job_name: {JOB}
    static_configs:
      - targets: ["127.0.0.1:{app_port}"]
  - job_name: pushgateway
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:{pushgateway_port}"]

alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{alertmanager_port}"]
"""


class PrometheusServer(ChildServer):
    """`prometheus` on 127.0.0.1:`port`, its TSDB under `<root>/prometheus/data` (kept across
    restarts), scraping the app at 127.0.0.1:`app_port` and the Pushgateway at `pushgateway_port`."""

    title = "Prometheus"

    def __init__(self, root: Path, *, app_port: int, alertmanager_port: int, pushgateway_port: int) -> None:
        super().__init__(port=free_port(), log_path=root / "prometheus.log")
        self.app_port = app_port
        self.alertmanager_port = alertmanager_port
        self.pushgateway_port = pushgateway_port
        self.dir = root / "prometheus"

    def _launch(self) -> None:
        """Write the configuration and start the server."""
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        (self.dir / "prometheus.yml").write_text(_config(self.app_port, self.alertmanager_port, self.pushgateway_port))
        (self.dir / "rules.yml").write_text(RULES)
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        self._spawn(
            [
                binary,
                f"--config.file={self.dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                "--storage.tsdb.retention.time=2h",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            cwd=self.dir,
        )

    def wait_ready(self, timeout: float = 15.0) -> None:
        self._wait_until(lambda: self._get("/-/ready") is not None, timeout)

    def query(self, promql: str) -> list[dict[str, object]]:
        """The result vector of an instant query (empty on any failure)."""
        body = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        if body is None:
            return []
        data = json.loads(body)
        return list(data.get("data", {}).get("result", [])) if data.get("status") == "success" else []

    def wait_for_data(self, promql: str, timeout: float = 20.0) -> None:
        """Wait until `promql` returns a sample: after two scrapes, `rate()` has data."""
        self._wait_until(
            lambda: bool(self.query(promql)), timeout, f"Prometheus to return data for {promql}", interval=0.1
        )

    def _get(self, path: str) -> bytes | None:
        with NO_PROXY.open(f"{self.url}{path}", timeout=2) as response:
            return bytes(response.read()) if response.status == 200 else None


class PrometheusFaults:
    """Prometheus's fault states (part of `sandbox.faults`); `lifecycle` stops and starts the
    server (see `sandbox.control.Handler`)."""

    def __init__(self, lifecycle: Handler) -> None:
        self.lifecycle = lifecycle

    @contextmanager
    def prometheus_stopped(self) -> Iterator[None]:
        """Prometheus shut down; restarted on the same port with its data."""
        with undone_after(self.lifecycle, "prometheus"):
            yield
