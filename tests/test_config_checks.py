"""app.config_env, app.feature_flags and postgres.pool_capacity against the sandbox: ok when
healthy; critical under a real fault of the .env (world-readable, a key emptied or removed, the
file gone, the pool raised past max_connections) or of the app's flags (one flipped); unknown
when the flags cannot be read. No value of the .env reaches any output: the sandbox's .env
holds recognizable secrets, and every file of every run's archive and its terminal output are
searched for them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from dotenv import dotenv_values

from sandbox import Sandbox, liars
from sandbox.config_env import ENV_FILE
from tests.conftest import DEMO_ENV, Run, RunChecks

CONFIG = "config/test_config.py"
POOL = "postgres/test_postgres_pool.py"
ENV_CHECK, FLAGS, POOL_CHECK = "app.config_env", "app.feature_flags", "postgres.pool_capacity"


def replaced(old: str, new: str, base: str = DEMO_ENV) -> str:
    """The demo environment with its one line (or text) `old` replaced by `new`."""
    assert base.count(old) == 1, f"{old!r} moved in demo.toml"
    return base.replace(old, new)


def env_path(sandbox: Sandbox) -> Path:
    return sandbox.require_state().root / ENV_FILE


def secrets_of(sandbox: Sandbox) -> list[str]:
    """The .env's secret values (those of *SECRET* keys), each recognizable anywhere."""
    values = dotenv_values(env_path(sandbox))
    found = [value for key, value in values.items() if "SECRET" in key and value]
    assert len(found) == 2 and all(len(v) >= 20 for v in found), found
    return found


def assert_no_value_out(run: Run, secrets: list[str]) -> None:
    """No secret of the .env in the terminal output nor in any file the run archived."""
    files = [p for p in run.report_dir.rglob("*") if p.is_file()]
    assert any(p.name == "report.html" for p in files) and any(p.name == "junit.xml" for p in files), files
    for secret in secrets:
        assert secret not in run.output
        for path in files:
            assert secret.encode() not in path.read_bytes(), f"{secret!r} in {path}"


def test_healthy_is_ok_and_no_value_leaves_the_host(run_checks: RunChecks, sandbox: Sandbox) -> None:
    secrets = secrets_of(sandbox)
    run = run_checks(CONFIG, POOL)
    assert run.result.ret == pytest.ExitCode.OK, run.output
    assert {c["id"]: c["status"] for c in run.summary["checks"]} == {ENV_CHECK: "ok", FLAGS: "ok", POOL_CHECK: "ok"}
    assert run.message(ENV_CHECK) == f"localhost: {env_path(sandbox)}: 4 required key(s) set, owner root, mode 0600"
    assert run.message(FLAGS).endswith(": 4 flag(s) as expected")
    assert run.message(POOL_CHECK).endswith(
        ": the app's pools at their fullest = 58.82% (10 of 17: max_connections 20 less 3 reserved)"
    ), run.message(POOL_CHECK)
    (pool,) = run.checks(POOL_CHECK)
    assert {m["name"]: m["value"] for m in pool["measurements"]} == {
        "app_max": 10,
        "server_available": 17,
        "used": pytest.approx(58.82, abs=0.01),
    }
    evidence = pool["evidence"][0]["content"]
    assert "localhost: 1 instance(s) x 1 worker(s) x pool 5 (.env) + overflow 5 (.env) = 10" in evidence
    (env_record,) = run.checks(ENV_CHECK)
    assert "SECRET_KEY: present" in env_record["evidence"][0]["content"]
    assert_no_value_out(run, secrets)


def test_env_open_to_others_a_key_emptied_another_removed(run_checks: RunChecks, sandbox: Sandbox) -> None:
    secrets = secrets_of(sandbox)
    faults = sandbox.faults
    with faults.env_key_emptied("SECRET_KEY"), faults.env_key_removed("ZOHO_CLIENT_ID"), faults.env_world_readable():
        run = run_checks(CONFIG, env=replaced('user = "${SANDBOX_USER}"', 'user = "nobody"'))
    assert run.status(ENV_CHECK) == "critical", run.output
    path = env_path(sandbox)
    assert run.message(ENV_CHECK) == (
        f"localhost: {path} is owned by root, not nobody; {path} mode 0644 is more open than 0640: others can read;"
        f" {path} lacks ZOHO_CLIENT_ID; {path} leaves SECRET_KEY empty"
    )
    assert_no_value_out(run, secrets)
    assert env_path(sandbox).stat().st_mode & 0o777 == 0o600  # the fault put it back
    assert dotenv_values(env_path(sandbox))["ZOHO_CLIENT_ID"]


def test_env_file_removed(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.env_file_removed():
        run = run_checks(CONFIG, POOL)
    assert run.status(ENV_CHECK) == "critical"
    assert run.message(ENV_CHECK) == f"localhost: {env_path(sandbox)} does not exist"
    assert run.status(POOL_CHECK) == "unknown"  # its figures were in the .env
    assert run.message(POOL_CHECK).endswith(
        f": localhost: {env_path(sandbox)} does not exist: the app's pool sizes are unknown"
    ), run.message(POOL_CHECK)


def test_pool_raised_past_max_connections(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.env_key_set("DATABASE_POOL_SIZE", "20"):
        run = run_checks(POOL)
    assert run.status(POOL_CHECK) == "critical", run.output
    assert run.message(POOL_CHECK).endswith(
        ": the app's pools at their fullest = 147.1% (25 of 17: max_connections 20 less 3 reserved) >= critical 100%"
    ), run.message(POOL_CHECK)


def test_pool_figure_not_a_number_is_unknown(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.env_key_set("DATABASE_MAX_OVERFLOW", "lots"):
        run = run_checks(POOL)
    assert run.status(POOL_CHECK) == "unknown", run.output
    assert run.message(POOL_CHECK).endswith(
        f": localhost: DATABASE_MAX_OVERFLOW in {env_path(sandbox)} is not a whole number"
    ), run.message(POOL_CHECK)
    assert "lots" not in run.output


def test_pool_figures_of_the_environment_file_come_first(run_checks: RunChecks) -> None:
    run = run_checks(POOL, env=replaced("[app]\n", "[app]\nmax_overflow = 9\n"))
    assert run.status(POOL_CHECK) == "warning", run.output
    assert "= 82.35% (14 of 17: " in run.message(POOL_CHECK) and run.message(POOL_CHECK).endswith(">= warning 80%")
    evidence = run.checks(POOL_CHECK)[0]["evidence"][0]["content"]
    assert "pool 5 (.env) + overflow 9 ([app] max_overflow) = 14" in evidence, evidence


def test_flag_flipped_and_flag_missing(run_checks: RunChecks, sandbox: Sandbox) -> None:
    env = replaced("features = { new_feature = false,", "features = { new_feature = false, beta_dashboard = true,")
    with sandbox.faults.feature_flag_flipped("new_feature"):
        run = run_checks(CONFIG, env=env, args=("-k", "feature"))
    assert run.status(FLAGS) == "critical", run.output
    assert run.message(FLAGS).endswith(
        ": flag new_feature is true, expected false; flag(s) missing from the app's answer: beta_dashboard"
    ), run.message(FLAGS)


def test_unlisted_flags_are_evidence_only_and_no_env_file_is_skipped(run_checks: RunChecks) -> None:
    env = re.sub(
        r"(?m)^env_file = .*\n", "", re.sub(r"(?m)^features = .*$", "features = { new_feature = false }", DEMO_ENV)
    )
    run = run_checks(CONFIG, env=env)
    assert run.status(FLAGS) == "ok", run.output
    assert run.message(FLAGS).endswith(": 1 flag(s) as expected; 3 more the file does not list")
    evidence = run.checks(FLAGS)[0]["evidence"][1]["content"]
    assert "zoho_webhooks = true (not in [app] features)" in evidence, evidence
    assert run.status(ENV_CHECK) == "skipped"
    assert "no .env to check: set [app] env_file" in run.message(ENV_CHECK)


def test_flags_refused_or_not_json_are_unknown(run_checks: RunChecks) -> None:
    refused = run_checks(
        CONFIG, env=replaced('admin_token = "${SANDBOX_ADMIN_TOKEN}"', 'admin_token = "wrong"'), args=("-k", "feature")
    )
    assert refused.status(FLAGS) == "unknown", refused.output
    assert refused.message(FLAGS).endswith(": /api/v1/features answered HTTP 401: the admin token was refused")
    with liars.serving("liar") as port:
        env = replaced('url = "${SANDBOX_APP_URL}"', f'url = "http://127.0.0.1:{port}"')
        html = run_checks(CONFIG, env=env, args=("-k", "feature"))
    assert html.status(FLAGS) == "unknown", html.output
    assert html.message(FLAGS) == f"127.0.0.1:{port}: /api/v1/features answered HTTP 200 with text/html, not JSON"
