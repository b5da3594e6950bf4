"""The Prometheus series of one finished run, as a prometheus-client registry (no I/O here).

Every series is a gauge of this run, replaced as a whole by the next run (a textfile rewritten,
a Pushgateway group PUT again), never a counter:

- `sergas_check_status{env,check,target}`: the Nagios code of the check's status, 0 ok,
  1 warning, 2 critical, 3 unknown; waived is 0 (an accepted exception). A skipped check
  exports no series at all (not part of the environment: no 0 that would read as ok).
- `sergas_check_value{env,check,target,measurement,unit,object}`: each measured value.
  `measurement` is its stable name (the threshold key: `used` in `postgres.connections.used`),
  `unit` its canonical unit (`""` a count or ratio, `%`, `s`, `bytes`, `/s`). One fixed label
  set: a measurement's own labels (which object of the target) are flattened into `object`,
  `mount=/` or `kind=index,relation=x` (sorted by key), `""` for the target as a whole; they
  never become Prometheus labels of their own (`instance` would clash with Prometheus's).
  Its `context` (pids, file names: what changes from run to run) is never exported. A value
  with no data exports no sample.
- `sergas_check_duration_seconds{env,check,target}`: how long the check took.
- `sergas_run_timestamp_seconds{env}`: when the run finished (Unix time): a run that stops
  happening shows as `time() - sergas_run_timestamp_seconds` growing.
- `sergas_run_checks{env,status}`: records of the run per status, every status, zero or not.

(check, target) is a record's key. Should two records share one, the series are written best
status first, so the worst status is the one kept: Prometheus refuses a series given twice.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from sergas.record import RunSummary
from sergas.status import OUTCOMES, Status

CHECK_LABELS = ("env", "check", "target")


def registry_of(summary: RunSummary) -> CollectorRegistry:
    """A new registry holding the series of `summary` (and nothing else)."""
    registry = CollectorRegistry()

    def gauge(name: str, documentation: str, *labels: str) -> Gauge:
        return Gauge(name, documentation, labels, registry=registry)

    status = gauge(
        "sergas_check_status",
        "Status of the check on the target: 0 ok or waived, 1 warning, 2 critical, 3 unknown",
        *CHECK_LABELS,
    )
    value = gauge(
        "sergas_check_value",
        "A value the check measured, in its unit; object: which object of the target",
        *CHECK_LABELS,
        "measurement",
        "unit",
        "object",
    )
    duration = gauge("sergas_check_duration_seconds", "How long the check took", *CHECK_LABELS)
    env = summary.environment
    for record in sorted(summary.checks, key=lambda r: r.status.rank):
        if record.status is Status.SKIPPED:
            continue
        keys = (env, record.id, record.target)
        status.labels(*keys).set(OUTCOMES[record.status].nagios)
        duration.labels(*keys).set(record.duration_s)
        for measurement in record.measurements:
            if measurement.value is not None:
                obj = ",".join(f"{k}={v}" for k, v in sorted(measurement.labels.items()))
                value.labels(*keys, measurement.name, measurement.unit.value, obj).set(measurement.value)
    gauge("sergas_run_timestamp_seconds", "When the run finished (Unix time)", "env").labels(env).set(
        summary.finished.timestamp()
    )
    checks = gauge("sergas_run_checks", "Checks of the run by status", "env", "status")
    for state, count in summary.counts.items():
        checks.labels(env, state.value).set(count)
    return registry
