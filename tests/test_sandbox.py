"""The sandbox itself: real servers start, answer, break on demand, recover, and leave nothing.

Run alone: ``.venv/bin/python -m pytest -p no:cacheprovider tests/test_sandbox.py -q -o addopts=""``
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from sandbox import Sandbox, SandboxState
from sandbox.processes import pid_alive
from sandbox.stack import reap_stale_roots

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_VARS = {
    "SANDBOX_PG_PORT",
    "SANDBOX_PG_PASSWORD",
    "SANDBOX_REDIS_PORT",
    "SANDBOX_APP_URL",
    "SANDBOX_APP_MARKER",
    "SANDBOX_ADMIN_TOKEN",
    "SANDBOX_ROOT",
    "SANDBOX_LOG_DIR",
    "SANDBOX_PROMETHEUS_URL",
    "SANDBOX_ALERTMANAGER_URL",
    "SANDBOX_S3_ENDPOINT",
    "SANDBOX_S3_ACCESS_KEY_ID",
    "SANDBOX_S3_SECRET_ACCESS_KEY",
    "SANDBOX_TLS_PORT",
    "SANDBOX_TLS_CA",
    "SANDBOX_USER",
    "SANDBOX_APT_CONFIG",
    "SANDBOX_APP_PYTHON",
    "SANDBOX_APP_SOURCE",
    "SANDBOX_BANDIT",
}
LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 (DEBUG|INFO|WARNING|ERROR|CRITICAL) sergas(\.\w+)* \S"
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox()
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture
def state(sandbox: Sandbox) -> SandboxState:
    return sandbox.require_state()


def get(state: SandboxState, path: str, timeout: float = 10, **kwargs: object) -> httpx.Response:
    return httpx.get(state.app_url + path, timeout=timeout, trust_env=False, **kwargs)  # type: ignore[arg-type]


def health(state: SandboxState) -> httpx.Response:
    return get(state, "/health")


def assert_healthy(state: SandboxState) -> None:
    response = health(state)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "healthy", response.text


def pgrep(marker: str) -> list[int]:
    result = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, check=False)
    return [int(pid) for pid in result.stdout.split()]


def ppid_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def redis_client(state: SandboxState):  # type: ignore[no-untyped-def]
    from sandbox.redis import connect

    return connect(state.redis_port, timeout=5)


# --- started --------------------------------------------------------------------------------


def test_state_is_complete(state: SandboxState) -> None:
    """How long the start takes is measured in bench/daily.py, not asserted here."""
    assert set(state.env_vars()) == ENV_VARS
    assert state.state_file.stat().st_mode & 0o777 == 0o600
    assert SandboxState.from_json(state.state_file.read_text()) == state
    assert SandboxState.from_json(state.to_json()) == state
    assert state.log_dir.is_dir() and state.app_log.parent == state.log_dir
    assert all(pid and pid_alive(pid) for pid in state.pids.values()), state.pids


def test_postgres_answers_as_sergas_with_schema_and_data(state: SandboxState) -> None:
    with psycopg.connect(state.pg_dsn, connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == ("sergas", "sergas")
        owners: dict[str, str] = dict(
            conn.execute("SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'").fetchall()
        )
        assert owners == dict.fromkeys(
            ["accounts", "users", "agent_sessions", "audit_log", "alembic_version"], "sergas"
        )
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in ("users", "accounts", "agent_sessions", "audit_log")
        }
        assert counts == {"users": 200, "accounts": 2000, "agent_sessions": 5000, "audit_log": 5000}
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("4f2e9c1a7b3d",)]
        assert conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone()[0] > 0  # type: ignore[index]
        assert conn.execute("SELECT pg_has_role('sergas', 'pg_read_all_stats', 'member')").fetchone() == (True,)
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('max_connections',"
                " 'superuser_reserved_connections', 'listen_addresses',"
                " 'log_min_duration_statement')"
            ).fetchall()
        )
        assert settings == {
            "max_connections": "20",
            "superuser_reserved_connections": "3",
            "listen_addresses": "127.0.0.1",
            "log_min_duration_statement": "1000",
        }
        indexes = conn.execute("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'").fetchone()
        assert indexes is not None and indexes[0] >= 15


def test_postgres_superuser_and_log(state: SandboxState) -> None:
    with psycopg.connect(state.pg_superuser_dsn, connect_timeout=5) as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (True,)
        # superuser-only setting (pg_read_all_settings): the app role sees it empty
        assert conn.execute("SHOW shared_preload_libraries").fetchone() == ("pg_stat_statements",)
    log = state.postgres_log.read_text()
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC \[\d+\] LOG:  database system is ready", log, re.M)
    assert "starting up" not in log  # readiness is polled without connection attempts


def test_redis_answers_with_limits_and_seeded_keys(state: SandboxState) -> None:
    with redis_client(state) as client:
        assert client.ping()
        assert client.config_get("maxmemory") == {"maxmemory": str(64 * 1024 * 1024)}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        sessions = list(client.scan_iter(match="session:user:*", count=1000))
        assert len(sessions) >= 100
        assert all(re.fullmatch(rb"session:user:\d+:[0-9a-f]+", key) for key in sessions)
        pipe = client.pipeline(transaction=False)
        for key in sessions:
            pipe.ttl(key)
        assert all(0 < ttl <= 3600 for ttl in pipe.execute())
        keyspace = client.info("keyspace")["db0"]
        assert keyspace["keys"] == keyspace["expires"] >= 400


def test_health_is_healthy_with_three_components(state: SandboxState) -> None:
    response = health(state)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["version"] == "1.0.0"
    assert body["zoho"] == "connected"
    assert set(body["components"]) == {"database", "redis", "zoho"}
    for component in body["components"].values():
        assert component["status"] == "healthy"
        assert isinstance(component["latency_ms"], float)
        assert "error" not in component


def test_api_users_requires_the_admin_token(state: SandboxState) -> None:
    assert get(state, "/api/v1/users").status_code == 401
    assert get(state, "/api/v1/users", headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = get(state, "/api/v1/users", headers={"Authorization": f"Bearer {state.admin_token}"})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 200
    assert body["users"][0]["email"] == "admin@sergas.com" and body["users"][0]["role"] == "admin"


def test_features_and_metrics(state: SandboxState) -> None:
    assert get(state, "/api/v1/features").status_code == 401  # admin only, as /api/v1/users
    features = get(state, "/api/v1/features", headers={"Authorization": f"Bearer {state.admin_token}"}).json()
    assert features["new_feature"] is False
    metrics = get(state, "/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert re.search(r'^sergas_http_requests_total\{.*path="/health".*status="200".*\} \d', text, re.M)
    assert "sergas_http_request_duration_seconds_bucket{" in text
    assert re.search(r"^sergas_agent_sessions_active 10\.0$", text, re.M)


def test_app_log_lines_follow_the_manual(state: SandboxState) -> None:
    get(state, "/api/v1/users", headers={"Authorization": "Bearer not-the-token"})
    health(state)
    lines = state.app_log.read_text().splitlines()
    assert lines and all(LOG_LINE.match(line) for line in lines), [x for x in lines if not LOG_LINE.match(x)]
    assert any(" INFO sergas.config Configuration loaded" in line for line in lines)
    assert any(
        re.search(r" INFO sergas.api request method=GET path=/health status_code=200 duration=\d+$", line)
        for line in lines
    )
    assert any(" WARNING sergas.auth authentication failed for token " in line for line in lines)
    text = "\n".join(lines)
    assert "not-the-token" not in text and state.admin_token not in text and state.pg_password not in text


def test_marker_finds_exactly_the_app(state: SandboxState) -> None:
    assert pgrep(state.app_marker) == [state.pids["app"]]


# --- faults ---------------------------------------------------------------------------------


def test_postgres_stopped(sandbox: Sandbox, state: SandboxState) -> None:
    old_pid = state.pids["postgres"]
    with sandbox.faults.postgres_stopped():
        response = health(state)
        assert response.status_code == 503
        database = response.json()["components"]["database"]
        assert database["status"] == "unhealthy" and "refused" in database["error"]
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(state.pg_dsn, connect_timeout=2)
        assert old_pid is not None and not pid_alive(old_pid)
    assert_healthy(state)
    with psycopg.connect(state.pg_dsn, connect_timeout=5) as conn:  # same port, password, data
        assert conn.execute("SELECT count(*) FROM accounts").fetchone() == (2000,)
    assert state.pids["postgres"] != old_pid
    assert SandboxState.from_json(state.state_file.read_text()).pids == state.pids


def test_connections_held(sandbox: Sandbox, state: SandboxState) -> None:
    with sandbox.faults.connections_held(17) as connections:
        assert len(connections) == 17
        with psycopg.connect(state.pg_superuser_dsn, connect_timeout=5) as conn:
            held = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sandbox-fault' AND state = 'idle'"
            ).fetchone()
        assert held == (17,)
        response = health(state)
        assert response.status_code == 503
        assert "reserved" in response.json()["components"]["database"]["error"]
    assert_healthy(state)


def test_idle_in_transaction_and_long_running_query(sandbox: Sandbox, state: SandboxState) -> None:
    query = "SELECT state, left(query, 30) FROM pg_stat_activity WHERE pid = %s"
    with psycopg.connect(state.pg_superuser_dsn, autocommit=True, connect_timeout=5) as conn:
        with sandbox.faults.idle_in_transaction() as pid:
            assert conn.execute(query, (pid,)).fetchone() == (
                "idle in transaction",
                "SELECT pg_backend_pid()",
            )
        with sandbox.faults.long_running_query() as pid:
            row = conn.execute(query, (pid,)).fetchone()
            assert row is not None and row[0] == "active" and "pg_sleep" in row[1]
        assert conn.execute(query, (pid,)).fetchone() is None


def test_redis_stopped_keeps_keys(sandbox: Sandbox, state: SandboxState) -> None:
    with redis_client(state) as client:
        keys_before = client.dbsize()
    with sandbox.faults.redis_stopped():
        response = health(state)
        assert response.status_code == 503
        assert response.json()["components"]["redis"]["status"] == "unhealthy"
        assert response.json()["components"]["database"]["status"] == "healthy"
    assert_healthy(state)
    with redis_client(state) as client:
        assert client.dbsize() == keys_before
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        key = next(client.scan_iter(match="session:*", count=1000))
        assert 0 < client.ttl(key) <= 3600


def test_redis_memory_filled(sandbox: Sandbox, state: SandboxState) -> None:
    with redis_client(state) as client:
        keys_before = client.dbsize()
        with sandbox.faults.redis_memory_filled(0.95) as ratio:
            memory = client.info("memory")
            assert ratio >= 0.95
            assert memory["used_memory"] / memory["maxmemory"] >= 0.95
            assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        assert client.dbsize() == keys_before  # nothing evicted, fill keys gone
        memory = client.info("memory")
        assert memory["used_memory"] / memory["maxmemory"] < 0.5


def test_redis_keys_without_ttl(sandbox: Sandbox, state: SandboxState) -> None:
    with redis_client(state) as client:
        with sandbox.faults.redis_keys_without_ttl(5) as keys:
            keyspace = client.info("keyspace")["db0"]
            assert keyspace["keys"] - keyspace["expires"] == 5
            assert all(client.ttl(key) == -1 for key in keys)
        assert client.exists(*keys) == 0


def test_app_stopped(sandbox: Sandbox, state: SandboxState) -> None:
    old_pid = state.pids["app"]
    with sandbox.faults.app_stopped():
        assert pgrep(state.app_marker) == []
        with pytest.raises(httpx.ConnectError):
            health(state)
    assert_healthy(state)
    assert pgrep(state.app_marker) == [state.pids["app"]] and state.pids["app"] != old_pid


def test_restart_from_a_short_lived_thread_survives_the_thread(sandbox: Sandbox, state: SandboxState) -> None:
    """PR_SET_PDEATHSIG follows the forking *thread*: children must not die with a worker thread."""

    def restart() -> None:
        sandbox.stop_component("app")
        sandbox.start_component("app")

    worker = threading.Thread(target=restart)
    worker.start()
    worker.join(30)
    time.sleep(0.3)
    assert state.pids["app"] is not None and pid_alive(state.pids["app"])
    assert_healthy(state)


def test_zoho_unreachable(sandbox: Sandbox, state: SandboxState) -> None:
    with sandbox.faults.zoho_unreachable():
        for _ in range(3):
            response = health(state)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "degraded" and body["zoho"] == "unreachable"
        assert body["components"]["zoho"]["error"] == "connection refused"
    assert_healthy(state)
    log = state.app_log.read_text()
    assert " ERROR sergas.zoho Zoho CRM request failed: connection refused\n" in log
    assert re.search(r" WARNING sergas.zoho circuit breaker open", log)
    assert " INFO sergas.zoho circuit breaker closed\n" in log


def test_health_delayed(sandbox: Sandbox, state: SandboxState) -> None:
    with sandbox.faults.health_delayed(1.5):
        started = time.monotonic()
        assert health(state).status_code == 200
        assert time.monotonic() - started >= 1.5
        with pytest.raises(httpx.ReadTimeout):
            get(state, "/health", timeout=0.5)
    assert_healthy(state)


def test_health_status_and_garbage_compose(sandbox: Sandbox, state: SandboxState) -> None:
    with sandbox.faults.health_status(500):
        assert health(state).status_code == 500
        with sandbox.faults.health_garbage():
            response = health(state)
            assert response.status_code == 500
            with pytest.raises(json.JSONDecodeError):
                response.json()
        assert health(state).json()["status"] == "healthy"
    assert_healthy(state)
    assert json.loads(state.faults_file.read_text()) == {}


def test_attached_handle_from_another_process(state: SandboxState) -> None:
    """Faults injected from another process; restarted servers stay children of the owner."""
    script = textwrap.dedent(
        f"""
        import httpx
        from sandbox import Sandbox
        sb = Sandbox.attach({str(state.state_file)!r})
        with sb.faults.app_stopped():
            try:
                httpx.get(sb.state.app_url + "/health", timeout=2, trust_env=False)
                print("app still up")
            except httpx.ConnectError:
                print("app down")
        with sb.faults.postgres_stopped():
            print("health", httpx.get(sb.state.app_url + "/health", timeout=5, trust_env=False).status_code)
        with sb.faults.zoho_unreachable():
            print("zoho", httpx.get(sb.state.app_url + "/health", timeout=5, trust_env=False).json()["zoho"])
        sb.stop()  # not the owner: leaves everything running
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == ["app down", "health 503", "zoho unreachable"]
    time.sleep(0.3)  # had they been the attacher's children, they would be dying now
    assert_healthy(state)
    current = SandboxState.from_json(state.state_file.read_text())
    for name in ("app", "postgres"):
        pid = current.pids[name]
        assert pid is not None and pid_alive(pid) and ppid_of(pid) == os.getpid(), name


def test_stop_leaves_nothing(sandbox: Sandbox, state: SandboxState) -> None:
    """Last test on the module's sandbox: it stops it."""
    pids = [pid for pid in state.pids.values() if pid]
    postgres_children = subprocess.run(
        ["pgrep", "-P", str(state.pids["postgres"])], capture_output=True, text=True, check=False
    ).stdout.split()
    assert postgres_children  # checkpointer, walwriter, ...
    sandbox.stop()
    assert not [pid for pid in pids + [int(p) for p in postgres_children] if pid_alive(pid)]
    assert pgrep(state.app_marker) == []
    assert pgrep(str(state.root)) == []
    assert not state.root.exists()
    sandbox.stop()  # idempotent


# --- `python -m sandbox up` -----------------------------------------------------------------


def run_up(tmp_path: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    state_file = tmp_path / "state.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "up", "--state-file", str(state_file)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    exports: dict[str, str] = {}
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            exports[name] = value.strip("'")
        if "Ctrl-C" in line:
            break
    else:
        pytest.fail(f"`python -m sandbox up` exited: {process.wait()} {process.stderr.read()}")  # type: ignore[union-attr]
    assert set(exports) == ENV_VARS
    assert state_file.exists()
    return process, exports


def test_cli_up_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    process, exports = run_up(tmp_path)
    state = SandboxState.from_json((tmp_path / "state.json").read_text())
    assert httpx.get(exports["SANDBOX_APP_URL"] + "/health", timeout=5, trust_env=False).status_code == 200
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert not [pid for pid in state.pids.values() if pid and pid_alive(pid)]
    assert pgrep(exports["SANDBOX_APP_MARKER"]) == []
    assert not Path(exports["SANDBOX_ROOT"]).exists()
    assert not (tmp_path / "state.json").exists()


def test_servers_die_with_a_killed_owner(tmp_path: Path) -> None:
    process, exports = run_up(tmp_path)
    state = SandboxState.from_json((tmp_path / "state.json").read_text())
    process.kill()
    process.wait(10)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(pid and pid_alive(pid) for pid in state.pids.values()):
        time.sleep(0.1)
    assert not [pid for pid in state.pids.values() if pid and pid_alive(pid)]
    assert pgrep(exports["SANDBOX_APP_MARKER"]) == []
    root = Path(exports["SANDBOX_ROOT"])
    try:
        assert root.exists()  # nobody could clean up: the next start reaps it
        reap_stale_roots(Path(tempfile.gettempdir()))
        assert not root.exists()
    finally:
        shutil.rmtree(root, ignore_errors=True)
