"""Nagios / Icinga plugin mode: the one line a run prints and the code it exits with (no I/O).

    SERGAS CRITICAL - 1 critical, 1 ok: app.zoho_connectivity 127.0.0.1:21283: Zoho CRM is unhealthy: connection
    refused | 'postgres.connections.total'=1 ... 'postgres.connections.used'=5.882353%;80;90    (one line)

The code is the worst status's (`sergas.status.OUTCOMES`): 2 when anything is critical, else
3 when anything is unknown, else 1 for a warning, else 0 (ok, waived). A run that evaluated
nothing (no check selected, every one skipped) or that pytest could not finish (interrupted,
internal or usage error) is unknown too: a service check that checked nothing is not ok.

The text counts the statuses, worst first, then names the checks that are not ok, worst first,
each as `<check id> <its message>` (the message begins with the target; at most
`MAX_PROBLEMS`, each cut to `MAX_MESSAGE` characters). After `|` come the perfdata of every
measurement, in the plugin guidelines' format `'label'=value[UOM];[warn];[crit]`:
label `<check id>.<name>`, plus `[<target>,<key>:<value>...]` where needed to tell values
apart (the target when the run checked several of that check; the measurement's labels, with
`:` as `=` is not allowed in a label); UOM `%`, `s`, `B` for bytes, none for counts and rates;
a threshold that fires from below is the range `t:`; no data is `U`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sergas.record import CheckRecord, Measurement, status_counts
from sergas.status import OUTCOMES, Status
from sergas.units import Unit

WORDS = ("OK", "WARNING", "CRITICAL", "UNKNOWN")  # by Nagios code
PROBLEMS = (Status.CRITICAL, Status.UNKNOWN, Status.WARNING)
COMPLETE_RUN = (0, 1, 5)  # pytest: all passed, some failed, none collected
MAX_PROBLEMS = 5
MAX_MESSAGE = 120
UOM = {Unit.COUNT: "", Unit.PERCENT: "%", Unit.SECONDS: "s", Unit.BYTES: "B", Unit.PER_SECOND: ""}


@dataclass(frozen=True)
class PluginResult:
    code: int
    line: str


def plugin_result(checks: Iterable[CheckRecord], run_status: int = 0) -> PluginResult:
    """The result of a run whose records are `checks` and whose pytest exit status is `run_status`."""
    records = sorted(checks, key=lambda r: (-r.status.rank, r.id, r.target, r.nodeid))
    statuses = [r.status for r in records]
    notes = []
    if run_status not in COMPLETE_RUN:
        notes.append(f"run incomplete (pytest exit status {run_status})")
    if records and set(statuses) == {Status.SKIPPED}:
        notes.append("no check evaluated")
    if notes or not records:
        statuses.append(Status.UNKNOWN)
    code = OUTCOMES[Status.worst(statuses)].nagios
    counts = status_counts(records)
    summary = ", ".join(f"{counts[s]} {s.value}" for s in sorted(Status, key=lambda s: -s.rank) if counts[s])
    problems = [_problem(r) for r in records if r.status in PROBLEMS]
    if len(problems) > MAX_PROBLEMS:
        problems[MAX_PROBLEMS:] = [f"and {len(problems) - MAX_PROBLEMS} more"]
    text = "; ".join(notes + problems)
    line = f"SERGAS {WORDS[code]} - {summary or 'no check ran'}" + (f": {text}" if text else "")
    perfdata = perfdata_of(records)
    return PluginResult(code, f"{line} | {perfdata}" if perfdata else line)


def _problem(record: CheckRecord) -> str:
    message = record.message if record.message.startswith(record.target) else f"{record.target}: {record.message}"
    message = _one_line(message)
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3].rstrip() + "..."
    return f"{record.id} {message}"


def _one_line(text: str) -> str:
    """`text` on one line, without the `|` that would start the perfdata."""
    return " ".join(text.split()).replace("|", "/")


def perfdata_of(records: Iterable[CheckRecord]) -> str:
    """Every measurement's perfdata, space-separated, in the order of `records` (a label given
    twice keeps the first)."""
    records = list(records)
    targets: dict[str, set[str]] = defaultdict(set)
    for record in records:
        targets[record.id].add(record.target)
    items: dict[str, str] = {}
    for record in records:
        several = len(targets[record.id]) > 1
        for measurement in record.measurements:
            label = perf_label(record, measurement, with_target=several)
            items.setdefault(label, f"'{label}'={_perf_value(measurement)}")
    return " ".join(items.values())


def perf_label(record: CheckRecord, measurement: Measurement, *, with_target: bool = False) -> str:
    """`postgres.connections.used`, `host.disk_space.blocks[mount:/]`, `x.y.z[db1:5432/sergas]`
    (single quotes doubled, as the guidelines escape them)."""
    parts = [record.target] if with_target else []
    parts += [f"{k}:{v}" for k, v in sorted(measurement.labels.items())]
    label = f"{record.id}.{measurement.name}" + (f"[{','.join(parts)}]" if parts else "")
    return _one_line(label).replace("=", ":").replace("'", "''")


def _perf_value(measurement: Measurement) -> str:
    value = measurement.value
    if value is None or not math.isfinite(value):
        return "U"
    fields = [_number(value) + UOM[measurement.unit]]
    for threshold in (measurement.warning, measurement.critical):
        if threshold is None or not math.isfinite(threshold):
            fields.append("")
        else:
            fields.append(_number(threshold) + (":" if measurement.below else ""))
    return ";".join(fields).rstrip(";")


def _number(value: float) -> str:
    """A decimal number without an exponent (the guidelines' value class [-0-9.])."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
