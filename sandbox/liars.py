"""Small local servers that fail the ways real ones do, for the fault matrix: refused (nothing
listens), hung (accepts, never answers), liar (HTTP 200 with an HTML page on every path, or
bytes of the wrong protocol), slow (answers after a delay), garbage (a truncated answer).

Each is a context manager yielding the port on 127.0.0.1; every one stops with its block.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sandbox.ports import free_port

MAINTENANCE_PAGE = b"<!doctype html><html><body><h1>Down for maintenance</h1></body></html>"


def _http(body: bytes, content_type: bytes = b"text/html") -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type + b"\r\nConnection: close\r\n"
    return head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


# What each kind of server does with a connection it accepted: (delay before answering, answer).
# None as the answer: it never answers (hung); the delay is then how long it holds on.
BEHAVIOUR: dict[str, tuple[float, bytes | None]] = {
    "hung": (3600.0, None),
    "liar": (0.0, _http(MAINTENANCE_PAGE)),
    "wrong-protocol": (0.0, b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"),
    "garbage": (0.0, _http(b'{"status": "success", "data": {"resu', b"application/json")),
}


@contextmanager
def refused() -> Iterator[int]:
    """A port where nothing listens."""
    yield free_port()


@contextmanager
def serving(kind: str, delay: float | None = None) -> Iterator[int]:
    """A server of `kind` (hung, liar, wrong-protocol, garbage); `delay` makes it answer late
    (slow) instead of at once."""
    wait, answer = BEHAVIOUR[kind]
    wait = wait if delay is None else delay
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def handle(conn: socket.socket) -> None:
        try:
            conn.settimeout(0.2)
            with contextlib.suppress(OSError):
                conn.recv(65536)  # the request, if the client sends one first
            if stop.wait(wait) or answer is None:
                return
            conn.sendall(answer)
        except OSError:
            pass
        finally:
            if answer is not None:
                conn.close()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        acceptor.join(timeout=2)
        listener.close()
        for conn in held:
            conn.close()
