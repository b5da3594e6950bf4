"""sergas.record: the check record and summary.json, and its JSON Schema."""

from __future__ import annotations

import json

import jsonschema
import pytest
from pydantic import ValidationError

from sergas.record import (
    MEASUREMENT_NAME,
    SCHEMA_FILE,
    SCHEMA_VERSION,
    CheckRecord,
    RunSummary,
    section_of,
    summary_schema,
)
from sergas.status import Status
from tests.unit.builders import measurement, one_per_status, record, summary


@pytest.mark.parametrize("name", ["used", "blocks_used", "p95", "a"])
def test_measurement_names_that_are_keys(name: str) -> None:
    assert measurement(name).name == name
    assert MEASUREMENT_NAME.match(name)


@pytest.mark.parametrize("name", ["connections in use", "Used", "used-pct", "9lives", "_used", "", "used.max"])
def test_measurement_name_must_be_a_key(name: str) -> None:
    with pytest.raises(ValidationError, match="String should match pattern"):
        measurement(name)


def test_models_refuse_unknown_fields_and_are_frozen() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        measurement(threshold=3)
    m = measurement()
    with pytest.raises(ValidationError, match="frozen"):
        m.value = 1.0  # type: ignore[misc]  # frozen: the assignment is what is tested


def test_measurement_defaults() -> None:
    m = measurement()
    assert (m.warning, m.critical, m.below, m.status, m.labels, m.context) == (None, None, False, Status.OK, {}, {})


def test_with_duration_rounds_and_copies() -> None:
    original = record()
    timed = original.with_duration(1.23456)
    assert timed.duration_s == 1.235
    assert original.duration_s == 0.25
    assert timed.model_copy(update={"duration_s": 0.25}) == original


@pytest.mark.parametrize(
    ("markers", "section"),
    [(["postgres", "weekly"], "weekly"), (["monthly", "daily"], "daily"), ({"gate", "redis"}, ""), ([], "")],
)
def test_section_of(markers: list[str] | set[str], section: str) -> None:
    assert section_of(markers) == section


def test_summary_counts_every_status_and_orders_by_nodeid() -> None:
    checks = [*one_per_status(), record(Status.CRITICAL, target="db2:5432/sergas")]
    run = summary(list(reversed(checks)))
    assert run.counts == {
        Status.OK: 1,
        Status.SKIPPED: 1,
        Status.WAIVED: 1,
        Status.WARNING: 1,
        Status.UNKNOWN: 1,
        Status.CRITICAL: 2,
    }
    assert [c.nodeid for c in run.checks] == sorted(c.nodeid for c in checks)
    assert run.schema_version == SCHEMA_VERSION == 4
    assert not run.interrupted and run.not_run == []


def test_empty_summary_counts_zero() -> None:
    assert summary([]).counts == dict.fromkeys(Status, 0)


def test_summary_json_round_trips() -> None:
    run = summary(one_per_status())
    data = json.loads(run.to_json())
    assert data["schema_version"] == 4
    assert data["counts"] == {"ok": 1, "skipped": 1, "waived": 1, "warning": 1, "unknown": 1, "critical": 1}
    assert data["started"] == "2024-05-01T06:00:00Z"
    assert RunSummary.model_validate(data) == run
    assert run.to_json().endswith("}\n")


def test_summary_json_validates_against_the_schema_file() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    labelled = record(measurements=[measurement("blocks", 3.0, labels={"mount": "/"}, context={"pid": 4711})])
    data = json.loads(summary([*one_per_status(), labelled]).to_json())
    assert list(validator.iter_errors(data)) == []
    data["checks"][0]["status"] = "fine"
    assert not validator.is_valid(data)


def test_schema_file_is_current() -> None:
    """If this fails, regenerate the file: python -m sergas.record"""
    assert json.loads(SCHEMA_FILE.read_text()) == summary_schema(), "schema file is stale: run python -m sergas.record"


def test_schema_names_its_version() -> None:
    schema = summary_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://sergas.invalid/schema/summary-v4.json"
    assert schema["properties"]["schema_version"]["enum"] == [2, 3, 4]


def test_a_version_2_summary_still_reads() -> None:
    """Archives written before `interrupted` and `not_run` keep their history."""
    data = json.loads(summary(one_per_status()).to_json())
    data["schema_version"] = 2
    del data["interrupted"], data["not_run"]
    old = RunSummary.model_validate(data)
    assert old.schema_version == 2 and not old.interrupted and old.not_run == []


def test_a_version_3_summary_still_reads() -> None:
    """Archives written before `retries` keep their history: the field defaults to none."""
    data = json.loads(summary(one_per_status()).to_json())
    data["schema_version"] = 3
    for check in data["checks"]:
        del check["retries"]
    old = RunSummary.model_validate(data)
    assert old.schema_version == 3 and all(c.retries is None for c in old.checks)


def test_summary_refuses_another_schema_version() -> None:
    data = json.loads(summary([]).to_json())
    data["schema_version"] = 1
    with pytest.raises(ValidationError, match="schema_version"):
        RunSummary.model_validate(data)


def test_record_requires_a_known_status() -> None:
    data = record().model_dump()
    data["status"] = "fine"
    with pytest.raises(ValidationError, match="status"):
        CheckRecord.model_validate(data)
