"""A TLS endpoint's certificate: the handshake (with SNI) and what the certificate says.

`handshake` connects with a connect timeout, completes a TLS handshake within the read timeout
and verifies the chain against the system store or a CA file. A certificate that fails
verification is fetched again without verification, so its dates and names can still be read;
the verification error comes with it. Hostnames are matched here (`hostname_matches`, RFC 6125:
SAN DNS names only, a wildcard only as the whole left-most label), IP addresses against SAN IPs.
An endpoint that refuses, hangs or speaks no TLS raises `NoHandshake` with the reason.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass

DAY = 86400.0
_ENDPOINT = re.compile(r"^(?:\[(?P<ip6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\s\[\]]+)):(?P<port>\d{1,5})$")
ENDPOINT_PATTERN = _ENDPOINT.pattern


class NoHandshake(Exception):
    """No TLS handshake with the endpoint: refused, timed out, or not TLS. One line: the reason."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """`grafana.internal:3000`, `[::1]:443`."""
        match = _ENDPOINT.match(text.strip())
        if match is None or not 0 < int(match["port"]) < 65536:
            raise ValueError(f"not host:port: {text!r}")
        return cls(match["ip6"] or match["host"], int(match["port"]))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Certificate:
    """What a certificate says, as a report shows it."""

    subject: str
    issuer: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime

    @classmethod
    def from_der(cls, der: bytes) -> Certificate:
        from cryptography import x509  # here: only runs that read a certificate load cryptography

        cert = x509.load_der_x509_certificate(der)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns = tuple(san.get_values_for_type(x509.DNSName))
            ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
        except x509.ExtensionNotFound:
            dns, ips = (), ()
        return cls(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            dns_names=dns,
            ip_addresses=ips,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
        )

    @property
    def names(self) -> str:
        """The SANs, as `DNS:localhost, IP:127.0.0.1` (or `none`)."""
        shown = [f"DNS:{n}" for n in self.dns_names] + [f"IP:{ip}" for ip in self.ip_addresses]
        return ", ".join(shown) or "none"

    def matches(self, hostname: str) -> bool:
        """Whether the certificate is for `hostname` (an IP address: its SAN IPs)."""
        try:
            address = ipaddress.ip_address(hostname)
        except ValueError:
            return any(hostname_matches(pattern, hostname) for pattern in self.dns_names)
        return any(ipaddress.ip_address(ip) == address for ip in self.ip_addresses)

    def seconds_left(self, now: dt.datetime) -> float:
        """Validity left at `now` (negative: expired that long ago)."""
        return (self.not_after - now).total_seconds()

    def evidence(self) -> str:
        return (
            f"subject: {self.subject}\nissuer: {self.issuer}\nSANs: {self.names}\n"
            f"notBefore: {self.not_before:%Y-%m-%d %H:%M:%S} UTC\nnotAfter: {self.not_after:%Y-%m-%d %H:%M:%S} UTC"
        )


def hostname_matches(pattern: str, hostname: str) -> bool:
    """RFC 6125 §6.4: case-insensitive; `*` only as the whole left-most label, matching exactly
    one label, and not above a registered-looking domain (`*.com` matches nothing)."""
    pattern, hostname = pattern.lower().rstrip("."), hostname.lower().rstrip(".")
    if not pattern or not hostname:
        return False
    if "*" not in pattern:
        return pattern == hostname
    first, _, rest = pattern.partition(".")
    if first != "*" or "*" in rest or rest.count(".") < 1:
        return False
    label, _, host_rest = hostname.partition(".")
    return bool(label) and host_rest == rest


def expiry_text(not_after: dt.datetime, now: dt.datetime) -> str:
    """`certificate expires 2026-12-09 (3 days left)`, `certificate expired 2026-12-01 (5 days ago)`."""
    days = (not_after - now).total_seconds() / DAY
    date = f"{not_after:%Y-%m-%d}"
    if days < 0:
        ago = int(-days)
        return f"certificate expired {date} ({ago} day{'s' if ago != 1 else ''} ago)"
    left = int(days)
    return f"certificate expires {date} ({left} day{'s' if left != 1 else ''} left)"


@dataclass(frozen=True)
class Handshake:
    """The certificate an endpoint presented, and why its chain did not verify (None: it did)."""

    certificate: Certificate
    verify_error: str | None
    version: str


def handshake(endpoint: Endpoint, connect_timeout: float, timeout: float, ca_file: str | None = None) -> Handshake:
    """Handshake with SNI `endpoint.host`; the chain verified against `ca_file` or the system
    store (the hostname is judged by `Certificate.matches`, not here)."""
    try:
        verifying = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise NoHandshake(f"cannot load the CA file {ca_file}: {_reason(exc)}") from None
    verifying.check_hostname = False
    try:
        der, version = _presented(endpoint, verifying, connect_timeout, timeout)
        return Handshake(Certificate.from_der(der), None, version)
    except ssl.SSLCertVerificationError as exc:
        error = exc.verify_message or _one_line(exc)
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    der, version = _presented(endpoint, unverified, connect_timeout, timeout)
    return Handshake(Certificate.from_der(der), error, version)


def _presented(
    endpoint: Endpoint, context: ssl.SSLContext, connect_timeout: float, timeout: float
) -> tuple[bytes, str]:
    sni = None if _is_ip(endpoint.host) else endpoint.host
    try:
        raw = socket.create_connection((endpoint.host, endpoint.port), timeout=connect_timeout)
    except TimeoutError:
        raise NoHandshake(f"no connection within {connect_timeout:g}s") from None
    except OSError as exc:
        raise NoHandshake(f"cannot connect: {_reason(exc)}") from None
    with raw:
        raw.settimeout(timeout)
        try:
            with context.wrap_socket(raw, server_hostname=sni) as tls:
                der = tls.getpeercert(binary_form=True)
                version = tls.version() or "?"
        except ssl.SSLCertVerificationError:
            raise
        except TimeoutError:
            raise NoHandshake(f"no TLS handshake within {timeout:g}s") from None
        except ssl.SSLError as exc:
            reason = str(exc.reason).replace("_", " ").lower() if exc.reason else _one_line(exc)
            raise NoHandshake(f"no TLS handshake: {reason}") from None
        except OSError as exc:
            raise NoHandshake(f"no TLS handshake: {_reason(exc)}") from None
    if not der:
        raise NoHandshake("no TLS handshake: the server presented no certificate")
    return der, version


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _reason(exc: OSError) -> str:
    text = exc.strerror or _one_line(exc) or type(exc).__name__
    return text[0].lower() + text[1:]


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
