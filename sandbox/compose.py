"""The sandbox app under Docker Compose (`ComposeApp`): project `sergas`, service `app`, two
replicas on the host's network sharing one port, on a private `DockerEngine`, with the
container fault states a runtime check must tell apart.

Its folder holds `docker-compose.yml` (from `sandbox/compose/docker-compose.yml`), the app's
`app.json` and `faults.json`, and `switches/`; the containers see it read-only at `/sergas`.
Started on demand (tests/compose_fixtures.py), never by `Sandbox.start()`.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandbox.backups import BackupLayout
from sandbox.docker import IMAGE, PROJECT_ROOT, DockerEngine, DockerError, host_mounts
from sandbox.ports import free_port
from sandbox.processes import wait_until
from sandbox.stack import DEFAULT_FEATURES
from sandbox.state import SandboxState

PROJECT = "sergas"
SERVICE = "app"
REPLICAS = 2
COMPOSE = "docker-compose"
TEMPLATES = Path(__file__).resolve().parent / "compose"
MOUNTED_AT = "/sergas"  # the compose folder, inside a container
UNHEALTHY_FLAG = "/run/sergas/unhealthy"  # read by the healthcheck (compose/healthcheck.sh)
EXIT_SWITCH = "/run/sergas/exit-at-start"  # the app's exit_at_start_file
LABELS = (f"com.docker.compose.project={PROJECT}", f"com.docker.compose.service={SERVICE}")

Container = dict[str, Any]
"""One container as `docker inspect` shows it."""


class ComposeApp:
    """`python -m sandbox.app` as compose service `app` (2 replicas) on `engine`, in `root`."""

    def __init__(
        self,
        root: Path,
        engine: DockerEngine,
        *,
        database_url: str,
        redis_url: str,
        admin_token: str,
        env_file: Path,
    ) -> None:
        self.root = root
        self.engine = engine
        self.env_file = env_file
        self.port = free_port()
        self.marker = f"sergas-compose-{secrets.token_hex(6)}"
        self.settings: dict[str, Any] = {
            "name": self.marker,
            "port": self.port,
            "database_url": database_url,
            "redis_url": redis_url,
            "admin_token": admin_token,
            "faults_file": f"{MOUNTED_AT}/faults.json",
            "features": DEFAULT_FEATURES,
            "exit_at_start_file": EXIT_SWITCH,
        }

    @classmethod
    def for_sandbox(cls, state: SandboxState, engine: DockerEngine) -> ComposeApp:
        """The compose variant of a running sandbox's app: its PostgreSQL, Redis, token and .env."""
        (env_file,) = (p for p in BackupLayout(state.root).config_sources if p.name == ".env")
        return cls(
            state.root / "compose",
            engine,
            database_url=state.pg_dsn,
            redis_url=state.redis_url,
            admin_token=state.admin_token,
            env_file=env_file,
        )

    @property
    def project_file(self) -> Path:
        return self.root / "docker-compose.yml"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env_vars(self) -> dict[str, str]:
        """The variables an environment file uses to reach this app (see tests/compose_fixtures.py)."""
        return {
            "SANDBOX_DOCKER_HOST": self.engine.host,
            "SANDBOX_COMPOSE_PROJECT_DIR": str(self.root),
            "SANDBOX_COMPOSE_APP_URL": self.url,
        }

    # --- lifecycle ------------------------------------------------------------------------
    def up(self, timeout: float = 60.0) -> None:
        """Write the folder, `docker-compose up -d`, and wait until both replicas are healthy."""
        (self.root / "switches").mkdir(parents=True, exist_ok=True)
        (self.root / "faults.json").write_text("{}\n")
        fd = os.open(self.root / "app.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # secrets inside
        with os.fdopen(fd, "w") as f:
            json.dump(self.settings, f, indent=2)
        self.project_file.write_text(self._render())
        self.compose("up", "--detach", "--no-color", timeout=timeout)
        self.wait_healthy(timeout)

    def down(self, timeout: float = 60.0) -> None:
        """`docker-compose down`: the containers stop and are removed."""
        if self.project_file.exists():
            self.compose("down", "--timeout", "5", timeout=timeout)

    def compose(self, *args: str, timeout: float = 60.0) -> str:
        """`docker-compose -p sergas -f <root>/docker-compose.yml <args>` against the engine."""
        argv = [COMPOSE, "--project-name", PROJECT, "--project-directory", str(self.root)]
        argv += ["--file", str(self.project_file), *args]
        try:
            result = subprocess.run(argv, capture_output=True, env=self.engine.env, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise DockerError(f"{COMPOSE} {' '.join(args)}: no answer after {timeout:g} s") from None
        if result.returncode != 0:
            said = result.stderr.decode(errors="replace").strip().splitlines()
            raise DockerError(f"{COMPOSE} {' '.join(args)}: {said[-1] if said else f'exit {result.returncode}'}")
        return result.stdout.decode(errors="replace")

    def _render(self) -> str:
        mounts = [f"{path}:{path}:ro" for path in host_mounts()] + [f"{self.root}:{MOUNTED_AT}:ro"]
        values = {
            "image": IMAGE,
            "python": sys.executable,
            "marker": self.marker,
            "project_root": str(PROJECT_ROOT),
            "env_file": str(self.env_file),
            "health_url": f"{self.url}/health",
            "healthcheck": str(TEMPLATES / "healthcheck.sh"),
        }
        # A JSON string is a YAML double-quoted scalar: any path is quoted right.
        quoted = {key: json.dumps(value) for key, value in values.items()}
        quoted["volumes"] = "\n".join(f"      - {json.dumps(spec)}" for spec in mounts)
        return string.Template((TEMPLATES / "docker-compose.yml").read_text()).substitute(quoted)

    # --- state ----------------------------------------------------------------------------
    def containers(self) -> list[Container]:
        """The service's containers, running or not, by replica number (`docker inspect`)."""
        filters = [arg for label in LABELS for arg in ("--filter", f"label={label}")]
        ids = self.engine.docker("ps", "--all", "--quiet", *filters).split()
        found = self.engine.inspect(*ids) if ids else []
        return sorted(found, key=replica_number)

    def replica(self, number: int) -> Container:
        """Replica `number` (1 or 2: compose's `container-number` label)."""
        for container in self.containers():
            if replica_number(container) == number:
                return container
        raise RuntimeError(f"compose project {PROJECT}: no replica {number} of service {SERVICE}")

    def wait_for(self, predicate: Callable[[list[Container]], bool], what: str, timeout: float = 30.0) -> None:
        """Poll the containers until `predicate` holds; RuntimeError naming `what` (with the
        containers' states and the engine's log) if it does not within `timeout`."""
        seen: list[Container] = []

        def holds() -> bool:
            seen[:] = self.containers()
            return predicate(seen)

        try:
            wait_until(holds, timeout, f"{PROJECT}/{SERVICE}: {what}", log_path=self.engine.log_path, interval=0.2)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\ncontainers: {[summary(c) for c in seen]}") from None

    def wait_healthy(self, timeout: float = 60.0) -> None:
        self.wait_for(
            lambda cs: len(cs) == REPLICAS and all(health(c) == "healthy" for c in cs),
            f"{REPLICAS} replicas running and healthy",
            timeout,
        )

    # --- faults (each restores on exit and waits until both replicas are healthy again) ---
    @contextmanager
    def container_exited(self, number: int = 1) -> Iterator[Container]:
        """Replica `number` stopped (`docker stop`): State.Status "exited", not restarted."""
        container_id = self.replica(number)["Id"]
        self.engine.docker("stop", "--time", "5", container_id)
        self.wait_for(lambda cs: _find(cs, container_id)["State"]["Status"] == "exited", f"replica {number} exited")
        try:
            yield self.replica(number)
        finally:
            self.engine.docker("start", container_id)
            self.wait_healthy()

    @contextmanager
    def container_unhealthy(self, number: int = 1) -> Iterator[Container]:
        """Replica `number` running but failing its healthcheck: State.Health.Status "unhealthy"."""
        container_id = self.replica(number)["Id"]
        self.engine.docker("exec", container_id, "touch", UNHEALTHY_FLAG)
        try:
            self.wait_for(
                lambda cs: health(_find(cs, container_id)) == "unhealthy",
                f"replica {number} unhealthy",
            )
            yield self.replica(number)
        finally:
            self.engine.docker("exec", container_id, "rm", "-f", UNHEALTHY_FLAG)
            self.wait_healthy()

    @contextmanager
    def restart_loop(self, number: int = 1) -> Iterator[Container]:
        """Replica `number` exits 1 at every start and docker's `on-failure` policy restarts it:
        RestartCount >= 2 and State.Status "restarting" when the block starts (then "restarting"
        while docker waits, a moment "running" at each attempt; the wait doubles each time).

        The app exits at start while EXIT_SWITCH exists in its container: there it is made a
        link to a file of the host's `switches/`, so removing that file ends the loop without
        reaching into a container that is not running."""
        container_id = self.replica(number)["Id"]
        switch = self.root / "switches" / f"exit-{secrets.token_hex(4)}"
        switch.write_text("the app exits 1 at start while this file exists\n")
        try:
            self.engine.docker("exec", container_id, "ln", "-sfn", f"{MOUNTED_AT}/switches/{switch.name}", EXIT_SWITCH)
            self.engine.docker("restart", "--time", "5", container_id)  # a start after which the policy applies
            self.wait_for(
                lambda cs: (
                    _find(cs, container_id)["RestartCount"] >= 2
                    and _find(cs, container_id)["State"]["Status"] == "restarting"
                ),
                f"replica {number} restarting, restarted twice by docker",
            )
            yield self.replica(number)
        finally:
            switch.unlink(missing_ok=True)
            # `docker stop` ends the policy's back-off (it doubles after each failure); `start`
            # resets RestartCount.
            self.engine.docker("stop", "--time", "5", container_id)
            self.engine.docker("start", container_id)
            self.engine.docker("exec", container_id, "rm", "-f", EXIT_SWITCH)
            self.wait_healthy()


def replica_number(container: Container) -> int:
    return int(container["Config"]["Labels"].get("com.docker.compose.container-number", 0))


def health(container: Container) -> str:
    """State.Health.Status ("starting", "healthy", "unhealthy"), or the State.Status when the
    container is not running (a stopped container keeps its last health status)."""
    state = container["State"]
    if state["Status"] != "running":
        return str(state["Status"])
    return str((state.get("Health") or {}).get("Status", "none"))


def summary(container: Container) -> str:
    """`<name> <status>/<health> restarts=<n>`, for error messages."""
    return f"{container['Name'].lstrip('/')} {health(container)} restarts={container['RestartCount']}"


def _find(containers: list[Container], container_id: str) -> Container:
    return next(c for c in containers if c["Id"] == container_id)
