"""Daily Operations, Log Review (and System Monitoring, Log Analysis): the app's log and the
PostgreSQL server log, counted on each host over real time windows (probes/logs.py)."""

from __future__ import annotations

import pytest
from testinfra.host import Host

from fixtures.logs import Logs
from fixtures.measure import CheckRun, check
from probes.logs import summarize_kinds
from sergas.status import Limit, unknown
from sergas.units import Unit

pytestmark = [pytest.mark.daily, pytest.mark.logs]

HOUR = 3600
DAY = 86400


def _kinds(found_kinds: list[tuple[int, str]]) -> str:
    return f"top: {summarize_kinds(found_kinds)}" if found_kinds else ""


@pytest.mark.hosts("app")
@check("logs.recent_errors", "ERROR and CRITICAL lines in the app log in the last hour", errors=Limit(1, 10))
def test_recent_errors(host: Host, check: CheckRun, logs: Logs) -> None:
    found = logs.count(host, check, "errors", HOUR)
    check.measure("errors", found.count, label="ERROR/CRITICAL lines in the last 1h", detail=_kinds(found.top(3)))


@pytest.mark.hosts("app")
@check("logs.errors_24h", "ERROR and CRITICAL lines in the app log in 24 hours, by kind", errors=Limit(10, 100))
def test_errors_24h(host: Host, check: CheckRun, logs: Logs) -> None:
    found = logs.count(host, check, "errors", DAY, kinds="error distribution by kind")
    check.measure("errors", found.count, label="ERROR/CRITICAL lines in 24h", detail=_kinds(found.top(3)))


@pytest.mark.hosts("app")
@check(
    "logs.http_5xx",
    "HTTP 5xx answers in the app log in 24 hours: count and share of requests",
    share=Limit(1, 5, Unit.PERCENT),
    count=Limit(None, None),
)
def test_http_5xx(host: Host, check: CheckRun, logs: Logs) -> None:
    found = logs.count(host, check, "http", DAY)
    if found.total == 0:
        raise unknown("no request lines (status_code=) in the last 24h")
    detail = f"{found.count}/{found.total} requests" + (f"; {_kinds(found.top(3))}" if found.count else "")
    check.measure("share", 100.0 * found.count / found.total, label="5xx share in 24h", detail=detail)
    check.measure("count", found.count, label="5xx answers in 24h")
    check.record("requests", found.total)


@pytest.mark.hosts("app")
@check("logs.auth_failures", "Failed authentications in the app log in 24 hours", failures=Limit(10, 50))
def test_auth_failures(host: Host, check: CheckRun, logs: Logs) -> None:
    found = logs.count(host, check, "auth", DAY)
    check.measure("failures", found.count, label="authentication failures in 24h", detail=_kinds(found.top(2)))


@pytest.mark.hosts("app")
@check("logs.circuit_breaker_open", "Circuit breaker trips in the app log in 24 hours", trips=Limit(1, 5))
def test_circuit_breaker_open(host: Host, check: CheckRun, logs: Logs) -> None:
    found = logs.count(host, check, "circuit", DAY)
    check.measure("trips", found.count, label="circuit breaker trips in 24h", detail=_kinds(found.top(2)))


@pytest.mark.hosts("app")
@check("logs.slow_requests", "Requests slower than 5 s in the app log in the last hour", slow=Limit(5, 25))
def test_slow_requests(host: Host, check: CheckRun, logs: Logs) -> None:
    limit_ms = logs.config.slow_request_ms
    found = logs.count(host, check, "slow", HOUR, threshold=limit_ms, kinds="slow requests by endpoint")
    check.attach(
        "top 10 endpoints by request count (last 1h)",
        "\n".join(f"{n:>7}  {p}" for n, p in found.top(10, paths=True)) or "(none)",
    )
    check.record("requests", found.total)
    if found.count:
        check.record("slowest", found.max_value / 1000, Unit.SECONDS)
    endpoints = ", ".join(f"{p} x{n}" for n, p in found.top(3))
    check.measure(
        "slow",
        found.count,
        label=f"requests over {limit_ms:g} ms in the last 1h",
        detail=f"of {found.total}" + (f"; {endpoints}; slowest {found.max_value:g} ms" if found.count else ""),
    )


@pytest.mark.hosts("db")
@check(
    "postgres.slow_query_log",
    "Statements over the slow-query threshold in the PostgreSQL server log in 24 hours",
    statements=Limit(10, 50),
)
def test_slow_query_log(host: Host, check: CheckRun, logs: Logs) -> None:
    limit_ms = logs.config.slow_query_ms
    found = logs.count(
        host, check, "pgslow", DAY, threshold=limit_ms, source=logs.postgres_source, kinds="slow statements by text"
    )
    detail = f"slowest {found.max_value:g} ms; {_kinds(found.top(1))}" if found.count else ""
    check.measure("statements", found.count, label=f"statements over {limit_ms:g} ms in 24h", detail=detail)
