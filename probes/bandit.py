"""bandit over the app's source, on the app host: `bandit -r <source> -f json -q`.

bandit exits 1 when it finds issues (not an error), and 0 with an entry in `errors` for a path
that does not exist: whether it scanned anything is `metrics._totals.loc`. Each of `results[]`
has `test_id`, `test_name`, `issue_severity`, `issue_confidence` (LOW/MEDIUM/HIGH, or UNDEFINED),
`filename`, `line_number` and `issue_text`.

Graded as the security scan step reads: high severity with high confidence is `high`; medium or
high severity with at least medium confidence (and not `high`) is `medium`; the rest (low
severity, or low confidence) is `low`, counted but not judged.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from dataclasses import dataclass
from typing import Any

LEVELS = {"UNDEFINED": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3}
NOT_FOUND = 127  # the shell's exit status for a command it cannot find


def bandit_command(bandit: str, source: str) -> str:
    return f"{shlex.quote(bandit)} -r {shlex.quote(source)} -f json -q"


@dataclass(frozen=True)
class Finding:
    test_id: str
    test_name: str
    severity: str
    confidence: str
    filename: str
    line: int
    text: str

    @property
    def grade(self) -> str:
        """`high`, `medium` or `low` (see the module's docstring)."""
        severity, confidence = LEVELS[self.severity], LEVELS[self.confidence]
        if severity == confidence == LEVELS["HIGH"]:
            return "high"
        if severity >= LEVELS["MEDIUM"] and confidence >= LEVELS["MEDIUM"]:
            return "medium"
        return "low"

    def describe(self) -> str:
        """`app/maintenance.py:8 B602 subprocess_popen_with_shell_equals_true (HIGH/HIGH)`."""
        return f"{self.filename}:{self.line} {self.test_id} {self.test_name} ({self.severity}/{self.confidence})"


@dataclass(frozen=True)
class Scan:
    findings: tuple[Finding, ...]
    errors: tuple[tuple[str, str], ...]  # (filename, reason): what bandit could not scan
    lines: int  # lines of code scanned

    def graded(self, grade: str) -> list[Finding]:
        return [f for f in self.findings if f.grade == grade]

    def evidence(self) -> str:
        """Counts by test id, each high and medium finding's file:line, what was not scanned."""
        counts = Counter((f.test_id, f.test_name, f.grade) for f in self.findings)
        rows = [f"{n:>4} {test_id} {name} ({grade})" for (test_id, name, grade), n in sorted(counts.items())]
        rows += [f"{f.grade}: {f.describe()}: {f.text}" for f in self.findings if f.grade != "low"]
        rows += [f"not scanned: {filename}: {reason}" for filename, reason in self.errors]
        return "\n".join([f"{self.lines} lines of code scanned", *rows])


def _finding(item: Any) -> Finding:
    if not isinstance(item, dict):
        raise ValueError("a bandit result is not an object")
    try:
        finding = Finding(
            str(item["test_id"]),
            str(item.get("test_name", "")),
            str(item["issue_severity"]).upper(),
            str(item["issue_confidence"]).upper(),
            str(item["filename"]),
            int(item["line_number"]),
            " ".join(str(item.get("issue_text", "")).split()),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"a bandit result lacks {exc}") from None
    if finding.severity not in LEVELS or finding.confidence not in LEVELS:
        raise ValueError(f"unknown severity or confidence {finding.severity}/{finding.confidence}")
    return finding


def parse_scan(text: str) -> Scan:
    """bandit's `-f json` report; raises ValueError (one line) when it is not one."""
    try:
        report = json.loads(text)
    except ValueError:
        raise ValueError("bandit's output is not JSON") from None
    if not isinstance(report, dict) or not isinstance(report.get("results"), list):
        raise ValueError("bandit's JSON has no results list")
    totals = report.get("metrics", {}).get("_totals", {}) if isinstance(report.get("metrics"), dict) else {}
    lines = totals.get("loc") if isinstance(totals, dict) else None
    if not isinstance(lines, int):
        raise ValueError("bandit's JSON has no metrics._totals.loc")
    errors = tuple(
        (str(e.get("filename", "?")), str(e.get("reason", "?")))
        for e in report.get("errors", [])
        if isinstance(e, dict)
    )
    return Scan(tuple(_finding(item) for item in report["results"]), errors, lines)
