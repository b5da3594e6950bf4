"""The sandbox's TLS: a private CA and an endpoint serving a certificate it signed, with faults.

`<root>/tls/` holds the CA (`ca.pem`, `ca.key`) and the endpoint's `server.pem`/`server.key`
(every file 0600). The endpoint (a threaded, `ssl`-wrapped server on 127.0.0.1 that completes
handshakes and answers HTTP 200) loads the certificate again for new connections whenever the
file changes, so a fault is a new certificate written there, by the owner or an attached handle.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sandbox.ports import free_port

HOSTNAMES = ("localhost",)
ADDRESSES = ("127.0.0.1",)
_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"


def _write_private(path: Path, data: bytes) -> None:
    """Write atomically, mode 0600 (a reader never sees half a certificate)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sergas sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


class Authority:
    """A CA (EC P-256) kept in `folder` as `<stem>.pem` and `<stem>.key`; made on first use."""

    def __init__(self, folder: Path, stem: str = "ca", common_name: str = "Sergas sandbox CA") -> None:
        self.cert_file = folder / f"{stem}.pem"
        self.key_file = folder / f"{stem}.key"
        if not self.cert_file.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            now = dt.datetime.now(dt.UTC)
            cert = (
                x509.CertificateBuilder()
                .subject_name(_name(common_name))
                .issuer_name(_name(common_name))
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(
                    x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
                )
                .sign(key, hashes.SHA256())
            )
            _write_private(self.key_file, _key_pem(key))
            _write_private(self.cert_file, cert.public_bytes(serialization.Encoding.PEM))
        self.cert = x509.load_pem_x509_certificate(self.cert_file.read_bytes())
        loaded = serialization.load_pem_private_key(self.key_file.read_bytes(), password=None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        self.key = loaded

    def issue(
        self,
        hostnames: tuple[str, ...] = HOSTNAMES,
        addresses: tuple[str, ...] = ADDRESSES,
        *,
        days: float = 90,
        expired: bool = False,
    ) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) for the names, valid `days` from now (or ended `days` ago)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        not_after = now - dt.timedelta(days=days) if expired else now + dt.timedelta(days=days)
        sans: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
        sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(hostnames[0] if hostnames else addresses[0]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(min(now, not_after) - dt.timedelta(days=30))
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def install(folder: Path, cert_and_key: tuple[bytes, bytes]) -> None:
    """Make `cert_and_key` the certificate the endpoint serves from `folder` (key first: the
    server reloads when the certificate file changes)."""
    _write_private(folder / "server.key", cert_and_key[1])
    _write_private(folder / "server.pem", cert_and_key[0])


class TlsServer:
    """The sandbox's TLS endpoint on 127.0.0.1 (`port`), its CA file (`ca_file`)."""

    def __init__(self, root: Path) -> None:
        self.folder = root / "tls"
        self.folder.mkdir(mode=0o700, exist_ok=True)
        self.authority = Authority(self.folder)
        self.ca_file = self.authority.cert_file
        install(self.folder, self.authority.issue())
        self.port = free_port()
        self._stop = threading.Event()
        self._context: ssl.SSLContext | None = None
        self._loaded: tuple[int, int] | None = None
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def launch(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        listener.settimeout(0.2)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, name="sandbox-tls", daemon=True)
        self._thread.start()

    def _current_context(self) -> ssl.SSLContext:
        cert = self.folder / "server.pem"
        stat = cert.stat()
        if self._context is None or self._loaded != (stat.st_ino, stat.st_mtime_ns):
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, self.folder / "server.key")
            self._context, self._loaded = context, (stat.st_ino, stat.st_mtime_ns)
        return self._context

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.settimeout(5)
            with self._current_context().wrap_socket(conn, server_side=True) as tls:
                tls.recv(65536)
                tls.sendall(_ANSWER)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._listener is not None:
            self._listener.close()


class TlsFaults:
    """Faults of the TLS endpoint: another certificate served for the block, then the good one."""

    def __init__(self, tls_folder: Path) -> None:
        self._tls_folder = tls_folder

    @contextmanager
    def _serving(self, make: Callable[[Authority], tuple[bytes, bytes]]) -> Iterator[None]:
        folder = self._tls_folder
        saved = ((folder / "server.pem").read_bytes(), (folder / "server.key").read_bytes())
        install(folder, make(Authority(folder)))
        try:
            yield
        finally:
            install(folder, saved)

    def tls_expiring(self, days: float = 3) -> contextlib.AbstractContextManager[None]:
        """A certificate that expires in `days` days."""
        return self._serving(lambda ca: ca.issue(days=days))

    def tls_expired(self, days: float = 5) -> contextlib.AbstractContextManager[None]:
        """A certificate that expired `days` days ago."""
        return self._serving(lambda ca: ca.issue(days=days, expired=True))

    def tls_wrong_host(self) -> contextlib.AbstractContextManager[None]:
        """A certificate for another name (`www.example.org`), from the sandbox's CA."""
        return self._serving(lambda ca: ca.issue(("www.example.org",), ()))

    def tls_untrusted(self) -> contextlib.AbstractContextManager[None]:
        """A certificate signed by another CA than the one the environment trusts."""
        return self._serving(lambda _: Authority(self._tls_folder, "other-ca", "Some other CA").issue())
