"""probes.tls: hostname matching (RFC 6125), endpoints, days left and the expiry message."""

from __future__ import annotations

import datetime as dt

import pytest

from probes.tls import DAY, Certificate, Endpoint, expiry_text, hostname_matches

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("pattern", "hostname", "expected"),
    [
        ("your-domain.com", "your-domain.com", True),
        ("Your-Domain.COM", "your-domain.com.", True),
        ("your-domain.com", "www.your-domain.com", False),
        ("*.your-domain.com", "www.your-domain.com", True),
        ("*.your-domain.com", "your-domain.com", False),  # the wildcard is one whole label
        ("*.your-domain.com", "a.b.your-domain.com", False),  # ... and only one
        ("*.com", "your-domain.com", False),  # not above a two-label domain
        ("w*.your-domain.com", "www.your-domain.com", False),  # partial labels: no
        ("www.*.com", "www.your-domain.com", False),  # left-most label only
        ("*", "localhost", False),
        ("", "localhost", False),
    ],
)
def test_hostname_matching(pattern: str, hostname: str, expected: bool) -> None:
    assert hostname_matches(pattern, hostname) is expected


def certificate(dns: tuple[str, ...] = ("localhost",), ips: tuple[str, ...] = (), days: float = 90) -> Certificate:
    return Certificate("CN=x", "CN=ca", dns, ips, NOW - dt.timedelta(days=30), NOW + dt.timedelta(days=days))


def test_ip_addresses_match_ip_sans_only() -> None:
    cert = certificate(dns=("127.0.0.1",), ips=("::1",))
    assert not cert.matches("127.0.0.1"), "an IP address written as a DNS name does not count"
    assert cert.matches("::1")
    assert cert.names == "DNS:127.0.0.1, IP:::1"


def test_seconds_and_days_left() -> None:
    assert certificate(days=3).seconds_left(NOW) == 3 * DAY
    assert certificate(days=-2).seconds_left(NOW) == -2 * DAY


@pytest.mark.parametrize(
    ("days", "text"),
    [
        (3.5, "certificate expires 2026-12-10 (3 days left)"),
        (1, "certificate expires 2026-12-07 (1 day left)"),
        (0.25, "certificate expires 2026-12-06 (0 days left)"),
        (-5, "certificate expired 2026-12-01 (5 days ago)"),
    ],
)
def test_expiry_message(days: float, text: str) -> None:
    assert expiry_text(NOW + dt.timedelta(days=days), NOW) == text


@pytest.mark.parametrize(
    ("written", "address", "port"),
    [
        ("grafana.internal:3000", "grafana.internal", 3000),
        ("[::1]:443", "::1", 443),
        ("127.0.0.1:8443", "127.0.0.1", 8443),
    ],
)
def test_endpoints(written: str, address: str, port: int) -> None:
    endpoint = Endpoint.parse(written)
    assert (endpoint.host, endpoint.port) == (address, port)
    assert str(endpoint) == written


@pytest.mark.parametrize("written", ["grafana.internal", "host:0", "host:99999", "::1:443", "https://x:443"])
def test_bad_endpoints(written: str) -> None:
    with pytest.raises(ValueError, match="not host:port"):
        Endpoint.parse(written)
