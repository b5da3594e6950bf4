"""Metric review (Daily Operations): the manual's Grafana walk-through as PromQL.

Every query selects the app's scrape job ([prometheus] job) and uses the rate window
([prometheus] window, the manual's 5 minutes). Requests exclude Prometheus's own scrapes of
/metrics. No series, NaN, an error answer or an unreachable Prometheus is unknown, never ok.
"""

from __future__ import annotations

import pytest

from fixtures.measure import CheckRun, check
from fixtures.prometheus import Prometheus
from probes.prometheus import ratio_pct
from sergas.status import Limit, unknown
from sergas.units import Unit

pytestmark = [pytest.mark.daily, pytest.mark.prometheus]

GiB = 1024**3
MEANINGLESS = "every other metric check is meaningless while the app is not scraped"


@check("metrics.targets_up", "Prometheus scrapes every target of the app's job")
def test_targets_up(prometheus: Prometheus, check: CheckRun) -> None:
    samples = prometheus.query(prometheus.queries.up, allow_empty=True)
    if not samples:
        raise unknown(
            f"Prometheus has no scrape target in job {prometheus.config.job!r} (wrong [prometheus] job?): {MEANINGLESS}"
        )
    down = sorted(s.instance for s in samples if s.value < 1)
    check.record("targets", len(samples))
    check.record("down", len(down))
    if down:
        errors = prometheus.scrape_errors()
        listed = ", ".join(f"{i} ({errors[i]})" if errors.get(i) else i for i in down)
        check.critical(f"{len(down)} of {len(samples)} target(s) down: {listed}; {MEANINGLESS}")
    else:
        check.ok(f"{len(samples)} target(s) up: {', '.join(sorted(s.instance for s in samples))}")


@check(
    "metrics.error_rate",
    "Share of requests answered 5xx over the window (manual: < 1%)",
    errors=Limit(1, 5, Unit.PERCENT),
)
def test_error_rate(prometheus: Prometheus, check: CheckRun) -> None:
    q = prometheus.queries
    total = prometheus.number(q.requests)
    # No 5xx series at all is zero errors (the counter has other statuses), not missing data.
    errors = prometheus.value(q.server_errors, allow_empty=True) or 0.0
    share = ratio_pct(errors, total)
    if share is None:
        raise unknown(f"no requests in the last {q.window}: the error rate is undefined")
    breakdown = prometheus.query(q.requests_by_path, allow_empty=True)
    failing = sorted(
        (s for s in breakdown if s.labels.get("status", "").startswith("5") and s.value > 0), key=lambda s: -s.value
    )
    where = ", ".join(f"{s.labels.get('path')} {s.labels.get('status')}" for s in failing[:3])
    check.record("requests", total, Unit.PER_SECOND)
    check.record("errors_5xx", errors, Unit.PER_SECOND)
    check.measure(
        "errors",
        share,
        label=f"5xx share over {q.window}",
        detail=f"{errors:.3g} of {total:.3g} req/s" + (f"; {where}" if where else ""),
    )


@check(
    "metrics.latency",
    "Response time: p95 from the histogram, and the mean as the manual computes it",
    p95=Limit(1.0, 2.5, Unit.SECONDS),
    mean=Limit(0.5, 1.0, Unit.SECONDS),
)
def test_latency(prometheus: Prometheus, check: CheckRun) -> None:
    q = prometheus.queries
    p95 = prometheus.number(q.latency_quantile(0.95))
    mean = prometheus.number(q.latency_mean)
    if p95 == float("inf"):
        check.critical(f"p95 response time over {q.window} is above the histogram's largest bucket (+Inf)")
    else:
        check.measure("p95", p95, label=f"p95 response time over {q.window}")
    check.measure("mean", mean, label=f"mean response time over {q.window}")


@check(
    "metrics.request_rate",
    "The app receives traffic (none at all is a warning)",
    rate=Limit(0, None, Unit.PER_SECOND, below=True),
)
def test_request_rate(prometheus: Prometheus, check: CheckRun) -> None:
    q = prometheus.queries
    per_second = prometheus.number(q.requests)
    none = f"no requests at all in the last {q.window}: is traffic reaching the app?" if per_second <= 0 else ""
    check.measure("rate", per_second, label=f"request rate over {q.window}", detail=none)


def _success_rate(prometheus: Prometheus, check: CheckRun, metric: str, label: str, good: str, what: str) -> None:
    q = prometheus.queries
    good_q, all_q = q.outcomes(metric, label, good)
    total = prometheus.number(all_q)
    succeeded = prometheus.value(good_q, allow_empty=True) or 0.0
    share = ratio_pct(succeeded, total)
    if share is None:
        raise unknown(f"no {what} in the last {q.window}: the success rate is undefined")
    check.record("rate", total, Unit.PER_SECOND, label=f"{what} per second")
    check.measure(
        "success", share, label=f"{what} success rate over {q.window}", detail=f"{succeeded:.3g} of {total:.3g}/s"
    )


@check(
    "metrics.agent_session_success_rate",
    "Agent sessions that end in success",
    success=Limit(95, 90, Unit.PERCENT, below=True),
)
def test_agent_session_success_rate(prometheus: Prometheus, check: CheckRun) -> None:
    active = prometheus.query(prometheus.queries.sessions_active, allow_empty=True)
    if active:
        check.record("sessions_active", active[0].value)
    _success_rate(prometheus, check, "sergas_agent_sessions_total", "outcome", "success", "agent sessions")


@check(
    "metrics.zoho_api_success_rate",
    "Zoho CRM API calls that succeed",
    success=Limit(95, 90, Unit.PERCENT, below=True),
)
def test_zoho_api_success_rate(prometheus: Prometheus, check: CheckRun) -> None:
    _success_rate(prometheus, check, "sergas_zoho_api_calls_total", "result", "success", "Zoho API calls")


@check("metrics.db_pool_usage", "Peak share of the database connection pool in use", used=Limit(80, 95, Unit.PERCENT))
def test_db_pool_usage(prometheus: Prometheus, check: CheckRun) -> None:
    q = prometheus.queries
    for sample in prometheus.query(q.db_pool_peak):
        check.measure(
            "used",
            sample.value,
            label=f"{sample.instance}: peak pool use over {q.window}",
            labels={"instance": sample.instance},
        )
    for sample in prometheus.query(q.db_pool_now, allow_empty=True):
        check.record(
            "used_now",
            sample.value,
            Unit.PERCENT,
            label=f"{sample.instance}: pool use now",
            labels={"instance": sample.instance},
        )


@check("metrics.memory", "Resident memory of each app process", rss=Limit(2 * GiB, 3.5 * GiB, Unit.BYTES))
def test_memory(prometheus: Prometheus, check: CheckRun) -> None:
    for sample in prometheus.query(prometheus.queries.memory):
        check.measure(
            "rss", sample.value, label=f"{sample.instance}: resident memory", labels={"instance": sample.instance}
        )


@check("metrics.cpu", "CPU used by each app process (% of one core)", cpu=Limit(70, 90, Unit.PERCENT))
def test_cpu(prometheus: Prometheus, check: CheckRun) -> None:
    q = prometheus.queries
    for sample in prometheus.query(q.cpu):
        check.measure(
            "cpu", sample.value, label=f"{sample.instance}: CPU over {q.window}", labels={"instance": sample.instance}
        )
