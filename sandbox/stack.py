"""The sandbox as a whole: PostgreSQL, Redis and the Sergas app under one temporary root."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from sandbox import backups as sandbox_backups
from sandbox import config_env as sandbox_config_env
from sandbox import control
from sandbox import logs as sandbox_logs
from sandbox.alertmanager import AlertmanagerFaults, AlertmanagerServer
from sandbox.app_process import AppFaults, AppProcess
from sandbox.app_source import SourceFaults, write_source
from sandbox.apt import AptFaults, AptState
from sandbox.backups import BackupFaults
from sandbox.config_env import ConfigEnvFaults
from sandbox.logs import LogFaults
from sandbox.ports import free_port
from sandbox.postgres import PostgresCluster, PostgresFaults
from sandbox.processes import NO_PROXY, ChildServer, pid_alive, wait_until
from sandbox.prometheus import JOB, PrometheusFaults, PrometheusServer
from sandbox.pushgateway import PushgatewayServer
from sandbox.redis import RedisFaults, RedisServer
from sandbox.s3 import S3Server, start_in_background
from sandbox.state import SandboxState
from sandbox.tls import TlsFaults, TlsServer
from sandbox.traffic import TrafficDriver

ROOT_PREFIX = "sergas-sandbox-"
COMPONENTS = ("postgres", "redis", "app", "prometheus", "alertmanager", "s3", "pushgateway")
DEFAULT_FEATURES: dict[str, Any] = {
    "new_feature": False,
    "agent_auto_enrichment": True,
    "recommendation_approval_required": True,
    "zoho_webhooks": True,
}


class Faults(
    PostgresFaults,
    RedisFaults,
    AppFaults,
    LogFaults,
    PrometheusFaults,
    AlertmanagerFaults,
    BackupFaults,
    TlsFaults,
    AptFaults,
    SourceFaults,
    ConfigEnvFaults,
):
    """The fault states of one sandbox (`sandbox.faults`): context managers that put one component
    in a fault state and restore it, each defined beside its component's server.

        with sandbox.faults.postgres_stopped():
            ...  # /health answers 503, database unhealthy

    They work on an owned sandbox and on a `Sandbox.attach()`ed handle alike: a server is
    stopped and started by its owner (`lifecycle`, see `sandbox.control.Handler`). This class
    only wires each part to the state; the parts share no attribute but that `lifecycle`.
    """

    def __init__(self, state: SandboxState, lifecycle: control.Handler, traffic: TrafficDriver | None) -> None:
        PostgresFaults.__init__(self, state.pg_dsn, state.pg_superuser_dsn, state.postgres_log, lifecycle)
        RedisFaults.__init__(self, state.redis_port, lifecycle)
        AppFaults.__init__(self, state.faults_file, lifecycle, traffic)
        LogFaults.__init__(self, state.app_log)
        PrometheusFaults.__init__(self, lifecycle)
        AlertmanagerFaults.__init__(self, state.alertmanager_url, lifecycle)
        BackupFaults.__init__(
            self, state.root, state.s3_endpoint, state.s3_access_key_id, state.s3_secret_access_key, lifecycle
        )
        TlsFaults.__init__(self, state.root / "tls")
        AptFaults.__init__(self, state.root / "apt")
        SourceFaults.__init__(self, state.root)
        ConfigEnvFaults.__init__(self, state.root)


class Sandbox:
    """A local Sergas-like environment: start it, inject faults, stop it.

    The process that calls `start()` owns the servers: they are its children and die with it
    (SIGTERM, SIGINT for PostgreSQL, on parent death), whichever thread started them. Other
    processes get a handle with `Sandbox.attach(state_file)`; stopping or restarting a server
    from such a handle is delegated to the owner over `<root>/control.sock`, so a restarted
    server still belongs to the owner, not to the short-lived process that injected the fault.
    """

    def __init__(self, tmp_dir: Path | None = None, *, state_file: Path | None = None) -> None:
        """`tmp_dir`: where the root is created (default: the system temp dir). `state_file`: an
        extra copy of the state, kept up to date and removed by `stop()`."""
        self.tmp_dir = tmp_dir or Path(tempfile.gettempdir())
        self.extra_state_file = state_file
        self.state: SandboxState | None = None
        self.owner = True
        self.postgres: PostgresCluster | None = None
        self.redis: RedisServer | None = None
        self.app: AppProcess | None = None
        self.prometheus: PrometheusServer | None = None
        self.alertmanager: AlertmanagerServer | None = None
        self.traffic: TrafficDriver | None = None
        self.s3: S3Server | None = None
        self.pushgateway: PushgatewayServer | None = None
        self.tls: TlsServer | None = None
        self.start_seconds: float | None = None
        self._root: Path | None = None
        self._control: control.ControlServer | None = None
        self._s3_started: Callable[[], None] | None = None  # joins the S3 start (see stop)
        self._lock = threading.RLock()

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> SandboxState:
        """Start PostgreSQL, Redis and the app; return when /health is 200 and healthy."""
        if self.state is not None:
            return self.state
        if not self.owner:
            raise RuntimeError("an attached sandbox cannot be started: its owner starts it")
        begun = time.monotonic()
        reap_stale_roots(self.tmp_dir)
        root = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX, dir=self.tmp_dir))
        self._root = root
        atexit.register(self.stop)
        try:
            self.state = self._start_in(root)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - begun
        return self.state

    def _start_in(self, root: Path) -> SandboxState:
        (root / "owner.pid").write_text(f"{os.getpid()}\n")
        log_dir = root / "logs"
        log_dir.mkdir()
        sandbox_logs.write_history(log_dir)  # a realistic past: app.log, app.log.1, app.log.2.gz
        write_source(root)  # the app's source folder, for bandit
        faults_file = root / "faults.json"
        faults_file.write_text("{}\n")
        token = secrets.token_hex(6)
        marker = f"sergas-app-{token}"
        admin_token = secrets.token_urlsafe(24)

        self.postgres = PostgresCluster(root)
        self.redis = RedisServer(root)
        self.app = AppProcess(
            root,
            marker=marker,
            port=free_port(),
            log_path=log_dir / "app.log",
            settings={
                "database_url": self.postgres.dsn,
                "redis_url": self.redis.url,
                "admin_token": admin_token,
                "faults_file": str(faults_file),
                "features": DEFAULT_FEATURES,
            },
        )
        self.alertmanager = AlertmanagerServer(root)
        self.pushgateway = PushgatewayServer(root)
        self.prometheus = PrometheusServer(
            root,
            app_port=self.app.port,
            alertmanager_port=self.alertmanager.port,
            pushgateway_port=self.pushgateway.port,
        )
        # Redis and the app start while initdb runs; Redis is seeded in a helper thread.
        self.redis.launch()
        self.app.launch()
        self.alertmanager.launch()
        self.pushgateway.launch()
        self.prometheus.launch()
        self.tls = TlsServer(root)
        self.tls.launch()
        redis_error: list[BaseException] = []

        def redis_ready() -> None:
            try:
                assert self.redis is not None
                self.redis.wait_ready()
            except BaseException as exc:
                redis_error.append(exc)

        self.s3 = S3Server(root)
        self._s3_started = start_in_background(self.s3)
        waiter = threading.Thread(target=redis_ready, name="sandbox-redis-ready")
        waiter.start()
        try:
            self.postgres.start()
        finally:
            waiter.join()
        if redis_error:
            raise redis_error[0]
        self.app.wait_ready()
        wait_until(self._app_healthy, 15, f"{self.app.url}/health to report healthy", log_path=self.app.log_path)
        # Traffic only once the app is healthy: no 5xx or error lines from a half-started stack.
        self.traffic = TrafficDriver(self.app.url, admin_token)
        self.traffic.start()

        self._s3_started()
        sandbox_backups.build(root, self.postgres.bin_dir, self.postgres.superuser_dsn, self.s3.client())
        sandbox_config_env.secure(root)  # the .env build() wrote, as a deployment keeps it
        apt_config = AptState(root / "apt").build()  # host.security_updates: a private apt state
        self.alertmanager.wait_ready()
        self.pushgateway.wait_ready()
        self.prometheus.wait_ready()
        # Rate-based checks need two scrapes with traffic in between: wait for the first data.
        self.prometheus.wait_for_data(
            f'sum(rate(sergas_http_requests_total{{job="{JOB}",path!="/metrics"}}[5m])) > 0'
            f' and sum(rate(sergas_zoho_api_calls_total{{job="{JOB}"}}[5m])) > 0'
            f' and sum(rate(sergas_agent_sessions_total{{job="{JOB}"}}[5m])) > 0'
        )

        self._control = control.ControlServer(root / "control.sock", self._handle_control)
        self._control.start()
        state = SandboxState(
            root=root,
            pg_port=self.postgres.port,
            pg_password=self.postgres.password,
            pg_dsn=self.postgres.dsn,
            pg_superuser_dsn=self.postgres.superuser_dsn,
            postgres_log=self.postgres.log_path,
            redis_port=self.redis.port,
            redis_url=self.redis.url,
            app_url=self.app.url,
            app_marker=marker,
            admin_token=admin_token,
            app_log=self.app.log_path,
            log_dir=log_dir,
            faults_file=faults_file,
            control_socket=root / "control.sock",
            prometheus_url=self.prometheus.url,
            alertmanager_url=self.alertmanager.url,
            s3_endpoint=self.s3.endpoint,
            s3_access_key_id=self.s3.access_key_id,
            s3_secret_access_key=self.s3.secret_access_key,
            pushgateway_url=self.pushgateway.url,
            tls_port=self.tls.port,
            tls_ca_file=str(self.tls.ca_file),
            apt_config=str(apt_config),
            app_python=sys.executable,
        )
        self.state = state
        self._save_state()
        return state

    def _app_healthy(self) -> bool:
        assert self.app is not None
        with NO_PROXY.open(f"{self.app.url}/health", timeout=5) as response:
            return bool(json.load(response).get("status") == "healthy")

    def stop(self) -> None:
        """Stop everything that runs (also after a partial start) and remove the root.

        On an attached handle this does nothing: the owner stops the sandbox.
        """
        if not self.owner:
            return
        with self._lock:
            atexit.unregister(self.stop)
            errors: list[BaseException] = []
            if self.traffic is not None:
                self.traffic.stop()
                self.traffic = None
            if self._s3_started is not None:
                # After a failed start the S3 start may still run: let it end first, or it would
                # launch moto and recreate <root>/s3 after the root is gone. Its error is moot.
                with contextlib.suppress(Exception):
                    self._s3_started()
                self._s3_started = None
            for component in (
                self.tls,
                self.s3,
                self.prometheus,
                self.pushgateway,
                self.alertmanager,
                self.app,
                self.redis,
                self.postgres,
            ):
                if component is not None:
                    try:
                        component.stop()
                    except BaseException as exc:
                        errors.append(exc)
            if self._control is not None:
                self._control.stop()
                self._control = None
            if self.extra_state_file is not None and self.state is not None:
                self.extra_state_file.unlink(missing_ok=True)
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None
            self.state = None
            if errors:
                raise errors[0]

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- attached handles -----------------------------------------------------------------
    @classmethod
    def attach(cls, state_file: Path | str) -> Sandbox:
        """A handle on a sandbox started by another process (for fault injection); it does not
        own the servers and `stop()` leaves them running."""
        sandbox = cls()
        sandbox.owner = False
        sandbox.state = SandboxState.from_json(Path(state_file).read_text())
        return sandbox

    # --- components -----------------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        """Fault injection context managers (`Faults`) on the started or attached sandbox."""
        return Faults(self.require_state(), self._lifecycle, self.traffic)

    def require_state(self) -> SandboxState:
        if self.state is None:
            raise RuntimeError("the sandbox is not started")
        return self.state

    def stop_component(self, name: str) -> None:
        """Stop "postgres", "redis" (keys saved for the restart) or "app"."""
        self._lifecycle("stop", name)

    def start_component(self, name: str) -> None:
        """Start a stopped component again, on the same port with the same data."""
        self._lifecycle("start", name)

    def _lifecycle(self, op: str, name: str) -> None:
        if name not in COMPONENTS:
            raise ValueError(f"unknown component {name!r}: expected one of {', '.join(COMPONENTS)}")
        state = self.require_state()
        if self.owner:
            self._handle_control(op, name)
        else:
            control.request(state.control_socket, op, name)

    def _handle_control(self, op: str, name: str) -> None:
        with self._lock:
            if self.postgres is None or self.redis is None or self.app is None:
                raise RuntimeError("the sandbox is not started")
            component = self._servers()[name]
            if component is None:
                raise RuntimeError(f"the sandbox's {name} is not started")
            if op == "stop":
                component.stop(save=True)  # Redis keeps its keys, S3 its bucket's objects, for the restart
            elif op == "start":
                component.start()
            elif op in ("revoke_key", "restore_key") and isinstance(component, S3Server):
                getattr(component, op)()  # the S3 credentials fault
            else:
                raise ValueError(f"unknown operation {op!r}")
            self._save_state()

    def _servers(self) -> dict[str, ChildServer | None]:
        """The components by name (COMPONENTS), None until created."""
        return {
            "postgres": self.postgres,
            "redis": self.redis,
            "app": self.app,
            "prometheus": self.prometheus,
            "alertmanager": self.alertmanager,
            "s3": self.s3,
            "pushgateway": self.pushgateway,
        }

    def _save_state(self) -> None:
        if self.state is None or self.postgres is None or self.redis is None or self.app is None:
            return
        self.state.pids = {
            name: server.pid if server.is_running() else None
            for name, server in self._servers().items()
            if server is not None
        }
        self.state.save()
        if self.extra_state_file is not None:
            self.state.save(self.extra_state_file)


def reap_stale_roots(tmp_dir: Path) -> None:
    """Remove roots left by an owner that was killed (its servers died with it)."""
    for root in tmp_dir.glob(f"{ROOT_PREFIX}*"):
        try:
            owner_pid = int((root / "owner.pid").read_text())
            state = (
                SandboxState.from_json((root / "state.json").read_text()) if (root / "state.json").exists() else None
            )
        except (OSError, ValueError, TypeError, KeyError):
            continue
        if pid_alive(owner_pid):
            continue
        if state is not None and any(pid and pid_alive(pid) for pid in state.pids.values()):
            continue
        shutil.rmtree(root, ignore_errors=True)
