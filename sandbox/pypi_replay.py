"""A replay of PyPI's JSON vulnerability API, reached as pip-audit reaches PyPI behind a proxy.

`replaying(tls_folder)` yields the URL of an HTTP proxy on 127.0.0.1. pip-audit (HTTPS_PROXY)
asks it to `CONNECT pypi.org:443`; the proxy answers 200 and speaks TLS itself with a
certificate for pypi.org from the sandbox's CA (sandbox/tls.py `Authority`, the `ca.pem` that
REQUESTS_CA_BUNDLE names), then answers `GET /pypi/<name>/<version>/json` from `RELEASES`: the
body shaped as PyPI's JSON API documents it (warehouse docs/api-reference/json.rst:
`vulnerabilities[]` of `{id, aliases, details, fixed_in, link, source, summary, withdrawn}`),
with the published advisories of requests 2.19.0 (each fixed) and py 1.11.0 (no fix). Any other
release: 404, as PyPI answers for a project it does not host (pip-audit then skips that
dependency). Nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandbox.tls import Authority

HOST = "pypi.org"


def _advisory(id: str, aliases: list[str], fixed_in: list[str], summary: str) -> dict[str, Any]:
    return {
        "aliases": aliases,
        "details": summary,
        "fixed_in": fixed_in,
        "id": id,
        "link": f"https://osv.dev/vulnerability/{id}",
        "source": "osv",
        "summary": None,
        "withdrawn": None,
    }


# (canonical name, version) -> the advisories PyPI lists for that release.
RELEASES: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("requests", "2.19.0"): [
        _advisory(
            "PYSEC-2018-28",
            ["CVE-2018-18074"],
            ["2.20.0"],
            "Requests sends the Authorization header to an http URI upon an https-to-http redirect.",
        ),
        _advisory(
            "PYSEC-2023-74",
            ["CVE-2023-32681", "GHSA-j8r2-6x86-q33q"],
            ["2.31.0"],
            "Requests leaks Proxy-Authorization headers to destination servers on redirects to HTTPS.",
        ),
        _advisory(
            "GHSA-9wx4-h78v-vm56",
            ["CVE-2024-35195"],
            ["2.32.0"],
            "A Session that first made a request with verify=False keeps skipping verification.",
        ),
        _advisory(
            "GHSA-9hjg-9r4m-mvj7",
            ["CVE-2024-47081"],
            ["2.32.4"],
            "Requests may leak .netrc credentials to third parties for specially crafted URLs.",
        ),
    ],
    ("py", "1.11.0"): [  # disputed: no release fixes it
        _advisory(
            "PYSEC-2022-42969",
            ["CVE-2022-42969"],
            [],
            "The py library for Python allows remote attackers to conduct a ReDoS via a Subversion repository.",
        ),
    ],
}
_RELEASE_PATH = re.compile(r"^/pypi/(?P<name>[^/]+)/(?P<version>[^/]+)/json$")


def _answer(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"Connection: close\r\n\r\n" + body


def _release(path: str) -> bytes:
    match = _RELEASE_PATH.match(path)
    key = (match["name"].lower(), match["version"]) if match else None
    if key is None or key not in RELEASES:
        return _answer("404 Not Found", b'{"message": "Not Found"}')
    info = {"name": key[0], "version": key[1]}
    return _answer("200 OK", json.dumps({"info": info, "urls": [], "vulnerabilities": RELEASES[key]}).encode())


def _read_head(stream: Any) -> list[str]:
    """The request line and headers, up to the blank line."""
    lines = []
    while (line := stream.readline(65536)) not in (b"\r\n", b"\n", b""):
        lines.append(line.decode("latin-1").rstrip("\r\n"))
    return lines


@contextmanager
def replaying(tls_folder: Path) -> Iterator[str]:
    """The replay as an HTTP proxy (`http://127.0.0.1:<port>`) for the block."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert, key = Authority(tls_folder).issue((HOST,), ())
    (tls_folder / "pypi.pem").write_bytes(cert)
    (tls_folder / "pypi.key").write_bytes(key)
    (tls_folder / "pypi.key").chmod(0o600)
    context.load_cert_chain(tls_folder / "pypi.pem", tls_folder / "pypi.key")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with contextlib.suppress(OSError, ssl.SSLError), conn:
            conn.settimeout(10)
            head = _read_head(conn.makefile("rb"))
            if not head or head[0].split()[:2] != ["CONNECT", f"{HOST}:443"]:
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            with context.wrap_socket(conn, server_side=True) as tls:
                request = _read_head(tls.makefile("rb"))
                parts = request[0].split() if request else []
                if len(parts) >= 2 and parts[0] == "GET":
                    tls.sendall(_release(parts[1]))

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    acceptor = threading.Thread(target=accept, name="sandbox-pypi-replay", daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        acceptor.join(timeout=2)
        listener.close()
        for name in ("pypi.pem", "pypi.key"):
            (tls_folder / name).unlink(missing_ok=True)
