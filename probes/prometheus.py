"""What the metric checks read: PromQL instant queries, their answers parsed, and the queries.

`/api/v1/query` answers `{"status": "success"|"error", "data": {"resultType": ..., "result":
[...]}}`; sample values are strings ("0.25", "NaN", "+Inf"). An empty vector means that no
series matched, not zero: callers decide what a missing series means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Prometheus scraping /metrics is not user traffic: request queries leave it out.
NOT_SCRAPES = 'path!="/metrics"'


class QueryError(Exception):
    """Prometheus answered, but not with a usable result (error status, unexpected shape)."""


BUILDINFO_PATH = "/api/v1/status/buildinfo"


def buildinfo_problem(body: Any) -> str | None:
    """What is wrong with an answer of /api/v1/status/buildinfo (None: it is Prometheus's)."""
    if not isinstance(body, dict) or body.get("status") != "success":
        return "not Prometheus's answer (no status success)"
    data = body.get("data")
    if not isinstance(data, dict) or not data.get("version"):
        return "not Prometheus's answer (no version)"
    return None


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float

    @property
    def instance(self) -> str:
        return self.labels.get("instance", describe_labels(self.labels) or "-")


def parse_value(text: Any) -> float:
    """A sample value as Prometheus writes it: "1.5", "NaN", "+Inf", "-Inf"."""
    try:
        return float(text)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer past float's range
        raise QueryError(f"sample value {text!r:.80} is not a number") from None


def parse_result(body: Any) -> list[Sample]:
    """The samples of an instant query answer (vector or scalar); raises QueryError."""
    if not isinstance(body, dict):
        raise QueryError(f"answer is not a JSON object: {str(body)[:80]!r}")
    if body.get("status") != "success":
        raise QueryError(f"{body.get('errorType', 'error')}: {body.get('error', 'status ' + str(body.get('status')))}")
    data = body.get("data") or {}
    if not isinstance(data, dict):
        raise QueryError(f"answer's data is not a JSON object: {str(data)[:80]!r}")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "vector" and isinstance(result, list):
        return [_sample(item) for item in result]
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        return [Sample({}, parse_value(result[1]))]
    raise QueryError(f"unexpected result type {kind!r:.80} (an instant vector was expected)")


def _sample(item: Any) -> Sample:
    """One element of a vector: `{"metric": {labels}, "value": [time, "value"]}`."""
    metric = item.get("metric", {}) if isinstance(item, dict) else None
    value = item.get("value") if isinstance(item, dict) else None
    if not isinstance(metric, dict) or not isinstance(value, list) or len(value) != 2:
        raise QueryError(f"unexpected sample in the vector: {str(item)[:80]!r}")
    return Sample({str(k): str(v) for k, v in metric.items()}, parse_value(value[1]))


@dataclass(frozen=True)
class ScrapeTarget:
    instance: str
    health: str  # up | down | unknown
    last_error: str


def parse_targets(body: Any, job: str) -> list[ScrapeTarget]:
    """The active targets of `job` from a /api/v1/targets answer."""
    data = (body.get("data") or {}) if isinstance(body, dict) else None
    active = data.get("activeTargets", []) if isinstance(data, dict) else None
    if (
        not isinstance(body, dict)
        or body.get("status") != "success"
        or not isinstance(active, list)
        or not all(isinstance(t, dict) and isinstance(t.get("labels", {}), dict) for t in active)
    ):
        raise QueryError(f"unusable /api/v1/targets answer: {str(body)[:80]!r}")
    return [
        ScrapeTarget(
            str(t.get("labels", {}).get("instance", t.get("scrapeUrl", "?"))),
            str(t.get("health", "unknown")),
            str(t.get("lastError", "")),
        )
        for t in active
        if t.get("labels", {}).get("job") == job
    ]


def describe_labels(labels: dict[str, str]) -> str:
    return ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")


def is_number(value: float) -> bool:
    return not math.isnan(value)


@dataclass(frozen=True)
class Queries:
    """The PromQL of metric review for one scrape job and one rate window.

    The manual divides per-series rates (`rate(x{status=~"5.."}[5m]) / rate(x[5m])`): that
    matches series label by label and gives one ratio per (method, path, status), never the
    share of all traffic. Both sides are summed here first.
    """

    job: str
    window: str

    def _sel(self, *extra: str) -> str:
        return "{" + ",".join([f'job="{self.job}"', *extra]) + "}"

    @property
    def up(self) -> str:
        return f"up{self._sel()}"

    @property
    def requests(self) -> str:
        """Requests per second, all of them (scrapes excluded)."""
        return f"sum(rate(sergas_http_requests_total{self._sel(NOT_SCRAPES)}[{self.window}]))"

    @property
    def server_errors(self) -> str:
        """5xx answers per second."""
        sel = self._sel(NOT_SCRAPES, 'status=~"5.."')
        return f"sum(rate(sergas_http_requests_total{sel}[{self.window}]))"

    @property
    def requests_by_path(self) -> str:
        return f"sum by (path, status) (rate(sergas_http_requests_total{self._sel(NOT_SCRAPES)}[{self.window}]))"

    def latency_quantile(self, q: float = 0.95) -> str:
        bucket = f"sergas_http_request_duration_seconds_bucket{self._sel(NOT_SCRAPES)}"
        return f"histogram_quantile({q}, sum by (le) (rate({bucket}[{self.window}])))"

    @property
    def latency_mean(self) -> str:
        """The manual's average response time (sum over count), in seconds, summed first."""
        sel = self._sel(NOT_SCRAPES)
        return (
            f"sum(rate(sergas_http_request_duration_seconds_sum{sel}[{self.window}]))"
            f" / sum(rate(sergas_http_request_duration_seconds_count{sel}[{self.window}]))"
        )

    def outcomes(self, metric: str, label: str, good: str) -> tuple[str, str]:
        """(good per second, all per second) of a counter with an outcome label."""
        sel = self._sel(f'{label}="{good}"')
        good_q = f"sum(rate({metric}{sel}[{self.window}]))"
        return good_q, f"sum(rate({metric}{self._sel()}[{self.window}]))"

    @property
    def sessions_active(self) -> str:
        return f"sum(sergas_agent_sessions_active{self._sel()})"

    @property
    def db_pool_peak(self) -> str:
        """Peak share of the pool in use over the window, per instance (%)."""
        sel = self._sel()
        return f"100 * max_over_time(sergas_db_pool_connections_in_use{sel}[{self.window}]) / sergas_db_pool_size{sel}"

    @property
    def db_pool_now(self) -> str:
        sel = self._sel()
        return f"100 * sergas_db_pool_connections_in_use{sel} / sergas_db_pool_size{sel}"

    @property
    def memory(self) -> str:
        return f"process_resident_memory_bytes{self._sel()}"

    @property
    def cpu(self) -> str:
        """CPU used, in % of one core, per instance."""
        return f"100 * rate(process_cpu_seconds_total{self._sel()}[{self.window}])"


def ratio_pct(part: float, whole: float) -> float | None:
    """100 * part / whole; None when there is nothing to divide (no traffic)."""
    return None if whole <= 0 else 100.0 * part / whole
