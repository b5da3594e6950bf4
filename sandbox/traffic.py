"""A small, bounded traffic driver so the app's request, latency and Zoho series move.

The sandbox's owner starts it once the app is healthy (sandbox/stack.py): one daemon thread
per route, each sending one GET at a fixed pace to 127.0.0.1 only, with a timeout. A slow
route (a fault) slows only its own thread; the total never exceeds the sum of the paces (4
requests per second by default).
"""

from __future__ import annotations

import contextlib
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from sandbox.processes import NO_PROXY


@dataclass(frozen=True)
class Route:
    path: str
    interval_s: float
    authorized: bool = False


DEFAULT_ROUTES = (
    Route("/api/v1/features", 0.5, authorized=True),
    Route("/api/v1/users?limit=5", 1.0, authorized=True),
    Route("/health", 1.0),  # each /health call also calls Zoho (the stub) once
)


class TrafficDriver:
    """Requests to `base_url` (loopback only) along `routes`, until `stop()`."""

    def __init__(self, base_url: str, admin_token: str, routes: tuple[Route, ...] = DEFAULT_ROUTES) -> None:
        host = urllib.parse.urlsplit(base_url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the traffic driver only talks to the loopback interface, not {host!r}")
        self.base_url = base_url.rstrip("/")
        self.admin_token = admin_token
        self.routes = routes
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        # A fresh Event per start: a thread of an earlier start that outlived stop()'s join (a
        # request still in its timeout) keeps seeing its own Event set and ends, never doubling
        # the traffic.
        self._stopping.set()
        stopping = self._stopping = threading.Event()
        self._threads = []
        for route in self.routes:
            thread = threading.Thread(
                target=self._drive, args=(route, stopping), name=f"traffic {route.path}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(5)

    def _drive(self, route: Route, stopping: threading.Event) -> None:
        headers = {"Authorization": f"Bearer {self.admin_token}"} if route.authorized else {}
        while not stopping.is_set():
            request = urllib.request.Request(self.base_url + route.path, headers=headers)
            with contextlib.suppress(urllib.error.URLError, OSError), NO_PROXY.open(request, timeout=5) as r:
                r.read()
            stopping.wait(route.interval_s)
