"""A replay of a service's HTTP API that cannot run here (Grafana, the Kubernetes API server):
a ThreadingHTTPServer on 127.0.0.1, a free port, served from a thread of the test process,
each request answered by the replay's `respond`. A subclass says what it answers, and may
serve HTTPS (`_secure`)."""

from __future__ import annotations

import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


class Replay:
    """The server (`url`, `start`, `stop`, a context manager), its bearer `token` and `faults`."""

    thread_name: ClassVar[str] = "replay"

    def __init__(self) -> None:
        self.token = secrets.token_urlsafe(24)
        self.faults: set[str] = set()
        self._server: ThreadingHTTPServer | None = None

    @property
    def scheme(self) -> str:
        return "http"

    @property
    def url(self) -> str:
        assert self._server is not None, "the replay is not started"
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}"

    def respond(self, method: str, target: str, authorization: str | None) -> tuple[int, str, bytes]:
        """(HTTP status, content type, body) of one request."""
        raise NotImplementedError

    def _secure(self, server: ThreadingHTTPServer) -> None:
        """Serve HTTPS: wrap the listening socket (a subclass's; plain HTTP by default)."""

    def start(self) -> Self:
        replay: Replay = self

        class Handler(_Handler):
            owner = replay

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._secure(self._server)
        threading.Thread(target=self._server.serve_forever, name=self.thread_name, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    owner: Replay
    protocol_version = "HTTP/1.1"

    def _reply(self) -> None:
        code, kind, data = self.owner.respond(self.command, self.path, self.headers.get("Authorization"))
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _reply

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a replay keeps its requests itself, for the tests
