"""The reference Sergas app: a stdlib HTTP server with the endpoints the operations manual uses.

Run as ``python -m sandbox.app --config app.json --name sergas-app-<token>``; the ``--name``
marker makes the process findable with ``pgrep -f``. Log lines follow the manual's format::

    2026-12-01T19:40:00.123+00:00 INFO sergas.api request method=GET path=/health status_code=200 duration=12

The faults file named in the config is re-read on every request (see `AppFaults` in sandbox/app_process.py).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import hashlib
import hmac
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import redis
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.backoff import NoBackoff
from redis.retry import Retry

from sandbox.processes import NO_PROXY

VERSION = "1.0.0"
ZOHO_STUB_PATH = "/zoho-stub/crm/v2/org"
ROUTES = ("/health", "/metrics", "/api/v1/users", "/api/v1/features", ZOHO_STUB_PATH)
CIRCUIT_BREAKER_THRESHOLD = 3

log = logging.getLogger("sergas")


@dataclass(frozen=True)
class AppConfig:
    name: str
    port: int
    database_url: str
    redis_url: str
    admin_token: str
    faults_file: Path
    host: str = "127.0.0.1"
    zoho_url: str | None = None  # None: the stub served by this process
    features: dict[str, Any] = field(default_factory=dict)
    db_pool_size: int = 10  # the connections the app allows itself (sergas_db_pool_size)
    exit_at_start_file: str | None = None  # exists at start: exit 1 (a restart loop, sandbox/compose.py)
    workers: int = 1  # more than 1: prefork worker processes serve the socket (see serve_in_workers)

    @classmethod
    def load(cls, path: Path) -> AppConfig:
        data = json.loads(path.read_text())
        data["faults_file"] = Path(data["faults_file"])
        return cls(**data)


class _ManualFormatter(logging.Formatter):
    """`<ISO-8601 UTC with ms> LEVEL logger message`, one line per record."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        line = f"{self.formatTime(record)} {record.levelname} {record.name} {record.getMessage()}"
        if record.exc_info:
            line += " " + repr(record.exc_info[1])
        return line


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ManualFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class _ActiveSessions(Collector):
    """`sergas_agent_sessions_active`, counted in the database at scrape time (absent if it fails)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with psycopg.connect(self.database_url, connect_timeout=2) as conn:
                row = conn.execute("SELECT count(*) FROM agent_sessions WHERE status = 'running'").fetchone()
        except psycopg.Error:
            return
        family = GaugeMetricFamily("sergas_agent_sessions_active", "Agent sessions currently running")
        family.add_metric([], row[0] if row else 0)
        yield family


class SergasApp:
    """State shared by the request handlers: configuration, metrics, the Zoho circuit breaker."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        # A bound socket that never listens: connecting to its port is refused, guaranteed.
        self._closed_port_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._closed_port_socket.bind(("127.0.0.1", 0))
        self.closed_port = self._closed_port_socket.getsockname()[1]
        self._zoho_failures = 0
        self._zoho_lock = threading.Lock()

        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.requests = Counter(
            "sergas_http_requests", "HTTP requests", ["method", "path", "status"], registry=self.registry
        )
        self.duration = Histogram(
            "sergas_http_request_duration_seconds",
            "HTTP request duration",
            ["method", "path"],
            registry=self.registry,
        )
        self.zoho_calls = Counter("sergas_zoho_api_calls", "Zoho CRM API calls", ["result"], registry=self.registry)
        for result in ("success", "failure"):  # exported at 0 from the start: rate() sees the first call
            self.zoho_calls.labels(result)
        info = Gauge("sergas_app_info", "Application version", ["version"], registry=self.registry)
        info.labels(VERSION).set(1)
        self.registry.register(_ActiveSessions(config.database_url))
        self.agent_sessions = Counter(
            "sergas_agent_sessions",
            "Agent sessions finished, by outcome",
            ["agent", "outcome"],
            registry=self.registry,
        )
        for outcome in ("success", "failure"):
            self.agent_sessions.labels("ZohoDataScout", outcome)
        Gauge("sergas_db_pool_size", "Database connections the app may hold", registry=self.registry).set(
            config.db_pool_size
        )
        self.db_in_use = Gauge(
            "sergas_db_pool_connections_in_use", "Database connections held right now", registry=self.registry
        )

    def db_connect(self) -> Any:
        """A database connection counted in sergas_db_pool_connections_in_use while held."""
        return _Counted(psycopg.connect(self.config.database_url, connect_timeout=2), self.db_in_use)

    def run_agents(self, stopping: threading.Event, interval_s: float = 1.0) -> None:
        """The scheduled agent: one session per `interval_s`, failing under the agent_failures fault."""
        while not stopping.wait(interval_s):
            outcome = "failure" if self.faults().get("agent_failures") else "success"
            self.agent_sessions.labels("ZohoDataScout", outcome).inc()
            if outcome == "failure":
                log.getChild("agents").error("agent session failed agent=ZohoDataScout")

    def exposition(self, faults: dict[str, Any]) -> bytes:
        """/metrics, without the families the metrics_hidden fault names (prefixes)."""
        text = generate_latest(self.registry)
        hidden = tuple(faults.get("metrics_hidden") or ())
        if not hidden:
            return text
        kept = [
            line
            for line in text.decode().splitlines()
            if not (line.split(" ", 3)[2] if line.startswith("# ") else line).startswith(hidden)
        ]
        return ("\n".join(kept) + "\n").encode()

    # --- faults -------------------------------------------------------------------------
    def faults(self) -> dict[str, Any]:
        try:
            data = json.loads(self.config.faults_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def zoho_url(self, faults: dict[str, Any]) -> str:
        if faults.get("zoho_unreachable"):
            return f"http://127.0.0.1:{self.closed_port}{ZOHO_STUB_PATH}"
        return self.config.zoho_url or f"http://127.0.0.1:{self.config.port}{ZOHO_STUB_PATH}"

    # --- component checks -----------------------------------------------------------------
    def check_database(self) -> dict[str, Any]:
        started = time.monotonic()
        try:
            with self.db_connect() as conn:
                conn.execute("SELECT 1")
        except Exception as exc:
            log.getChild("database").error("Database health check failed: %s", _first_line(exc))
            return _component(False, started, _first_line(exc))
        return _component(True, started)

    def check_redis(self) -> dict[str, Any]:
        started = time.monotonic()
        try:
            client = redis.Redis.from_url(
                self.config.redis_url,
                socket_timeout=1,
                socket_connect_timeout=1,
                retry=Retry(NoBackoff(), 0),
            )
            with client:
                client.ping()
        except Exception as exc:
            log.getChild("redis").error("Redis health check failed: %s", _first_line(exc))
            return _component(False, started, _first_line(exc))
        return _component(True, started)

    def check_zoho(self, faults: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        zoho_log = log.getChild("zoho")
        try:
            with NO_PROXY.open(self.zoho_url(faults), timeout=1) as response:
                response.read()
        except Exception as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(reason, ConnectionRefusedError):
                message = "connection refused"
            elif isinstance(reason, TimeoutError):
                message = "timed out"
            else:
                message = _first_line(reason) if isinstance(reason, BaseException) else str(reason)
            zoho_log.error("Zoho CRM request failed: %s", message)
            self.zoho_calls.labels("failure").inc()
            with self._zoho_lock:
                self._zoho_failures += 1
                if self._zoho_failures == CIRCUIT_BREAKER_THRESHOLD:
                    zoho_log.warning("circuit breaker open after %d consecutive failures", self._zoho_failures)
            return _component(False, started, message)
        self.zoho_calls.labels("success").inc()
        with self._zoho_lock:
            if self._zoho_failures >= CIRCUIT_BREAKER_THRESHOLD:
                zoho_log.info("circuit breaker closed")
            self._zoho_failures = 0
        return _component(True, started)

    def health(self, faults: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        components = {
            "database": self.check_database(),
            "redis": self.check_redis(),
            "zoho": self.check_zoho(faults),
        }
        if components["database"]["status"] != "healthy" or components["redis"]["status"] != "healthy":
            code, status = 503, "unhealthy"
        elif components["zoho"]["status"] != "healthy":
            code, status = 200, "degraded"
        else:
            code, status = 200, "healthy"
        body = {
            "status": status,
            "version": VERSION,
            "zoho": "connected" if components["zoho"]["status"] == "healthy" else "unreachable",
            "components": components,
        }
        return code, body


class _Counted:
    """A psycopg connection whose `with` block counts in a gauge."""

    def __init__(self, conn: psycopg.Connection[Any], gauge: Gauge) -> None:
        self.conn = conn
        self.gauge = gauge

    def __enter__(self) -> psycopg.Connection[Any]:
        self.gauge.inc()
        return self.conn.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.gauge.dec()
        self.conn.__exit__(*exc)


def _component(healthy: bool, started: float, error: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "status": "healthy" if healthy else "unhealthy",
        "latency_ms": round((time.monotonic() - started) * 1000, 2),
    }
    if error is not None:
        result["error"] = error
    return result


class SergasServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    allow_reuse_port = True  # SO_REUSEPORT: replicas on the host's network share one port

    def __init__(self, app: SergasApp) -> None:
        self.app = app
        super().__init__((app.config.host, app.config.port), SergasHandler)


class SergasHandler(BaseHTTPRequestHandler):
    server: SergasServer
    server_version = "sergas/" + VERSION

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's own access log: requests are logged in the manual's format."""

    def do_GET(self) -> None:
        app = self.server.app
        started = time.monotonic()
        path = urlsplit(self.path).path
        try:
            status = self._faulty(app, path) or self._route(app, path)
        except Exception:
            log.getChild("api").exception("unhandled error path=%s", path)
            status = self._send_json(500, {"detail": "Internal Server Error"})
        elapsed = time.monotonic() - started
        label = path if path in ROUTES else "other"
        app.requests.labels("GET", label, str(status)).inc()
        app.duration.labels("GET", label).observe(elapsed)
        log.getChild("api").info(
            "request method=GET path=%s status_code=%d duration=%d", path, status, round(elapsed * 1000)
        )

    def _faulty(self, app: SergasApp, path: str) -> int | None:
        """The slow_paths and http_errors faults: {path: seconds}, {path: HTTP code}."""
        faults = app.faults()
        delay = float((faults.get("slow_paths") or {}).get(path) or 0)
        if delay > 0:
            time.sleep(delay)
        code = (faults.get("http_errors") or {}).get(path)
        if code:
            log.getChild("api").error("request failed path=%s: injected fault", path)
            return self._send_json(int(code), {"detail": "Internal Server Error"})
        return None

    def _route(self, app: SergasApp, path: str) -> int:
        if path == "/health":
            return self._health(app)
        if path == ZOHO_STUB_PATH:
            return self._send_json(200, {"org": [{"id": "4000000000001", "company_name": "Sergas", "country": "ES"}]})
        if path == "/metrics":
            return self._send(200, app.exposition(app.faults()), CONTENT_TYPE_LATEST)
        if path == "/api/v1/features":
            return self._features(app)
        if path == "/api/v1/users":
            return self._users(app)
        return self._send_json(404, {"detail": "Not Found"})

    def _health(self, app: SergasApp) -> int:
        faults = app.faults()
        delay = float(faults.get("health_delay_s") or 0)
        if delay > 0:
            time.sleep(delay)
        code, body = app.health(faults)
        code = int(faults.get("health_status") or code)
        if faults.get("health_garbage"):
            return self._send(code, b"<html><body><h1>502 Bad Gateway</h1>", "text/html")
        return self._send_json(code, body)

    def _refused(self, app: SergasApp, path: str) -> int | None:
        """401 (sent, and logged with the token's fingerprint) unless the admin token came as Bearer."""
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), app.config.admin_token.encode()):
            return None
        fingerprint = "sha256:" + hashlib.sha256(token.strip().encode()).hexdigest()[:8] if token else "<none>"
        log.getChild("auth").warning(
            "authentication failed for token %s path=%s client=%s", fingerprint, path, self.client_address[0]
        )
        return self._send_json(401, {"detail": "Not authenticated"})

    def _features(self, app: SergasApp) -> int:
        """The flags of the app's config (admin only); the features_flipped fault inverts some."""
        refused = self._refused(app, "/api/v1/features")
        if refused is not None:
            return refused
        flipped = set(app.faults().get("features_flipped") or ())
        return self._send_json(
            200, {name: (not value if name in flipped else value) for name, value in app.config.features.items()}
        )

    def _users(self, app: SergasApp) -> int:
        refused = self._refused(app, "/api/v1/users")
        if refused is not None:
            return refused
        query = parse_qs(urlsplit(self.path).query)
        limit = min(max(int(query.get("limit", ["50"])[0]), 1), 500)
        offset = max(int(query.get("offset", ["0"])[0]), 0)
        try:
            with app.db_connect() as conn:
                total = conn.execute("SELECT count(*) FROM users").fetchone()
                rows = conn.execute(
                    "SELECT id, email, name, role, disabled, created_at FROM users ORDER BY id LIMIT %s OFFSET %s",
                    (limit, offset),
                ).fetchall()
        except psycopg.Error as exc:
            log.getChild("database").error("query failed: %s", _first_line(exc))
            return self._send_json(503, {"detail": "database unavailable"})
        users = [
            {
                "id": r[0],
                "email": r[1],
                "name": r[2],
                "role": r[3],
                "disabled": r[4],
                "created_at": r[5].isoformat(),
            }
            for r in rows
        ]
        return self._send_json(
            200, {"total": total[0] if total else 0, "limit": limit, "offset": offset, "users": users}
        )

    def _send_json(self, code: int, body: Any) -> int:
        return self._send(code, json.dumps(body).encode(), "application/json")

    def _send(self, code: int, payload: bytes, content_type: str) -> int:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        return code


PR_SET_PDEATHSIG = 1


def serve_in_workers(server: SergasServer, count: int) -> int:
    """Prefork, as `uvicorn --workers N` and gunicorn run: `count` child processes serve the bound
    socket and the main process only waits for them. A worker that dies is not replaced (as
    uvicorn's supervisor before 0.30), so a killed worker stays missing: app.workers' real fault.
    Workers die with the main process (PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    workers: list[int] = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
            try:
                server.serve_forever(poll_interval=0.2)
            finally:
                os._exit(0)
        workers.append(pid)

    def stop(signum: int, frame: object) -> None:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        while workers:
            pid, _ = os.wait()
            workers.remove(pid)
    except (SystemExit, KeyboardInterrupt, ChildProcessError):
        pass
    finally:
        server.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.app", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="app.json written by the sandbox")
    parser.add_argument("--name", required=True, help="process marker, e.g. sergas-app-<token>")
    args = parser.parse_args(argv)
    configure_logging()
    config = AppConfig.load(args.config)
    if config.exit_at_start_file and Path(config.exit_at_start_file).exists():
        log.getChild("config").error("start refused: %s exists", config.exit_at_start_file)
        return 1
    app = SergasApp(config)
    server = SergasServer(app)
    stopping = threading.Event()
    threading.Thread(target=app.run_agents, args=(stopping,), name="agents", daemon=True).start()

    def on_sigterm(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    log.getChild("config").info(
        "Configuration loaded name=%s version=%s features=%s",
        args.name,
        VERSION,
        ",".join(k for k, v in config.features.items() if v),
    )
    log.getChild("api").info("listening on http://%s:%d", config.host, config.port)
    if config.workers > 1:
        return serve_in_workers(server, config.workers)
    try:
        server.serve_forever(poll_interval=0.2)
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        server.server_close()
        log.getChild("api").info("shutting down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
