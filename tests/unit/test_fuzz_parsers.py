"""Fuzzing the parsers of what targets answer: whatever a host, server or endpoint prints, a parser
returns its value (an "incomplete" one its caller turns into unknown) or raises its documented
failure, which its callers turn into unknown with a reason: never another exception (a
traceback), never a value a check would read as ok (NaN passes every limit).

Inputs: arbitrary text, bytes and JSON values, and mutations of a realistic sample of each
format (truncated anywhere, lines dropped or repeated, numbers replaced by garbage, fields
deleted, JSON members replaced or removed); round trips where the format has a writer. A crash
found here is fixed in the parser and kept as an `@example`.

The default profile runs 100 examples a test (seconds, within `make test`). A long run, 5000
examples a test (minutes):

    HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/unit/test_fuzz_parsers.py tests/unit/test_fuzz_clients.py

Neither profile writes an example database into the checkout.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from probes import alertmanager, app, backups, drill, host, logs, prometheus
from sergas.config import ConfigError, Environment, Secrets, parse, read_toml
from sergas.status import CheckOutcome, Status

settings.register_profile(
    "fuzz", max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("long", parent=settings.get_profile("fuzz"), max_examples=5000)
# This module's tests only: the run's other hypothesis tests keep their own settings.
FUZZ = settings.get_profile("long" if os.environ.get("HYPOTHESIS_PROFILE") == "long" else "fuzz")

T = TypeVar("T")

# --- strategies ------------------------------------------------------------------------------

# What a number may turn into: signs, exponents, non-ASCII digits (str.isdigit() says yes, int()
# may say no), more digits than int() converts (4300), NaN and infinities.
GARBAGE = st.sampled_from(
    ["", "-", "--1", "+", "x", "nan", "inf", "-inf", "1e999", "²", "١٢", "0x1f", " ", "1.5", "9" * 30, "9" * 5000]
) | st.text(max_size=6)
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_FIELD = re.compile(r"\S+\s?")


def _replace_one(draw: st.DrawFn, pattern: re.Pattern[str], line: str, by: st.SearchStrategy[str]) -> str:
    found = list(pattern.finditer(line))
    if not found:
        return line
    match = draw(st.sampled_from(found))
    return line[: match.start()] + draw(by) + line[match.end() :]


@st.composite
def mutated(draw: st.DrawFn, sample: str) -> str:
    """`sample` with a few lines dropped, repeated or inserted, a number garbled or a field
    deleted, then perhaps cut short anywhere (a command killed mid-output)."""
    lines = sample.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "repeat", "number", "number", "field", "insert"]))
        if op == "drop":
            del lines[i]
        elif op == "repeat":
            lines.insert(i, lines[i])
        elif op == "number":
            lines[i] = _replace_one(draw, _NUMBER, lines[i], GARBAGE)
        elif op == "field":
            lines[i] = _replace_one(draw, _FIELD, lines[i], st.just(""))
        else:
            lines.insert(i, draw(st.text(max_size=40)) + "\n")
    text = "".join(lines)
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return text


def text_of(sample: str) -> st.SearchStrategy[str]:
    """Output of a command: anything, bytes as the host's shell decodes them, or `sample` mutated."""
    undecoded = st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape"))
    return st.text() | undecoded | mutated(sample) | mutated(sample)


JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.sampled_from([10**400]) | st.floats() | st.text(max_size=20)
)
JSON_KEYS = st.text(max_size=12)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(JSON_KEYS, inner, max_size=4),
    max_leaves=20,
)


def _mutate(draw: st.DrawFn, node: Any, values: st.SearchStrategy[Any], keys: st.SearchStrategy[str]) -> Any:
    """`node` with one change at some depth: a member replaced by any value, removed or added,
    a list cut short or grown (the containers on the way are copied, `node` is left alone)."""
    at: list[Any] = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
    if at and draw(st.integers(0, 2)) != 0:  # two times in three, deeper
        key = draw(st.sampled_from(at))
        copied = dict(node) if isinstance(node, dict) else list(node)
        copied[key] = _mutate(draw, node[key], values, keys)
        return copied
    op = draw(st.sampled_from(["replace", "remove", "add"] if at else ["replace", "add"]))
    if op == "replace" or not isinstance(node, dict | list):
        return draw(values)
    if isinstance(node, list):
        return node[: draw(st.integers(0, len(node) - 1))] if op == "remove" else [*node, draw(values)]
    if op == "remove":
        gone = draw(st.sampled_from(at))
        return {k: v for k, v in node.items() if k != gone}
    return {**node, draw(keys): draw(values)}


@st.composite
def mutated_json(
    draw: st.DrawFn, sample: Any, values: st.SearchStrategy[Any] = JSON, keys: st.SearchStrategy[str] = JSON_KEYS
) -> Any:
    """`sample` with one to four members replaced by any value, removed or added, or lists cut short."""
    for _ in range(draw(st.integers(1, 4))):
        sample = _mutate(draw, sample, values, keys)
    return sample


def json_of(sample: Any) -> st.SearchStrategy[Any]:
    return JSON | mutated_json(sample) | mutated_json(sample)


# --- what a parser may do --------------------------------------------------------------------


def documented(call: Callable[[], T], *failures: type[Exception]) -> T | None:
    """What `call` returns, or None when it raised one of `failures` (the failures its callers
    turn into unknown) with a reason; any other exception fails the test: it is the finding."""
    try:
        return call()
    except failures as exc:
        reason = exc.message if isinstance(exc, CheckOutcome) else str(exc)
        assert reason.strip(), f"{type(exc).__name__} without a reason"
        if isinstance(exc, CheckOutcome):
            assert exc.status is Status.UNKNOWN and "\n" not in reason, reason
        return None


def judged(value: float | None) -> None:
    """A value a check holds against a limit: a number (NaN would pass every limit), or None."""
    assert value is None or not math.isnan(value), value


# --- hosts: df, /proc/meminfo, ps, systemctl show, find -------------------------------------

DF = """\
Type          1B-blocks         Used        Avail   Inodes   IUsed    IFree Mounted on
ext4       105089261568  42035704832  57673609216  6553600  412345  6141255 /
vfat          535805952      6369280    529436672        0       0        0 /boot/efi
xfs      1099511627776 879609302220 219902325556 53687091 1234567 52452524 /var/lib/postgresql
btrfs      53687091200  10737418240  42949672960        -       -        - /srv/data with space
"""


@FUZZ
@given(text_of(DF))
@example(DF.replace("42035704832", "²"))  # ValueError: int() of a digit str.isdigit() accepts
@example(DF.replace("412345", "٣"))
@example(DF.replace("42035704832", "9" * 400))  # OverflowError in used_pct
def test_df(output: str) -> None:
    for mount in host.parse_df(output):
        judged(mount.used_pct)
        judged(mount.inodes_pct)


def _df_line(mount: host.Mount) -> str:
    return (
        f"{mount.fstype} {mount.size} {mount.used} {mount.avail} {mount.inodes_total} {mount.inodes_used}"
        f" {max(mount.inodes_total - mount.inodes_used, 0)} {mount.target}"
    )


NAMES = st.text(st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp", "Zs"]), min_size=1, max_size=20)
SIZES = st.integers(0, 2**63 - 1)


@FUZZ
@given(
    st.lists(
        st.builds(
            host.Mount,
            target=st.builds(lambda a, b: a + b, NAMES, st.sampled_from(["", " with space", "  two"])),
            fstype=NAMES,
            size=st.integers(1, 2**63 - 1),
            used=SIZES,
            avail=SIZES,
            inodes_total=SIZES,
            inodes_used=SIZES,
        ),
        max_size=5,
    )
)
def test_df_reads_back_what_df_writes(mounts: list[host.Mount]) -> None:
    header = "Type 1B-blocks Used Avail Inodes IUsed IFree Mounted on\n"
    assert host.parse_df(header + "".join(_df_line(m) + "\n" for m in mounts)) == mounts


MEMINFO = """\
MemTotal:       16318480 kB
MemFree:          912344 kB
MemAvailable:    9731212 kB
Buffers:          402112 kB
Cached:          8112340 kB
SwapCached:         1024 kB
SwapTotal:       2097148 kB
SwapFree:        2090000 kB
HugePages_Total:       0
"""


@FUZZ
@given(text_of(MEMINFO))
@example(MEMINFO.replace("16318480", "0"))  # ZeroDivisionError in available_pct
@example(MEMINFO.replace("MemTotal", "MemTotl"))  # KeyError
@example(MEMINFO.replace("16318480", "9" * 400))  # OverflowError in available_pct
def test_meminfo(text: str) -> None:
    memory = documented(lambda: host.parse_meminfo(text), ValueError)
    if memory is not None:
        judged(memory.available_pct)
        judged(memory.swap_used_pct)


PS = """\
  4711   86400 /usr/bin/python3 -m sergas.app --port 8000
  4712      12 /usr/bin/python3 -m sergas.worker
"""


@FUZZ
@given(text_of(PS))
@example("²² 1 cmd")  # ValueError: str.isdigit() accepts what int() refuses
def test_ps(output: str) -> None:
    for process in host.parse_ps(output):
        assert process.pid >= 0 and process.elapsed_s >= 0 and process.command


SYSTEMCTL = "LoadState=loaded\nActiveState=active\nSubState=running\nNRestarts=0\n"


@FUZZ
@given(text_of(SYSTEMCTL))
def test_systemctl_show(output: str) -> None:
    host.parse_systemctl_show(output)


PROPERTY = st.text(st.characters(exclude_characters="=", exclude_categories=["Cc", "Cs", "Zl", "Zp"]), min_size=1)
VALUE = st.text(st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp"]))


@FUZZ
@given(st.dictionaries(PROPERTY, VALUE, max_size=6))
def test_systemctl_show_reads_back(properties: dict[str, str]) -> None:
    assert host.parse_systemctl_show("".join(f"{k}={v}\n" for k, v in properties.items())) == properties


OLD_LOGS = """\
1761990000.1234567890 104857600 app.log.3
1759398000.0000000000 52428800 worker log.log
"""


@FUZZ
@given(text_of(OLD_LOGS))
@example("")  # nothing old: no line at all
@example("1761990000.5 100\n")  # ValueError: a line without its name
@example("1761990000.5 100 a\nb.log\n")  # ValueError: a name with a newline in it, split by find
@example("nan 100 a.log\n")
def test_old_logs(output: str) -> None:
    for old in documented(lambda: host.parse_old_logs(output, 1764600000.0), CheckOutcome) or []:
        judged(old.age_days)
        assert old.size >= 0 and old.name


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 2**40), st.integers(0, 10**9 - 1), st.integers(0, 2**63 - 1), NAMES)))
def test_old_logs_read_back_what_find_writes(files: list[tuple[int, int, int, str]]) -> None:
    output = "".join(f"{s}.{ns:09d} {size} {name}\n" for s, ns, size, name in files)
    found = host.parse_old_logs(output, 2.0**41)
    assert sorted((f.name, f.size) for f in found) == sorted((name, size) for _s, _ns, size, name in files)


@FUZZ
@given(st.text())
def test_pgrep_pattern_matches_its_text(text: str) -> None:
    pattern = documented(lambda: host.pgrep_pattern(text), ValueError)
    assert pattern is None or re.search(pattern, text)


# --- logs: the on-host count's output, and the log lines its awk program reads ---------------

COUNT = """\
skip 1764500000 1000 /var/log/sergas/app.log.2.gz
file 1764590000 2048 /var/log/sergas/app.log.1
file 1764600000 4096 /var/log/sergas/app.log
count 3
total 289
untimed 0
timed 120
max 7300.5
kind 3 sergas.zoho Zoho CRM request failed: timed out
path 12 /api/v1/accounts
sample 2026-12-01T19:40:00Z ERROR sergas.zoho Zoho CRM request failed: timed out
"""


def _sane_count(output: str) -> None:
    found = logs.parse_count(output)
    found.top(3)
    found.top(3, paths=True)
    logs.summarize_kinds(found.kinds)
    if found.complete:  # what fixtures/logs.py and the checks then read
        judged(found.max_value)
        journal = any(line.partition(" ")[0] == "journal" for line in output.splitlines())
        assert found.no_files or found.files or journal, "complete, but neither files nor the journal named"
        if found.files and not found.read_files:
            max(found.files, key=lambda f: f.mtime)


@FUZZ
@given(text_of(COUNT) | text_of("journal 2026-12-01T19:59:58.123456+0000 app1 sergas-app[42]: ok\n" + COUNT))
@example("count ²")  # ValueError: str.isdigit() accepts it, int() does not
@example("count --5")  # ValueError
@example("count \x1f5")  # ValueError: strip() takes \x1f as white space, int() does not
@example("count 0\nmax x")  # ValueError from float()
@example("kind ² text")
@example("file ² 1 /x")
@example("count 0")  # complete, but not a file nor the journal named: fixtures/logs.py's max([])
@example("count 0\nmax nan")
def test_log_count(output: str) -> None:
    _sane_count(output)


@FUZZ
@given(
    st.integers(0, 10**9),
    st.integers(0, 10**9),
    st.integers(0, 10**9),
    st.integers(0, 10**9),
    st.floats(0, 1e9),
    st.lists(st.tuples(st.integers(1, 10**9), NAMES), max_size=5),
)
def test_log_count_reads_back_what_awk_writes(
    count: int, total: int, untimed: int, timed: int, maxv: float, kinds: list[tuple[int, str]]
) -> None:
    lines = ["nofiles", f"count {count}", f"total {total}", f"untimed {untimed}", f"timed {timed}", f"max {maxv!r}"]
    lines += [f"kind {n} {text}" for n, text in kinds]
    found = logs.parse_count("\n".join(lines) + "\n")
    assert found.complete and found.no_files
    assert [found.count, found.total, found.untimed, found.timed] == [count, total, untimed, timed]
    assert found.max_value == maxv and found.kinds == kinds


# One line of each format the awk program reads a timestamp and a level from (probes/logs.py).
NOW = 1764600000  # 2025-12-01T14:40:00Z
LOG_LINES = [
    "2025-12-01T14:39:00.123Z ERROR sergas.zoho Zoho CRM request failed: timed out duration=7300 path=/api/x",
    "2025-12-01 14:39:00,123 - sergas.app - ERROR - boom status_code=503 path=/api/v1/accounts",
    "[2025-12-01 14:39:00] CRITICAL sergas boom circuit breaker open",
    "2025-12-01T16:39:00+02:00 ERROR sergas authentication failed for user 42",
    '{"timestamp": "2025-12-01T14:39:00Z", "level": "error", "event": "boom", "logger": "sergas.db"}',
    '{"ts": 1764599940.5, "level": "ERROR", "msg": "boom", "status_code": 500, "duration": 12}',
    '{"time": 1764599940500, "severity": "ERROR", "message": "boom"}',
    "Dec  1 14:39:00 app1 sergas-app[42]: ERROR sergas boom",
    "level=error ts=2025-12-01T14:39:00Z msg=boom",
    "2025-12-01 14:39:00.123 UTC [4711] LOG:  duration: 1234.567 ms  statement: SELECT 1 FROM accounts WHERE id = 42",
    '  File "/srv/sergas/app.py", line 12, in handler',
    "\x1efile 1764599000 4096 /var/log/sergas/app.log",
]
AWK = shutil.which("awk")


@pytest.mark.skipif(AWK is None, reason="no awk on this machine")
@FUZZ
@given(
    st.lists(st.sampled_from(LOG_LINES), min_size=1, max_size=12).map("\n".join).flatmap(mutated) | st.text(),
    st.sampled_from(list(logs.PREFILTER)),
    st.booleans(),
)
def test_awk_program_counts_any_log(text: str, mode: logs.Mode, offsets: bool) -> None:
    """The host side of the count: whatever lines reach it, the program ends and reports whole."""
    if offsets:  # the plain-text errors prefilter's `grep -b` byte offsets
        text = "".join(f"{i}:{line}" for i, line in enumerate(text.splitlines(keepends=True)))
    command = [str(AWK), "-v", f"mode={mode}", "-v", "threshold=1000", "-v", f"since={NOW - 3600}", "-v", f"now={NOW}"]
    command += ["-v", "tz=+0100", "-v", "year=2025", "-v", f"offsets={int(offsets)}", logs.AWK_PROGRAM]
    data = f"\x1efile {NOW - 60} 4096 /var/log/sergas/app.log\n{text}".encode("utf-8", "surrogateescape")
    result = subprocess.run(command, input=data, capture_output=True, env={"LC_ALL": "C"}, timeout=20, check=False)
    assert result.returncode == 0, result.stderr
    found = logs.parse_count(result.stdout.decode("utf-8", "surrogateescape"))
    lines = len(data.split(b"\n"))
    assert found.complete and 0 <= found.count <= lines and 0 <= found.untimed + found.timed <= lines


# --- Prometheus: /api/v1/query, /api/v1/targets, buildinfo -----------------------------------

VECTOR = {
    "status": "success",
    "data": {
        "resultType": "vector",
        "result": [
            {"metric": {"instance": "app1:8000", "job": "sergas-app"}, "value": [1764600000.123, "0.25"]},
            {"metric": {"__name__": "up", "instance": "app2:8000"}, "value": [1764600000.123, "NaN"]},
        ],
    },
}
SCALAR = {"status": "success", "data": {"resultType": "scalar", "result": [1764600000.123, "+Inf"]}}
REFUSED = {"status": "error", "errorType": "bad_data", "error": "1:5: parse error: unexpected end of input"}
TARGETS = {
    "status": "success",
    "data": {
        "activeTargets": [
            {"labels": {"job": "sergas-app", "instance": "app1:8000"}, "health": "up", "lastError": ""},
            {"labels": {"job": "sergas-app"}, "scrapeUrl": "http://app2:8000/metrics", "health": "down"},
        ]
    },
}


@FUZZ
@given(json_of(VECTOR) | json_of(SCALAR) | json_of(REFUSED))
@example({"status": "success", "data": []})  # AttributeError: data is not an object
@example({"status": "success", "data": {"resultType": "vector", "result": [1]}})  # AttributeError
@example({"status": "success", "data": {"resultType": "vector", "result": [{"value": []}]}})  # IndexError
@example({"status": "success", "data": {"resultType": "vector", "result": [{"metric": 1, "value": [0, "1"]}]}})
@example({"status": "success", "data": {"resultType": "scalar", "result": [0, 10**400]}})  # OverflowError
def test_prometheus_query(body: Any) -> None:
    for sample in documented(lambda: prometheus.parse_result(body), prometheus.QueryError) or []:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in sample.labels.items())
        assert isinstance(sample.instance, str) and isinstance(sample.value, float)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
            st.floats(allow_nan=False) | st.sampled_from([math.inf, -math.inf]),
        ),
        max_size=4,
    )
)
def test_prometheus_vector_reads_back(samples: list[tuple[dict[str, str], float]]) -> None:
    result = [{"metric": labels, "value": [NOW, repr(value).replace("inf", "Inf")]} for labels, value in samples]
    body = {"status": "success", "data": {"resultType": "vector", "result": result}}
    read = prometheus.parse_result(json.loads(json.dumps(body)))
    assert [(s.labels, s.value) for s in read] == samples


@FUZZ
@given(json_of(TARGETS))
@example({"status": "success", "data": {"activeTargets": [1]}})  # AttributeError
@example({"status": "success", "data": {"activeTargets": [{"labels": []}]}})  # AttributeError
@example({"status": "success", "data": 1})  # AttributeError
def test_prometheus_targets(body: Any) -> None:
    documented(lambda: prometheus.parse_targets(body, "sergas-app"), prometheus.QueryError)


@FUZZ
@given(json_of({"status": "success", "data": {"version": "3.1.0", "revision": "abc"}}))
def test_prometheus_buildinfo(body: Any) -> None:
    problem = prometheus.buildinfo_problem(body)
    assert problem is None or problem.strip()


# --- the app's /health ---------------------------------------------------------------------

HEALTH = {
    "status": "healthy",
    "version": "1.4.2",
    "components": {
        "database": {"status": "healthy", "latency_ms": 3},
        "redis": {"status": "healthy"},
        "zoho": {"status": "degraded", "error": "timeout"},
    },
}


def _health_of(body: bytes) -> app.HealthAnswer:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    with httpx.Client(transport=transport, base_url="http://app") as client:
        return app.fetch_health(client, "/health")


@FUZZ
@given(
    st.binary(max_size=200)
    | st.text().map(str.encode)
    | json_of(HEALTH).map(lambda v: json.dumps(v).encode())
    | mutated(json.dumps(HEALTH, indent=1)).map(str.encode)
)
@example(b"[" * 100_000)  # RecursionError from json.loads
def test_health(body: bytes) -> None:
    answer = _health_of(body)
    assert (answer.body is None) == (answer.problem is not None)
    for name in ["database", "redis", "zoho", "status", "version", ""]:
        component = answer.component(name)
        assert component is None or isinstance(component, dict)


# --- backups: listings, layout and integrity reports, tar listings, restore errors -----------

LISTING = """\
now\t1764600000
1764468000.1234567890\t734003200\tsergas_prod_20251130_020000.dump
1764554400.0000000000\t734212096\tsergas_prod_20251201_020000.dump
1764554500.5\t1024\tsergas_prod_20251201_020000.sql.gz
1764554600.5\t1024\tnotes.txt
"""
DAILY = backups.daily_name("sergas_prod_")


@FUZZ
@given(text_of(LISTING))
@example("now\tnan\n")  # NaN clock: every age NaN, judged ok
@example("now\t-inf\n")
@example("nan\t1\tsergas_prod_20251201_020000.dump\n")  # a NaN mtime sorts anywhere, its age 0: ok
@example("1e999\t1\tsergas_prod_20251201_020000.dump\n")
def test_backup_listing(output: str) -> None:
    now = backups.host_clock(output)
    judged(now)
    files = backups.parse_listing(output, DAILY)
    assert [(f.mtime, f.name) for f in files] == sorted((f.mtime, f.name) for f in files)
    for file in files:
        judged(file.age(now if now is not None else NOW))
        assert DAILY.match(file.name)


STAMPS = st.datetimes(dt.datetime(1000, 1, 1), dt.datetime(9999, 12, 31)).map(lambda t: t.replace(microsecond=0))


@FUZZ
@given(
    st.lists(
        st.tuples(st.floats(0, 2e9), st.integers(0, 2**63 - 1), STAMPS, st.sampled_from(["dump", "sql.gz", "sql"]))
    )
)
def test_backup_listing_reads_back_what_find_writes(files: list[tuple[float, int, dt.datetime, str]]) -> None:
    lines = [f"{mtime!r}\t{size}\tsergas_prod_{stamp:%Y%m%d_%H%M%S}.{ext}\n" for mtime, size, stamp, ext in files]
    found = backups.parse_listing("now\t1764600000\n" + "".join(lines), DAILY)
    assert sorted((f.mtime, f.size) for f in found) == sorted((m, s) for m, s, _t, _e in files)
    for file in found:
        match = DAILY.match(file.name)
        assert match is not None
        stamp = backups.stamp_time(match["stamp"])
        assert stamp is not None and f"sergas_prod_{stamp:%Y%m%d_%H%M%S}" in file.name


@FUZZ
@given(st.text(max_size=20) | STAMPS.map(lambda t: f"{t:%Y%m%d_%H%M%S}").flatmap(mutated))
def test_backup_stamp(stamp: str) -> None:
    backups.stamp_time(stamp)
    backups.monthly_name("sergas_prod_").match(stamp)


INTEGRITY = """\
size=734003200
outer=1f8b080000
inner=5047444d50
gzip_rc=0
gzip_err=
list_rc=0
entries=40
table_data=5
list_err=pg_restore: error: could not read
read_rc=1
read_err=pg_restore: error: could not find block ID 4711 in archive
pg_restore=missing
sql_complete=1
done=1
"""


@FUZZ
@given(text_of(INTEGRITY) | text_of("size=0\n") | text_of(INTEGRITY.replace("5047444d50", "2d2d205065")))
def test_integrity_report(output: str) -> None:
    found = documented(lambda: backups.parse_integrity(output), ValueError)
    if found is not None:
        assert found.layout and found.format in ("custom", "plain", "unknown", "empty")
    fmt, gzipped = backups.parse_layout(output)
    assert fmt in ("custom", "plain", "unknown") and isinstance(gzipped, bool)


@FUZZ
@given(text_of("etc/nginx/sites-available/sergas\n./etc/systemd/system/sergas-app.service\nhome/sergas/.env\n"))
def test_tar_listing(listing: str) -> None:
    wanted = ["/etc/nginx/sites-available/sergas", "/etc/systemd/system/sergas-app.service", "/home/sergas/.env"]
    assert set(backups.missing_members(listing, wanted)) <= set(wanted)


@FUZZ
@given(text_of("pg_restore: connecting to database\npg_restore: error: could not execute query: ERROR: x\n"))
def test_restore_error(stderr: str) -> None:
    assert len(drill.first_error(stderr)) <= 300


# --- Alertmanager ----------------------------------------------------------------------------

ALERTS = [
    {
        "labels": {"alertname": "HighErrorRate", "severity": "critical", "instance": "app1"},
        "annotations": {"summary": "5xx above 5%"},
        "startsAt": "2025-12-01T14:20:00.123Z",
        "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
    },
    {
        "labels": {"alertname": "DiskFull", "source": "sergas-checks"},
        "startsAt": "2025-12-01T10:00:00+01:00",
        "status": {"state": "suppressed", "silencedBy": ["4f2e"], "inhibitedBy": []},
    },
]
ALERTS_CAUGHT = (ValueError, AttributeError)  # what fixtures/alertmanager.py turns into unknown


@FUZZ
@given(json_of(ALERTS))
@example([{"status": {"silencedBy": 1}}])  # was TypeError: list(1)
@example([{"status": {"inhibitedBy": 1}}])  # was TypeError: list(1)
@example([{"startsAt": "2025-12-01T14:20:00"}])  # was TypeError in describe(): naive - aware
@example([{"startsAt": "0001-01-01T00:00:00+14:00"}])  # was OverflowError in describe(): before year 1 in UTC
def test_alerts(body: Any) -> None:
    now = dt.datetime(2025, 12, 1, 14, 40, tzinfo=dt.UTC)
    for alert in documented(lambda: alertmanager.parse_alerts(body), *ALERTS_CAUGHT) or []:
        assert isinstance(alert.describe(now), str) and isinstance(alert.firing, bool)
        alertmanager.silence_for(alert, now=now)


@FUZZ
@given(json_of({"versionInfo": {"version": "0.28.0"}, "cluster": {"status": "ready"}}))
def test_alertmanager_status(body: Any) -> None:
    problem = alertmanager.status_problem(body)
    assert problem is None or problem.strip()


# --- the environment file ------------------------------------------------------------------


def _key_names(model: type[Any]) -> set[str]:
    names = set(model.model_fields)
    for field in model.model_fields.values():
        for kind in (field.annotation, *getattr(field.annotation, "__args__", ())):
            if isinstance(kind, type) and hasattr(kind, "model_fields"):
                names |= _key_names(kind)
    return names


TOML_SCALARS = (
    st.text(max_size=20)
    | st.sampled_from(["5m", "512MB", "80%", "30d", "${X}", "${SANDBOX_PASSWORD}", "s3://b/p", "1h30m", "-1"])
    | st.integers(-(2**63), 2**63 - 1)
    | st.sampled_from([10**400, -(10**4299)])  # tomllib reads integers up to 4300 digits
    | st.floats()
    | st.booleans()
    | st.dates()
    | st.datetimes(timezones=st.sampled_from([None, dt.UTC, dt.timezone(dt.timedelta(hours=-5, minutes=-30))]))
    | st.times()
)
TOML_KEYS = st.sampled_from(sorted(_key_names(Environment))) | st.text(max_size=10)
TOML = st.recursive(
    TOML_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TOML_KEYS, inner, max_size=5),
    max_leaves=15,
)
EXAMPLE_TEXT = (Path(__file__).parents[2] / "environments" / "example-production.toml").read_text()
EXAMPLE_FILE = tomllib.loads(EXAMPLE_TEXT)


def _parse(raw: dict[str, Any]) -> None:
    documented(lambda: parse(raw, Path("f.toml"), Secrets(), environ={"X": "1"}), ConfigError)


@FUZZ
@given(st.dictionaries(TOML_KEYS, TOML, max_size=6))
@example({"name": "t", "backups": {"local_retention": 10**400}})  # OverflowError formatting the example
def test_environment_document(raw: dict[str, Any]) -> None:
    _parse(raw)


@FUZZ
@given(mutated_json(EXAMPLE_FILE, TOML, TOML_KEYS).filter(lambda doc: isinstance(doc, dict)))
def test_environment_file_mutated(raw: dict[str, Any]) -> None:
    _parse(raw)


@FUZZ
@given(st.binary(max_size=300) | st.text().map(str.encode) | mutated(EXAMPLE_TEXT).map(str.encode))
@example(b"\xff")  # UnicodeDecodeError, not a TOMLDecodeError
@example(b"a = " + b"9" * 5000)  # ValueError: more digits than int() converts
@example(b"a = " + b"[" * 5000)  # RecursionError
def test_environment_file_text(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "f.toml")
        path.write_bytes(content)
        documented(lambda: read_toml(path), ConfigError)
