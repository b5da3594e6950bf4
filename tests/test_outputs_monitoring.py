"""Outputs for the monitoring a site already runs, against the sandbox: the Prometheus textfile
(read back with prometheus-client's parser), a real Pushgateway scraped by the sandbox's real
Prometheus, and Nagios plugin mode (one line on stdout, the process exit code 0-3).

The healthy runs select the morning checks of `checks/daily` (app, host, PostgreSQL, Redis):
none reads a Prometheus window that another module's fault could have left behind."""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sandbox import Sandbox
from sandbox.ports import free_port
from tests.conftest import DEMO_ENV, ROOT, Run, RunChecks

OK, CRITICAL, UNKNOWN = 0, 2, 3
MORNING = ("-m", "daily")  # with the path "daily": the morning checks


def expected_status(run: Run) -> dict[tuple[str, str], float]:
    """(check, target) -> Nagios code of every check the run evaluated (skipped: no series)."""
    codes = {"ok": 0, "waived": 0, "warning": 1, "critical": 2, "unknown": 3}
    return {(c["id"], c["target"]): codes[c["status"]] for c in run.summary["checks"] if c["status"] != "skipped"}


def test_textfile_parses_and_a_failed_push_keeps_the_run(run_checks: RunChecks, tmp_path: Path) -> None:
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    gateway = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    textfile = textfile_dir / "sergas.prom"
    run = run_checks("daily", args=(*MORNING, f"--prometheus-textfile={textfile}", f"--pushgateway={gateway}"))
    assert run.result.ret == pytest.ExitCode.OK, run.output
    assert f"sergas: pushgateway {gateway}: Connection refused" in run.result.stderr.lines
    assert [p.name for p in textfile_dir.iterdir()] == ["sergas.prom"], "no temporary file left"

    families = {f.name: f for f in text_string_to_metric_families(textfile.read_text())}
    status = {(s.labels["check"], s.labels["target"]): s.value for s in families["sergas_check_status"].samples}
    assert status == expected_status(run) and len(status) >= 8
    assert {s.labels["env"] for s in families["sergas_check_status"].samples} == {"demo"}
    values = {
        (s.labels["check"], s.labels["measurement"], s.labels["object"]): s
        for s in families["sergas_check_value"].samples
    }
    assert values["host.disk_space", "blocks", "mount=/"].labels["unit"] == "%"
    [stamp] = families["sergas_run_timestamp_seconds"].samples
    assert stamp.value == dt.datetime.fromisoformat(run.summary["finished"]).timestamp()
    checks = {s.labels["status"]: s.value for s in families["sergas_run_checks"].samples}
    assert checks["ok"] == len(status)


def test_prometheus_scrapes_the_pushed_run(run_checks: RunChecks, sandbox: Sandbox) -> None:
    state = sandbox.require_state()
    run = run_checks("daily", args=(*MORNING, f"--pushgateway={state.pushgateway_url}"))
    assert run.result.ret == pytest.ExitCode.OK, run.output
    assert "pushgateway" not in run.output
    finished = dt.datetime.fromisoformat(run.summary["finished"]).timestamp()
    prometheus = sandbox.prometheus
    assert prometheus is not None, "the session's sandbox owns its Prometheus"
    # Scraped every second: wait (bounded) until Prometheus holds this run's push.
    prometheus.wait_for_data(f'abs(sergas_run_timestamp_seconds{{env="demo"}} - {finished!r}) < 0.001', timeout=30)

    found: dict[tuple[str, str], tuple[dict[str, str], float]] = {}
    for sample in prometheus.query('sergas_check_status{env="demo"}'):
        metric = cast(dict[str, str], sample["metric"])
        _, value = cast(list[Any], sample["value"])
        found[metric["check"], metric["target"]] = (metric, float(value))
    expected = expected_status(run)
    assert set(found) >= set(expected), sorted(set(expected) - set(found))
    for key, code in expected.items():
        metric, value = found[key]
        assert metric["job"] == "sergas-checks" and value == code, found[key]


def nagios_line(run: Run) -> str:
    """The one line on stdout (pytest's own output went to the archive's terminal.log)."""
    assert len(run.result.outlines) == 1, run.output
    [line] = run.result.outlines
    assert "sergas:" in (run.archive / "terminal.log").read_text(), "pytest's output is archived"
    return line


def test_nagios_critical_as_a_service_check_runs_it(pytester: pytest.Pytester, sandbox: Sandbox) -> None:
    """From another folder with `--env PATH`, as check_by_ssh runs it: pytest starts without the
    checkout's configuration (testinfra's plugin, and its own --nagios, not blocked yet), then
    again with it (fixtures/plugin.py)."""
    env = pytester.path / "prod.toml"
    env.write_text(DEMO_ENV)
    report_dir = pytester.path / "reports"
    args = ("--env", env, "--report-dir", report_dir, "--nagios", "-k", "zoho_connectivity")
    with sandbox.faults.zoho_unreachable():
        run = Run(pytester.run(sys.executable, "-m", "pytest", *args, timeout=240), report_dir)
    line = nagios_line(run)
    assert run.result.ret == CRITICAL, line
    assert re.match(r"SERGAS CRITICAL - 1 critical: app\.zoho_connectivity 127\.0\.0\.1:\d+: \S", line), line
    assert run.status("app.zoho_connectivity") == "critical"


def test_nagios_ok(run_checks: RunChecks) -> None:
    run = run_checks("daily", args=(*MORNING, "--nagios"))
    line = nagios_line(run)
    assert run.result.ret == OK, line
    text, perfdata = line.split(" | ")
    assert text == f"SERGAS OK - {len(run.summary['checks'])} ok"
    assert re.search(r"(^| )'postgres\.connections\.used'=[0-9.]+%;80;90( |$)", perfdata), perfdata
    assert re.search(r"(^| )'host\.disk_space\.blocks\[mount:/\]'=[0-9.]+%;80;90( |$)", perfdata), perfdata


def test_nagios_unknown_when_postgres_is_down(run_checks: RunChecks, sandbox: Sandbox) -> None:
    with sandbox.faults.postgres_stopped():
        run = run_checks("daily/test_postgres.py", "postgres", args=("--nagios", "-m", "postgres"))
    line = nagios_line(run)
    assert run.result.ret == UNKNOWN, line
    assert re.match(r"SERGAS UNKNOWN - \d+ unknown(, \d+ ok)?: postgres\.\w+ 127\.0\.0\.1:\d+/sergas: ", line), line
    assert "critical" not in {c["status"] for c in run.summary["checks"]}


@pytest.mark.parametrize("where", ["checkout", "elsewhere"])
def test_help_shows_our_nagios_only(pytester: pytest.Pytester, where: str) -> None:
    """testinfra's own --nagios is disabled: by pyproject's addopts in the checkout, by ours
    from a folder where pytest finds no configuration (its entry point would clash)."""
    config = (f"--rootdir={ROOT}", f"-c={ROOT / 'pyproject.toml'}") if where == "checkout" else ()
    result = pytester.run(sys.executable, "-m", "pytest", *config, "--help", timeout=60)
    assert result.ret == pytest.ExitCode.OK, result.stderr.str()
    options = [line for line in result.outlines if re.match(r"\s+--nagios\b", line)]
    assert len(options) == 1 and "Nagios/Icinga plugin mode" in options[0], options
