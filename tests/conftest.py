"""The suite's own tests: run the checks as a user does (pytester, a subprocess per run)
against one real sandbox per test session, with faults injected per test."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from sandbox import Sandbox
from sandbox.plugin import STATE_VAR
from sergas.record import SCHEMA_FILE

# compose_fixtures: the private Docker engine and the compose variant of the app, on demand.
pytest_plugins = ["pytester", "tests.compose_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
DEMO_ENV = (ROOT / "environments" / "demo.toml").read_text()
SUMMARY_SCHEMA = Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def running_sandbox() -> Iterator[Sandbox]:
    """A started sandbox whose SANDBOX_* variables runs of the suite see while it lives."""
    box = Sandbox()
    state = box.start()
    saved = {k: os.environ.get(k) for k in [STATE_VAR, *state.env_vars()]}
    os.environ[STATE_VAR] = str(state.state_file)
    os.environ.update(state.env_vars())
    try:
        yield box
    finally:
        box.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The demo sandbox, started once; runs of the suite attach to it via SERGAS_SANDBOX_STATE.

    A test module whose checks read cumulative state (Prometheus' 5-minute windows,
    pg_stat_statements) that other modules' faults leave behind overrides it with its own:
    `sandbox = pytest.fixture(scope="module")(running_sandbox)`.
    """
    yield from running_sandbox()


@dataclass
class Run:
    """One run of the suite: pytest's result plus the archived summary."""

    result: pytest.RunResult
    report_dir: Path

    @property
    def output(self) -> str:
        return self.result.stdout.str() + self.result.stderr.str()

    @property
    def archive(self) -> Path:
        runs = sorted(p for p in self.report_dir.glob("*/*") if p.is_dir() and not p.is_symlink())
        assert runs, f"no run archived under {self.report_dir}:\n{self.output}"
        return runs[-1]

    @property
    def summary(self) -> dict[str, Any]:
        """The run's summary.json, validated against its JSON Schema: every test that reads a
        summary holds the record contract too."""
        summary: dict[str, Any] = json.loads((self.archive / "summary.json").read_text())
        SUMMARY_SCHEMA.validate(summary)
        return summary

    def checks(self, check_id: str) -> list[dict[str, Any]]:
        found = [c for c in self.summary["checks"] if c["id"] == check_id]
        assert found, f"{check_id} not in the summary:\n{self.output}"
        return found

    def status(self, check_id: str) -> str:
        statuses: set[str] = {c["status"] for c in self.checks(check_id)}
        assert len(statuses) == 1, f"{check_id} has several statuses: {self.checks(check_id)}"
        return statuses.pop()

    def message(self, check_id: str) -> str:
        return " | ".join(c["message"] for c in self.checks(check_id))


def environment_text(extra: str = "", base: str = DEMO_ENV) -> str:
    """The demo environment with TOML appended (thresholds, waivers, other hosts)."""
    return base + "\n" + extra


RunChecks = Callable[..., Run]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> RunChecks:
    """`suite(*paths, env=TOML text or None for demo, args=[...])`: the suite, as a user runs it.
    Each run archives into a report folder of its own, unless `report_dir` names an earlier one."""

    def run(
        *paths: str,
        env: str | None = None,
        args: tuple[str, ...] = (),
        timeout: float = 240,
        report_dir: Path | None = None,
    ) -> Run:
        env_path = pytester.path / "env.toml"
        env_path.write_text(env if env is not None else DEMO_ENV)
        report_dir = report_dir or pytester.path / f"reports-{len(list(pytester.path.glob('reports-*')))}"
        targets = [str(ROOT / "checks" / p) for p in paths] or [str(ROOT / "checks")]
        result = pytester.runpytest_subprocess(
            f"--rootdir={ROOT}",
            f"-c={ROOT / 'pyproject.toml'}",
            f"--env={env_path}",
            f"--report-dir={report_dir}",
            *args,
            *targets,
            timeout=timeout,
        )
        return Run(result, report_dir)

    return run


@pytest.fixture
def run_checks(suite: RunChecks, sandbox: Sandbox) -> RunChecks:
    """`suite` with the sandbox running (its SANDBOX_* variables exported)."""
    return suite
