"""The small parsers and patterns the checks lean on, held to the cases that once went wrong."""

from __future__ import annotations

import subprocess

import pytest

from probes.backups import parse_integrity
from probes.host import pgrep_pattern
from probes.redis import counter_growth


@pytest.mark.parametrize("service", ["no-such-sergas", "/usr/bin/no-such-sergas", "./no-such.sh --name=x"])
def test_pgrep_pattern_never_matches_the_shell_that_runs_it(service: str) -> None:
    """No such process runs; the only candidate is the shell running pgrep, which `pgrep -f` sees
    with the pattern in its own command line: a name starting with '/' once made
    app.service_running find 'processes' that did not exist."""
    pattern = pgrep_pattern(service)
    found = subprocess.run(["sh", "-c", f"pgrep -f -- '{pattern}'; true"], capture_output=True, text=True)
    assert found.stdout == "", f"{pattern!r} matched {found.stdout!r}"


def test_pgrep_pattern_matches_the_process() -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        found = subprocess.run(["pgrep", "-f", "--", pgrep_pattern("sleep 30")], capture_output=True, text=True)
        assert str(sleeper.pid) in found.stdout.split()
    finally:
        sleeper.kill()


def test_an_integrity_report_cut_short_is_not_a_verdict() -> None:
    """A scan killed by its timeout after `pg_restore --list` once read as a healthy archive."""
    started = "size=1024\nouter=1f8b080000\ninner=5047444d50\ngzip_rc=0\ngzip_err=\n"
    with pytest.raises(ValueError, match="stopped before its end"):
        parse_integrity(started + "list_rc=0\nentries=40\n")
    found = parse_integrity(started + "list_rc=0\nentries=40\ntable_data=5\nread_rc=0\ndone=1\n")
    assert (found.format, found.gzipped, found.entries) == ("custom", True, 40)


def test_a_counter_grows_only_on_the_same_server_without_a_reset() -> None:
    started = 1_764_600_000.0
    assert counter_growth(1500, 1000, started + 0.7, started) == 500, "the same start, read a second apart"
    assert counter_growth(1500, 1000, started + 3600, started) is None, "restarted an hour later"
    assert counter_growth(200, 1000, started, started) is None, "CONFIG RESETSTAT: the counter went down"
