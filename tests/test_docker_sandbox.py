"""The private Docker engine and the compose variant of the sandbox app, for real: dockerd 20.10
and docker-compose 1.29 from Debian, the app's replicas on the host's network.

Container states are read the way the suite's compose runtime reads them (probes/runtimes.py):
the `docker` on PATH (any version: it negotiates the API down) with `--host`, `ps` filtered by
the compose labels, then `inspect`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import testinfra

from sandbox.compose import LABELS, REPLICAS, ComposeApp
from sandbox.docker import IMAGE, DockerEngine, build_image
from sandbox.processes import NO_PROXY, pid_alive

# What a host's own Docker would use: the engine must never create or change any of them.
SYSTEM_PATHS = ("/var/lib/docker", "/run/docker.sock", "/run/docker", "/run/containerd", "/etc/docker/key.json")


def docker(engine: DockerEngine, *args: str) -> subprocess.CompletedProcess[str]:
    """The `docker` on PATH, as the suite's probe runs it: `--host` names the engine."""
    argv = [shutil.which("docker") or "docker", "--host", engine.host, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)


def docker_ps(engine: DockerEngine) -> list[dict[str, Any]]:
    """`docker ps -a` of project sergas, service app, one JSON object a line."""
    filters = [arg for label in LABELS for arg in ("--filter", f"label={label}")]
    out = docker(engine, "ps", "-a", *filters, "--format", "{{json .}}").stdout
    return sorted((json.loads(line) for line in out.splitlines()), key=lambda row: str(row["Names"]))


def docker_inspect(engine: DockerEngine, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = json.loads(docker(engine, "inspect", *(row["ID"] for row in rows)).stdout)
    return sorted(containers, key=lambda c: str(c["Name"]))


def states(engine: DockerEngine) -> dict[str, tuple[str, str, int]]:
    """{container name: (State.Status, State.Health.Status, RestartCount)} from ps + inspect."""
    return {
        c["Name"].lstrip("/"): (c["State"]["Status"], c["State"]["Health"]["Status"], c["RestartCount"])
        for c in docker_inspect(engine, docker_ps(engine))
    }


@pytest.fixture
def healthy_after(compose_app: ComposeApp) -> Iterator[None]:
    """Each fault test ends with both replicas back: running, healthy, never restarted."""
    yield
    assert states(compose_app.engine) == {
        "sergas_app_1": ("running", "healthy", 0),
        "sergas_app_2": ("running", "healthy", 0),
    }


def test_two_healthy_replicas_share_one_port(compose_app: ComposeApp) -> None:
    """Both replicas run, healthy and never restarted: each bound the one port (SO_REUSEPORT),
    or it would have exited 1 at start."""
    rows = docker_ps(compose_app.engine)
    assert [(r["Names"], r["State"], r["Networks"]) for r in rows] == [
        ("sergas_app_1", "running", "host"),
        ("sergas_app_2", "running", "host"),
    ]
    assert all(r["Status"].endswith("(healthy)") for r in rows), rows
    containers = docker_inspect(compose_app.engine, rows)
    assert len(containers) == REPLICAS
    for container in containers:
        assert container["State"]["Health"]["Status"] == "healthy"
        assert container["RestartCount"] == 0
        assert container["State"]["StartedAt"].endswith("Z")
        labels = container["Config"]["Labels"]
        assert (labels["com.docker.compose.project"], labels["com.docker.compose.service"]) == ("sergas", "app")
        assert container["HostConfig"]["RestartPolicy"]["Name"] == "on-failure"
        assert container["Config"]["Image"] == IMAGE
    with NO_PROXY.open(f"{compose_app.url}/health", timeout=5) as response:
        assert json.load(response)["status"] == "healthy"
    assert os.environ["SANDBOX_DOCKER_HOST"] == compose_app.engine.host
    assert Path(os.environ["SANDBOX_COMPOSE_PROJECT_DIR"], "docker-compose.yml").is_file()


@pytest.mark.usefixtures("healthy_after")
def test_container_exited(compose_app: ComposeApp) -> None:
    with compose_app.container_exited(1):
        assert states(compose_app.engine) == {
            "sergas_app_1": ("exited", "unhealthy", 0),
            "sergas_app_2": ("running", "healthy", 0),
        }
        (row, _) = docker_ps(compose_app.engine)
        assert row["Status"].startswith("Exited (0)"), row


@pytest.mark.usefixtures("healthy_after")
def test_container_unhealthy(compose_app: ComposeApp) -> None:
    with compose_app.container_unhealthy(2):
        assert states(compose_app.engine) == {
            "sergas_app_1": ("running", "healthy", 0),
            "sergas_app_2": ("running", "unhealthy", 0),
        }
        (_, container) = docker_inspect(compose_app.engine, docker_ps(compose_app.engine))
        assert container["State"]["Health"]["FailingStreak"] >= 2
        assert "/run/sergas/unhealthy exists" in container["State"]["Health"]["Log"][-1]["Output"]


@pytest.mark.usefixtures("healthy_after")
def test_restart_loop(compose_app: ComposeApp) -> None:
    with compose_app.restart_loop(1):
        (looping, other) = docker_inspect(compose_app.engine, docker_ps(compose_app.engine))
        assert looping["RestartCount"] >= 2
        assert looping["State"]["Status"] in ("restarting", "running")  # "running" a moment per attempt
        if looping["State"]["Status"] == "restarting":  # docker resets ExitCode at each start
            assert looping["State"]["ExitCode"] == 1
        assert (other["State"]["Status"], other["RestartCount"]) == ("running", 0)
        app_log = docker(compose_app.engine, "logs", looping["Id"]).stderr  # the app logs to stderr
        assert app_log.count("start refused: /run/sergas/exit-at-start exists") >= 2


def test_testinfra_docker_backend(compose_app: ComposeApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """testinfra runs `docker exec <name> /bin/sh -c ...` with the `docker` on PATH and no
    `--host`: the engine is named by DOCKER_HOST in the suite's environment. In `[hosts]`:
    `app = ["docker://sergas_app_1", "docker://sergas_app_2"]` (`docker://user@name` for a user)."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    unreachable = testinfra.get_host("docker://sergas_app_1").run("id -u")
    assert unreachable.rc != 0 and "Cannot connect to the Docker daemon" in unreachable.stderr

    monkeypatch.setenv("DOCKER_HOST", compose_app.engine.host)
    host = testinfra.get_host("docker://sergas_app_1")
    assert host.run("id -u").stdout.strip() == "0"
    assert host.file("/sergas/app.json").mode == 0o600
    assert host.process.get(pid=1).comm == "docker-init"
    app = host.process.get(ppid=1)
    assert app.args.split()[1:3] == ["-m", "sandbox.app"]


def test_engine_stops_everything_and_touches_nothing_outside(tmp_path: Path) -> None:
    """dockerd, its containerd, a container's shim and process all end with `stop()`; none of
    the host's own Docker paths is created or changed, and no mount of the engine remains."""
    reason = DockerEngine.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    before = {path: _stat(path) for path in SYSTEM_PATHS}
    engine = DockerEngine(tmp_path)
    try:
        engine.start()
        build_image(engine)
        container = engine.docker("run", "--detach", "--init", "-v", "/usr:/usr:ro", IMAGE, "sleep", "300")
        container_pid = engine.inspect(container)[0]["State"]["Pid"]
        engine_pids = engine.leftover_pids()
        commands = {Path(_argv(pid)[0]).name for pid in engine_pids}
        assert {"dockerd", "containerd", "containerd-shim-runc-v2"} <= commands
    finally:
        engine.stop()
    assert engine.leftover_pids() == []
    assert not [pid for pid in (*engine_pids, container_pid) if pid_alive(pid)]
    assert str(tmp_path) not in Path("/proc/self/mountinfo").read_text()
    assert {path: _stat(path) for path in SYSTEM_PATHS} == before


def test_engine_root_too_long_for_a_unix_socket() -> None:
    with pytest.raises(ValueError, match=r"too long for dockerd's unix sockets \(\d+ > 107 bytes\)"):
        DockerEngine(Path("/tmp", "x" * 80))


def _stat(path: str) -> tuple[int, int] | None:
    """(inode, mtime in ns) of `path`, None if it does not exist."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def _argv(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
