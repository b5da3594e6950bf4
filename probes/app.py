"""What the app checks read: the /health answer, timed GETs, and how the service runs on a host."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, cast

import httpx


@dataclass(frozen=True)
class HealthAnswer:
    url: str
    status_code: int
    latency_s: float
    text: str
    body: dict[str, Any] | None
    problem: str | None  # why the body is unusable, when it is

    def component(self, name: str) -> dict[str, Any] | None:
        """A component's entry: `components.<name>`, or a bare top-level `<name>` string."""
        if self.body is None:
            return None
        components = self.body.get("components")
        if isinstance(components, dict) and isinstance(components.get(name), dict):
            return cast("dict[str, Any]", components[name])
        value = self.body.get(name)
        if isinstance(value, str):
            return {"status": value}
        return None


HEALTHY = {"healthy", "ok", "up", "connected", "pass"}


def fetch_health(client: httpx.Client, path: str) -> HealthAnswer:
    """GET the health endpoint; transport errors propagate (httpx.TransportError)."""
    started = time.perf_counter()
    response = client.get(path)
    latency = time.perf_counter() - started
    body, problem = None, None
    try:
        parsed = json.loads(response.text)
        if isinstance(parsed, dict):
            body = parsed
        else:
            problem = f"body is JSON but not an object ({type(parsed).__name__})"
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json can follow
        problem = f"body is not JSON: {response.text[:60]!r}"
    return HealthAnswer(str(response.url), response.status_code, latency, response.text, body, problem)


def timed_get(client: httpx.Client, path: str) -> tuple[int, float]:
    """GET `path` and drop the body: (HTTP status, seconds to the whole answer). Transport
    errors propagate (httpx.TransportError)."""
    started = time.perf_counter()
    response = client.get(path)
    return response.status_code, time.perf_counter() - started
