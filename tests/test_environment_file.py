"""A broken environment file is a one-line usage error naming file and key, never a traceback."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sergas.config import LogsConfig
from tests.conftest import Run, RunChecks

MINIMAL = """
name = "broken"
[redis]
url = "redis://127.0.0.1:1/0"
"""


def assert_usage_error(run: Run, *expected: str) -> None:
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert "Traceback" not in run.output, run.output
    for text in expected:
        assert text in run.output, run.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            MINIMAL + 'eviction_polcy = "allkeys-lru"\n',
            ["env.toml: redis.eviction_polcy: unknown key (typo?)"],
            id="unknown-key",
        ),
        pytest.param(MINIMAL + "[postgress]\ndsn = 'x'\n", ["env.toml: postgress: unknown key"], id="unknown-section"),
        pytest.param(
            MINIMAL + '[thresholds."host.disk_space"]\nwarning = "lots"\n',
            ["[thresholds.\"host.disk_space\"]: not a quantity: 'lots'", "host.disk_space.blocks is a percentage"],
            id="wrong-type",
        ),
        pytest.param(
            MINIMAL + '[thresholds."redis.memory"]\nwarning = "5m"\n',
            [
                "[thresholds.\"redis.memory\"]: '5m' is a duration, but a percentage is expected",
                "redis.memory.used is a percentage",
            ],
            id="wrong-unit",
        ),
        pytest.param(
            MINIMAL.replace("127.0.0.1:1", "${SERGAS_TEST_UNSET_HOST}:1"),
            ["redis.url: environment variable SERGAS_TEST_UNSET_HOST is not set"],
            id="missing-variable",
        ),
        pytest.param('name = "x"\n[redis\n', ["env.toml: not valid TOML"], id="invalid-toml"),
    ],
)
def test_broken_file_is_named(suite: RunChecks, text: str, expected: list[str]) -> None:
    assert_usage_error(suite(env=text), *expected)


def test_missing_file_lists_environments(suite: RunChecks, pytester: pytest.Pytester) -> None:
    run = suite(args=(f"--env={pytester.path / 'nowhere.toml'}",))
    assert_usage_error(run, "nowhere.toml: no such environment file", "environments found: demo, example-production")


def test_no_environment_chosen(suite: RunChecks, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERGAS_ENV", raising=False)
    run = suite(args=("--env=",))
    assert_usage_error(run, "no environment chosen: pass --env NAME|PATH or set SERGAS_ENV")


def test_thresholds_accept_units(suite: RunChecks) -> None:
    """Durations, sizes and percentages parse; a section left out skips its checks, with the reason."""
    run = suite(
        "daily/test_redis.py",
        env='name = "units"\n[thresholds."postgres.connections"]\nwarning = "75%"\ncritical = 90\n'
        '[thresholds."redis.ping.latency"]\nwarning = "50ms"\ncritical = "2s"\n',
    )
    assert run.result.ret == pytest.ExitCode.OK, run.output
    assert {c["status"] for c in run.summary["checks"]} == {"skipped"}
    assert "Redis is not part of environment units (no [redis] section)" in run.message("redis.memory")


def test_readme_catalogue_is_current() -> None:
    """The README's table is what `make catalogue` prints: it cannot drift from the checks."""
    from fixtures.catalogue import README, collect, markdown, readme_with

    readme = README.read_text()
    assert readme == readme_with(markdown(collect()), readme), "run `make catalogue` and commit README.md"


def test_threshold_for_no_check_is_refused(suite: RunChecks) -> None:
    """Over the whole suite, a threshold naming no check is a typo, and the error says the likely one."""
    env = MINIMAL + '[thresholds."host.disk_spce"]\nwarning = 70\n'
    run = suite(env=env, args=("--co",))
    assert run.result.ret == pytest.ExitCode.OK, "collect-only judges nothing"
    run = suite(env=env)
    assert_usage_error(
        run, 'environment broken: thresholds."host.disk_spce" names no check (did you mean host.disk_space?)'
    )


@pytest.mark.parametrize(("written", "seconds"), [("30d", 30 * 86400), ("12h", 12 * 3600), ("1w", 7 * 86400)])
def test_log_retention_is_a_duration(written: str, seconds: float) -> None:
    assert LogsConfig(source="file", dir="/var/log/sergas", retention=written).retention == seconds


def test_log_retention_in_a_bare_number_is_refused() -> None:
    """A bare number is seconds everywhere; a retention written so (it once meant days here) is
    refused rather than read as 30 seconds, which would make every log file due for deletion."""
    with pytest.raises(ValidationError, match=r'write the period with its unit, e\.g\. "30d"'):
        LogsConfig(source="file", dir="/var/log/sergas", retention=30)
