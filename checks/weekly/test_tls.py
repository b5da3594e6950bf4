"""Weekly maintenance, step 5: SSL certificate renewal. Each TLS endpoint's certificate is valid
for weeks yet (`check_curl -C 30,14`), names the host it serves, and chains to a trusted CA.
Read-only (one handshake per endpoint), so it runs every morning too."""

from __future__ import annotations

import datetime as dt

import pytest

from fixtures.measure import CheckRun, check
from probes.tls import DAY, Endpoint, NoHandshake, expiry_text, handshake
from sergas.config import Environment
from sergas.status import Limit, Status, unknown
from sergas.units import Unit, format_quantity

pytestmark = [pytest.mark.weekly, pytest.mark.daily, pytest.mark.tls]

# Verification errors that the expiry finding already says.
_DATES = ("certificate has expired", "certificate is not yet valid")


@check(
    "tls.certificate_expiry",
    "TLS certificates are valid for weeks yet, for their host, from a trusted CA",
    days_left=Limit(30 * DAY, 14 * DAY, Unit.SECONDS, below=True),
)
def test_certificate_expiry(tls_endpoint: Endpoint, check: CheckRun, environment: Environment) -> None:
    ca_file = environment.tls.ca_file if environment.tls is not None else None
    timeout = environment.connect_timeout
    try:
        shake = handshake(tls_endpoint, timeout, timeout, ca_file)
    except NoHandshake as exc:
        raise unknown(str(exc)) from None
    cert = shake.certificate
    trust = f"verified against {ca_file or 'the system store'}: {shake.verify_error or 'ok'}"
    check.attach(f"certificate ({shake.version})", f"{cert.evidence()}\n{trust}")

    now = dt.datetime.now(dt.UTC)
    left = cert.seconds_left(now)
    limit = check.limit("days_left")
    status, reached = limit.judge(left)
    text = expiry_text(cert.not_after, now)
    if reached is not None and left > 0:
        text += f" {limit.sign} {status.value} {format_quantity(reached, limit.unit)}"
    check.judged("days_left", left, status, label="certificate validity left")
    check.findings.append((status, text))

    if not cert.matches(tls_endpoint.host):
        check.critical(f"certificate is not for {tls_endpoint.host} (SANs: {cert.names})")
    if shake.verify_error is not None and shake.verify_error not in _DATES:
        check.critical(f"certificate not trusted: {shake.verify_error} (issuer {cert.issuer})")
    if shake.verify_error in _DATES and status is not Status.CRITICAL:
        check.critical(f"certificate not valid: {shake.verify_error}")
