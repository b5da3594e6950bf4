"""silences_muting: which active silences mute an alert (what silence_alert re-reads before acting)."""

from __future__ import annotations

from typing import Any

import pytest

from probes.alertmanager import silences_muting

LABELS = {"alertname": "DiskFull", "instance": "db1", "severity": "critical"}


def silence(state: str, *matchers: tuple[str, str, bool, bool]) -> dict[str, Any]:
    return {
        "id": f"{state}-{len(matchers)}",
        "status": {"state": state},
        "matchers": [{"name": n, "value": v, "isRegex": r, "isEqual": e} for n, v, r, e in matchers],
    }


def test_only_active_silences_whose_every_matcher_matches() -> None:
    body = [
        silence("active", ("alertname", "DiskFull", False, True), ("instance", "db.*", True, True)),
        silence("expired", ("alertname", "DiskFull", False, True)),
        silence(
            "active", ("alertname", "DiskFull", False, True), ("instance", "db2", False, True), ("x", "", False, True)
        ),
        silence("active", ("instance", "db1", False, False)),
        silence("active", ("team", "", False, True), ("severity", "crit(", True, True)),  # bad regex: no match
    ]
    assert silences_muting(body, LABELS) == ["active-2"]


def test_not_a_list_is_refused() -> None:
    with pytest.raises(ValueError, match="expected a JSON list of silences"):
        silences_muting({"silences": []}, LABELS)
