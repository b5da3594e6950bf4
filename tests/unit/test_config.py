"""sergas.config: the environment file read, interpolated, validated, and its secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sergas.config import (
    ConfigError,
    Environment,
    Secrets,
    Threshold,
    interpolate,
    parse,
    read_toml,
    resolve_path,
)
from sergas.units import Unit, UnitError

PATH = Path("environments/t.toml")


def load(environ: dict[str, str] | None = None, **sections: Any) -> tuple[Environment, Secrets]:
    secrets = Secrets()
    return parse({"name": "t", **sections}, PATH, secrets, environ=environ or {}), secrets


def refusal(environ: dict[str, str] | None = None, **sections: Any) -> str:
    with pytest.raises(ConfigError) as raised:
        load(environ, **sections)
    return str(raised.value)


def test_minimal_environment_has_defaults() -> None:
    env, _ = load()
    assert (env.name, env.thresholds, env.waivers, env.postgres) == ("t", {}, [], None)
    assert (env.connect_timeout, env.command_timeout, env.statement_timeout) == (5.0, 20.0, 10.0)


@pytest.mark.parametrize(
    ("sections", "where"),
    [
        ({"postgress": {"dsn": "postgresql://db1/sergas"}}, "postgress"),
        ({"postgres": {"dsn": "postgresql://db1/sergas", "dns": "x"}}, "postgres.dns"),
        ({"thresholds": {"redis.memory": {"warn": 80}}}, "thresholds.redis.memory.warn"),
    ],
)
def test_unknown_key_names_file_and_key(sections: dict[str, Any], where: str) -> None:
    assert refusal(**sections) == f"{PATH}: {where}: unknown key (typo?)"


def test_several_errors_are_counted() -> None:
    message = refusal(app={"url": "http://app", "colour": 1, "flavour": 2})
    assert message == f"{PATH}: app.colour: unknown key (typo?) (and 1 more)"


def test_wrong_type_says_what_it_got() -> None:
    assert refusal(hosts={"app": "app1"}) == f"{PATH}: hosts.app: Input should be a valid list, got 'app1'"


def test_missing_variable_is_named() -> None:
    message = refusal(app={"url": "http://app", "components": ["db", "${SERGAS_MISSING}"]})
    assert (
        message
        == f"{PATH}: app.components[1]: environment variable SERGAS_MISSING is not set (export SERGAS_MISSING=...)"
    )


def test_variables_are_interpolated_inside_text() -> None:
    env, secrets = load(
        {"DB_HOST": "db1", "DB_PORT": "6432"}, postgres={"dsn": "postgresql://u@${DB_HOST}:${DB_PORT}/x"}
    )
    assert env.postgres is not None and env.postgres.dsn == "postgresql://u@db1:6432/x"
    assert secrets.mask("db1 6432") == "db1 6432"


def test_interpolate_leaves_other_values_alone() -> None:
    raw = {"a": 1, "b": [True, "${X}"], "c": {"d": 2.5}}
    assert interpolate(raw, PATH, Secrets(), {"X": "x"}) == {"a": 1, "b": [True, "x"], "c": {"d": 2.5}}


def test_secret_variables_are_masked() -> None:
    environ = {"DB_PASSWORD": "hunter22", "ADMIN_TOKEN": "tok-123456", "S3_SECRET_KEY": "abcd/efgh", "APP_HOST": "app1"}
    env, secrets = load(
        environ,
        app={"url": "http://${APP_HOST}", "admin_token": "${ADMIN_TOKEN}"},
        postgres={"dsn": "host=db1 password=${DB_PASSWORD}"},
        backups={"s3_secret_access_key": "${S3_SECRET_KEY}"},
    )
    assert env.app is not None and env.app.admin_token == "tok-123456"
    text = "password=hunter22 token=tok-123456 key=abcd/efgh host=app1"
    assert secrets.mask(text) == "password=*** token=*** key=*** host=app1"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://sergas:s3cr3t@db1:5432/sergas", "postgresql://sergas:***@db1:5432/sergas"),
        ("redis://:pw0rd@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("see https://user:p%40ss@host/x and more", "see https://user:***@host/x and more"),
        ("http://db1:5432/sergas", "http://db1:5432/sergas"),
        ("no url here: a:b@c", "no url here: a:b@c"),
    ],
)
def test_url_passwords_are_masked_by_shape(text: str, masked: str) -> None:
    assert Secrets().mask(text) == masked


def test_short_secrets_are_not_registered() -> None:
    secrets = Secrets()
    secrets.add("abc")
    secrets.add("abcdef")
    assert secrets.mask("abc abcdef") == "abc ***"


def test_longer_secret_is_masked_before_its_prefix() -> None:
    secrets = Secrets()
    secrets.add("hunter")
    secrets.add("hunter22")
    assert secrets.mask("pw=hunter22") == "pw=***"


def test_credentials_must_be_variables() -> None:
    message = refusal(backups={"s3_access_key_id": "AKIAEXAMPLE"})
    assert message == f"{PATH}: backups.s3_access_key_id: write a ${{VAR}} reference, not the credential itself"


def test_retention_as_bare_number_is_refused_with_a_suggestion() -> None:
    message = refusal(backups={"local_retention": 30})
    assert message.startswith(f"{PATH}: backups.local_retention: ")
    assert 'write the period with its unit, e.g. "30d" (a bare number would be seconds)' in message


@pytest.mark.parametrize(("written", "seconds"), [("30d", 2592000.0), ("2w", 1209600.0), ("36h", 129600.0)])
def test_retention_with_a_unit(written: str, seconds: float) -> None:
    env, _ = load(backups={"local_retention": written, "s3_retention": written}, logs={"retention": written})
    assert env.backups is not None and env.logs is not None
    assert env.backups.local_retention == env.backups.s3_retention == env.logs.retention == seconds


def test_quantities_in_sections() -> None:
    env, _ = load(
        timeouts={"connect": "3s", "statement": "1m", "command": 45},
        postgres={"dsn": "d", "large_table_size": "512MB", "unused_index_min_stats_age": "7d"},
        redis={"url": "redis://r", "session_ttl": "2h"},
    )
    assert (env.connect_timeout, env.statement_timeout, env.command_timeout) == (3.0, 60.0, 45)
    assert env.postgres is not None and env.redis is not None
    assert (env.postgres.large_table_size, env.postgres.unused_index_min_stats_age) == (512 * 1024**2, 604800.0)
    assert env.redis.session_ttl == 7200.0


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        (
            {"timeouts": {"connect": "3%"}},
            "timeouts.connect: Value error, '3%' is a percentage, but a duration is expected",
        ),
        (
            {"postgres": {"dsn": "d", "large_table_size": "5m"}},
            "postgres.large_table_size: Value error, '5m' is a duration, but a size is expected",
        ),
    ],
)
def test_quantity_that_does_not_fit_is_refused(sections: dict[str, Any], message: str) -> None:
    assert refusal(**sections).startswith(f"{PATH}: {message}")


def test_unknown_timeout_is_refused() -> None:
    message = refusal(timeouts={"idle": "3s"})
    assert message.startswith(f"{PATH}: timeouts.idle")
    assert message.endswith(": Input should be 'connect', 'command' or 'statement', got 'idle'")


@pytest.mark.parametrize(
    "sections",
    [
        {"logs": {"retention": True}},
        {"timeouts": {"connect": True}},
        {"backups": {"drill_timeout": False}},
    ],
    ids=["retention", "timeout", "duration"],
)
def test_boolean_quantity_is_refused(sections: dict[str, Any]) -> None:
    # parse_quantity refuses a bool; `retention = true` must not become one second.
    assert "is not a duration" in refusal(**sections)


def test_threshold_override_is_kept_as_written() -> None:
    env, _ = load(
        thresholds={"redis.memory": {"warning": "75%", "critical": 95}, "postgres.locks.waiting": {"critical": 3}}
    )
    override = env.thresholds["redis.memory"]
    assert (override.warning, override.critical) == ("75%", 95)
    assert override.read(Unit.PERCENT) == (75.0, 95.0)
    assert env.thresholds["postgres.locks.waiting"].read(Unit.COUNT) == (None, 3.0)


def test_threshold_read_refuses_a_misfit() -> None:
    with pytest.raises(UnitError, match=r"^'5m' is a duration, but a percentage is expected"):
        Threshold(warning="5m").read(Unit.PERCENT)


def test_waivers() -> None:
    env, _ = load(waivers=[{"check": "redis.memory", "reason": "migration", "expires": "2024-06-30"}])
    [waiver] = env.waivers
    assert (waiver.check, waiver.reason, waiver.expires.isoformat(), waiver.target) == (
        "redis.memory",
        "migration",
        "2024-06-30",
        None,
    )


def test_file_source_needs_files() -> None:
    message = refusal(logs={"source": "file"})
    assert message.startswith(f'{PATH}: logs: Value error, source = "file" needs files = [...] or dir = "..."')


def test_read_toml(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('name = "prod"\n[timeouts]\nconnect = "3s"\n')
    assert read_toml(good) == {"name": "prod", "timeouts": {"connect": "3s"}}


def test_read_toml_refuses_broken_and_missing_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n")
    with pytest.raises(ConfigError, match=rf"^{broken}: not valid TOML: "):
        read_toml(broken)
    with pytest.raises(ConfigError, match=r"no such environment file \(environments found: .*demo"):
        read_toml(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("given", "path"), [("prod.toml", "prod.toml"), ("/etc/sergas/prod.toml", "/etc/sergas/prod.toml")]
)
def test_resolve_path_of_a_path(given: str, path: str) -> None:
    assert resolve_path(given) == Path(path)


def test_resolve_path_of_a_name() -> None:
    assert resolve_path("demo").parts[-2:] == ("environments", "demo.toml")
