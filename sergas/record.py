"""The check record: what one check found on one target, made once when the check ends.

It is the contract every output reads. Its JSON is a row of `summary.json`, whose shape is
`RunSummary` (JSON Schema: `sergas/schema/summary.schema.json`, generated from these models and
kept in step by a test). History, trends, Prometheus series and Nagios perfdata key on
(environment, check id, target, measurement name, measurement labels); a measurement's `name`
is the key of its threshold override (`used` in `postgres.connections.used`), never a label.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sergas.status import Status
from sergas.units import Unit

# 2: measurements gained `label`, `labels` and `context`, `name` became the threshold key,
#    units became canonical (`bytes`, `/s`); records gained `section`, `evidence`.
# 3: the run gained `interrupted` and `not_run` (a version 2 summary still reads: they default).
SCHEMA_VERSION: Literal[4] = 4
MEASUREMENT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
SECTIONS = ("daily", "weekly", "monthly")
LabelValue = str | int | float


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Measurement(Model):
    """One value a check measured, and what it was held against."""

    name: Annotated[str, Field(pattern=MEASUREMENT_NAME.pattern)] = Field(
        description="stable; the key of its threshold override: <check id>.<name>"
    )
    label: str = Field(description="what a person reads: 'longest statement', '/ used'")
    value: float | None = Field(description="null: no data")
    unit: Unit = Field(description="'' count or ratio, '%', 's', 'bytes', '/s'")
    warning: float | None = None
    critical: float | None = None
    below: bool = Field(False, description="the thresholds fire when the value falls to them")
    status: Status = Status.OK
    labels: dict[str, LabelValue] = Field(
        default_factory=dict,
        description="which object of the target it is about, stable from run to run: {'mount': '/'}",
    )
    context: dict[str, LabelValue] = Field(
        default_factory=dict,
        description="what the value came from this time, not part of any key: {'pid': 4711, 'role': 'app'}",
    )


class ActionRecord(Model):
    """One remediation offered by a check: planned, refused, applied or failed (actions.jsonl)."""

    time: str
    environment: str
    check: str
    target: str
    action: str
    risk: str
    decision: str
    plan: list[str]
    steps: list[str]
    result: str
    duration_s: float


class Evidence(Model):
    title: str
    content: str


class Before(Model):
    """Status and message before a remediation applied and the check measured again."""

    status: Status
    message: str


class Attempt(Model):
    """One run of a check under `--retry-timeout`: when (seconds after the first) and its status."""

    after_s: float
    status: Status
    message: str


class Retries(Model):
    """A check run again until ok or out of time (`--retry-timeout`, a rollout gate)."""

    attempts: list[Attempt]
    healthy_after_s: float | None = Field(
        None, description="seconds from the first attempt to the first ok one; null when it never was"
    )
    flapping: bool = Field(False, description="ok on one attempt, not ok again on the one confirming it")


class CheckRecord(Model):
    """What one check found on one target."""

    id: str
    title: str
    section: str = Field(description="the manual's section: daily, weekly, monthly, or '' ")
    markers: list[str]
    nodeid: str
    target: str
    status: Status
    message: str
    duration_s: float = 0.0
    measurements: list[Measurement] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    remediation: list[ActionRecord] = Field(default_factory=list)
    before: Before | None = None
    left_after_remediation: list[str] = Field(default_factory=list)
    retries: Retries | None = Field(None, description="the attempts, when the check was run again (schema 4)")

    def with_duration(self, seconds: float) -> CheckRecord:
        return self.model_copy(update={"duration_s": round(seconds, 3)})


def section_of(markers: list[str] | set[str]) -> str:
    """The first manual section among a check's markers ('' when it has none)."""
    return next((s for s in SECTIONS if s in markers), "")


class RunSummary(Model):
    """`summary.json`: one run of one environment."""

    schema_version: Literal[2, 3, 4] = Field(
        SCHEMA_VERSION,
        description="4 is written; 3 (without retries) and 2 (without interrupted, not_run) are read",
    )
    run_id: str
    environment: str
    started: dt.datetime
    finished: dt.datetime
    exit_status: int
    interrupted: bool = Field(False, description="SIGINT or SIGTERM ended the run before every check ran")
    not_run: list[str] = Field(default_factory=list, description="node ids of selected checks that did not run")
    counts: dict[Status, int]
    checks: list[CheckRecord]

    @classmethod
    def of(
        cls,
        *,
        run_id: str,
        environment: str,
        started: dt.datetime,
        finished: dt.datetime,
        exit_status: int,
        checks: list[CheckRecord],
        interrupted: bool = False,
        not_run: list[str] | None = None,
    ) -> RunSummary:
        return cls(
            run_id=run_id,
            environment=environment,
            started=started,
            finished=finished,
            exit_status=exit_status,
            interrupted=interrupted,
            not_run=sorted(not_run or []),
            counts=status_counts(checks),
            checks=sorted(checks, key=lambda r: r.nodeid),
        )

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


def status_counts(records: Iterable[CheckRecord]) -> dict[Status, int]:
    """How many records end in each status (every status present, zero or not)."""
    counts = dict.fromkeys(Status, 0)
    for record in records:
        counts[record.status] += 1
    return counts


def summary_schema() -> dict[str, Any]:
    """The JSON Schema of `summary.json` (what `sergas/schema/summary.schema.json` holds)."""
    schema = RunSummary.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://sergas.invalid/schema/summary-v{SCHEMA_VERSION}.json"
    return schema


SCHEMA_FILE = Path(__file__).resolve().parent / "schema" / "summary.schema.json"


if __name__ == "__main__":  # python -m sergas.record: write the schema file after changing the record
    SCHEMA_FILE.write_text(json.dumps(summary_schema(), indent=2, sort_keys=True) + "\n")
