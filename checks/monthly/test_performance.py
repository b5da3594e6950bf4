"""Monthly maintenance, step 5: performance benchmarking (`scripts/performance_benchmark.py`).

A bounded, read-only synthetic benchmark: `[app] benchmark_requests` sequential GETs (default
20, at most 100) to each of `[app] benchmark_paths` (default /health) through the run's app
client, with its connect and read timeouts. Each path's p50 and p95 are recorded with
`labels={"path": ...}`. Earlier runs are read by unlabelled measurements only (`earlier`), so the
check also records `p95_max`, the slowest path's p95, and judges `p95_growth`: how far it is
above the previous run's `p95_max`, in % (warning at 25 %, `[thresholds."app.performance_baseline"]`
overrides). The first run has nothing to compare with: recorded, ok. A 5xx answer is critical
with the path and status; another non-2xx answer, or no answer, leaves the check unknown.
"""

from __future__ import annotations

import math

import httpx
import pytest

from fixtures.history import EarlierLookup
from fixtures.http import App
from fixtures.measure import CheckRun, check
from probes.app import timed_get
from sergas.status import Limit, unknown
from sergas.targets import short_reason
from sergas.units import Unit, format_quantity

pytestmark = [pytest.mark.monthly, pytest.mark.app]


def percentile(samples: list[float], p: float) -> float:
    """The nearest-rank `p`th percentile of `samples` (not empty)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _latencies(app: App, path: str, requests: int, check: CheckRun) -> list[float] | None:
    """`requests` sequential GETs of `path`: their latencies, or None after a non-2xx answer
    (the finding is the check's). No answer at all: unknown."""
    url = f"{app.config.url.rstrip('/')}{path}"
    latencies = []
    for n in range(1, requests + 1):
        try:
            status, seconds = timed_get(app.client, path)
        except httpx.TimeoutException as exc:
            raise unknown(f"no answer from {url} (request {n} of {requests}): {short_reason(exc)}") from None
        except httpx.TransportError as exc:
            raise unknown(f"cannot reach {url} (request {n} of {requests}): {short_reason(exc)}") from None
        if status >= 500:
            check.critical(f"GET {path} answered HTTP {status} (request {n} of {requests})")
            return None
        if not 200 <= status < 300:
            check.unknown(f"GET {path} answered HTTP {status}: not benchmarked (see [app] benchmark_paths)")
            return None
        latencies.append(seconds)
    return latencies


@check(
    "app.performance_baseline",
    "Monthly benchmark: p50 and p95 latency per path, p95 growth since the previous run",
    p95_growth=Limit(25, None, Unit.PERCENT),
)
def test_performance_baseline(app: App, check: CheckRun, earlier: EarlierLookup) -> None:
    requests = app.config.benchmark_requests
    p95s: dict[str, float] = {}
    rows = [f"{'path':<40} {'requests':>8} {'p50':>10} {'p95':>10} {'max':>10}"]
    for path in app.config.benchmark_paths:
        latencies = _latencies(app, path, requests, check)
        if latencies is None:
            continue
        p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
        check.record("p50", p50, Unit.SECONDS, label=f"{path} p50", labels={"path": path})
        check.record("p95", p95, Unit.SECONDS, label=f"{path} p95", labels={"path": path})
        p95s[path] = p95
        shown = [format_quantity(v, Unit.SECONDS) for v in (p50, p95, max(latencies))]
        rows.append(f"{path:<40} {requests:>8} {shown[0]:>10} {shown[1]:>10} {shown[2]:>10}")
    check.attach("latency per path", "\n".join(rows))
    if not p95s:
        return
    slowest = max(p95s, key=lambda path: p95s[path])
    now = p95s[slowest]
    check.record("p95_max", now, Unit.SECONDS, label=f"slowest p95 ({slowest})")
    summary = ", ".join(f"{path} p95 {format_quantity(p95, Unit.SECONDS)}" for path, p95 in p95s.items())
    before = earlier(check.spec.id, check.target, "p95_max")
    if before is None:
        check.ok(f"first run: recorded ({summary}; {requests} requests each)")
        return
    previous = before.values["p95_max"]
    if previous <= 0:
        check.ok(f"{summary}; previous p95 was 0: growth not judged")
        return
    check.measure(
        "p95_growth",
        (now - previous) / previous * 100,
        label=f"p95 growth since run {before.run_id}",
        detail=f"{format_quantity(previous, Unit.SECONDS)} -> {format_quantity(now, Unit.SECONDS)}, {slowest}",
    )
