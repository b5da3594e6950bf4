"""sergas.exposition: the Prometheus series of a run, read back with prometheus-client's parser."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sergas.exposition import registry_of
from sergas.record import RunSummary
from sergas.status import Status
from sergas.units import Unit
from tests.unit.builders import T0, TARGET, measurement, one_per_status, record, summary

Samples = dict[str, list[tuple[dict[str, str], float]]]


def samples_of(run: RunSummary) -> Samples:
    """Family name -> (labels, value) of every sample, as a scrape reads the text."""
    text = generate_latest(registry_of(run)).decode()
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family
        found[family.name] = [(s.labels, s.value) for s in family.samples]
    return found


def test_status_is_the_nagios_code_and_skipped_is_not_exported() -> None:
    found = samples_of(summary(one_per_status()))
    codes = {labels["target"].rsplit("/", 1)[1]: value for labels, value in found["sergas_check_status"]}
    assert codes == {"sergas": 0, "waived": 0, "warning": 1, "critical": 2, "unknown": 3}
    assert {tuple(sorted(labels)) for labels, _ in found["sergas_check_status"]} == {("check", "env", "target")}
    assert all(labels["env"] == "prod" for labels, _ in found["sergas_check_status"])
    assert len(found["sergas_check_duration_seconds"]) == 5
    assert {value for _, value in found["sergas_check_duration_seconds"]} == {0.25}


def test_values_have_one_fixed_label_set_and_no_context() -> None:
    measurements = [
        measurement("used", 92.0, Unit.PERCENT, context={"pid": 4711}),
        measurement("blocks", 81.5, Unit.PERCENT, labels={"mount": "/var", "dev": "sda1"}),
        measurement("rss", 2.5 * 2**30, Unit.BYTES, labels={"instance": "10.0.0.1:8000"}),
        measurement("total", 200.0, Unit.COUNT),
        measurement("missing", None, Unit.SECONDS),
    ]
    found = samples_of(summary([record(Status.CRITICAL, measurements=measurements)]))
    values = {labels["measurement"]: (labels, value) for labels, value in found["sergas_check_value"]}
    assert set(values) == {"used", "blocks", "rss", "total"}, "no data exports no sample"
    for labels, _ in values.values():
        assert set(labels) == {"env", "check", "target", "measurement", "unit", "object"}
        assert labels["check"] == "postgres.connections" and labels["target"] == TARGET
    assert values["used"] == ({**values["used"][0], "unit": "%", "object": ""}, 92.0)
    assert values["blocks"][0]["object"] == "dev=sda1,mount=/var"
    assert values["rss"][0]["object"] == "instance=10.0.0.1:8000" and values["rss"][0]["unit"] == "bytes"
    assert values["rss"][1] == 2.5 * 2**30
    assert values["total"][0]["unit"] == ""
    assert "4711" not in generate_latest(registry_of(summary([record(measurements=measurements)]))).decode()


def test_run_series() -> None:
    found = samples_of(summary(one_per_status()))
    [(labels, stamp)] = found["sergas_run_timestamp_seconds"]
    assert labels == {"env": "prod"} and stamp == T0.timestamp() + 12.5
    counts = {labels["status"]: value for labels, value in found["sergas_run_checks"]}
    assert counts == {s.value: 1.0 for s in Status}, "every status, skipped included"
    assert {labels["env"] for labels, _ in found["sergas_run_checks"]} == {"prod"}


def test_a_record_key_given_twice_keeps_the_worst() -> None:
    """Prometheus refuses a series given twice: one series per (check, target)."""
    twice = [record(Status.CRITICAL), record(Status.OK)]
    found = samples_of(summary(twice))
    assert [value for _, value in found["sergas_check_status"]] == [2.0]
    assert len(found["sergas_check_value"]) == 1


def test_empty_run() -> None:
    found = samples_of(summary([]))
    assert found["sergas_check_status"] == [] and found["sergas_check_value"] == []
    assert sum(value for _, value in found["sergas_run_checks"]) == 0
