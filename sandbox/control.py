"""The owner's control socket: attached handles ask the owning process to stop or start a
component, so every server stays a child of the owner (and dies with it, not with the
short-lived process that injected a fault).
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

Handler = Callable[[str, str], None]
"""handler(op, component) with op in {"stop", "start"} (and {"revoke_key", "restore_key"} for
"s3"); raises on failure. `Sandbox._lifecycle` has this shape too: the fault classes get it to
have a component stopped and started by its owner, in process or over the socket."""


class ControlServer:
    """A unix-socket server handling one request at a time, in one daemon thread."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        outer_handler = handler

        class _Request(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                try:
                    request = json.loads(self.rfile.readline())
                    outer_handler(str(request["op"]), str(request["component"]))
                    reply: dict[str, object] = {"ok": True}
                except Exception as exc:
                    reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                self.wfile.write(json.dumps(reply).encode() + b"\n")

        if path.exists():
            path.unlink()
        self._server = socketserver.UnixStreamServer(str(path), _Request)
        os.chmod(path, 0o600)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="sandbox-control",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()
        self.path.unlink(missing_ok=True)


def request(path: Path, op: str, component: str, timeout: float = 60.0) -> None:
    """Ask the owner at `path` to `op` ("stop"/"start") `component`; raise RuntimeError if it can't."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(json.dumps({"op": op, "component": component}).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        raise RuntimeError(
            f"sandbox owner not reachable at {path} ({exc}): is the process that started it alive?"
        ) from exc
    reply = json.loads(data or b"{}")
    if not reply.get("ok"):
        raise RuntimeError(f"sandbox owner could not {op} {component}: {reply.get('error', 'no reply')}")


@contextmanager
def undone_after(lifecycle: Handler, component: str, op: str = "stop", undo: str = "start") -> Iterator[None]:
    """`lifecycle(op, component)` for the block, `lifecycle(undo, component)` after it, also
    after a failure: a component stopped, then started again on the same port with its data."""
    lifecycle(op, component)
    try:
        yield
    finally:
        lifecycle(undo, component)
