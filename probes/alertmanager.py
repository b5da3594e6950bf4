"""What the alert checks read: Alertmanager's v2 alerts, and how an alert is acknowledged.

`GET /api/v2/alerts?active=true&silenced=false&inhibited=false` lists what fires and nobody
acknowledged. Severity is only a label convention (`severity="critical"`); `Alert.own` tells
the suite's own alerts (sergas/notify.py) from the site's. Acknowledging is a
silence (`POST /api/v2/silences`); POSTing to /api/v2/alerts, as the manual's snippet does,
*creates* (or re-fires) an alert instead.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from sergas.notify import SOURCE, SOURCE_LABEL
from sergas.units import format_duration

# Every active alert, silenced and inhibited ones included: Alert.firing tells them apart.
ACTIVE = {"active": "true", "silenced": "true", "inhibited": "true"}
# Labels that say where an alert comes from, not which problem it is: not used to match a silence.
_NOT_MATCHED = {"severity"}


@dataclass(frozen=True)
class Alert:
    labels: dict[str, str]
    starts_at: str
    state: str  # active | suppressed | unprocessed
    silenced_by: list[str] = field(default_factory=list)
    inhibited_by: list[str] = field(default_factory=list)
    summary: str = ""

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "?")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "").lower()

    @property
    def own(self) -> bool:
        """Posted by this suite for one of its own checks (`--notify-alertmanager`: the
        `source="sergas-checks"` label), not by the site's Prometheus rules."""
        return self.labels.get(SOURCE_LABEL) == SOURCE

    @property
    def firing(self) -> bool:
        """Active and neither silenced nor inhibited (what needs someone now)."""
        return self.state != "suppressed" and not self.silenced_by and not self.inhibited_by

    def started(self) -> dt.datetime | None:
        """When it started, in UTC; None when `startsAt` is no time with a zone (or out of range)."""
        try:
            started = dt.datetime.fromisoformat(self.starts_at.replace("Z", "+00:00"))
            return started.astimezone(dt.UTC) if started.tzinfo is not None else None
        except (ValueError, OverflowError):  # OverflowError: before year 1 or after 9999 in UTC
            return None

    def describe(self, now: dt.datetime) -> str:
        """`HighErrorRate{instance="app1"} since 2026-12-01 19:40Z (12m)`."""
        others = {k: v for k, v in sorted(self.labels.items()) if k not in ("alertname", "severity")}
        labels = "{" + ", ".join(f'{k}="{v}"' for k, v in others.items()) + "}" if others else ""
        started = self.started()
        if started is None:
            return f"{self.name}{labels} since {self.starts_at or '?'}"
        age = format_duration((now - started).total_seconds())
        return f"{self.name}{labels} since {started:%Y-%m-%d %H:%M:%S}Z ({age})"


def parse_alerts(body: Any) -> list[Alert]:
    """The alerts of a /api/v2/alerts answer; ValueError when it is not a list of alerts."""
    if not isinstance(body, list):
        raise ValueError(f"expected a JSON list of alerts, got {type(body).__name__}")
    alerts = []
    for item in body:
        status = item.get("status") or {}
        alerts.append(
            Alert(
                labels={str(k): str(v) for k, v in (item.get("labels") or {}).items()},
                starts_at=str(item.get("startsAt", "")),
                state=str(status.get("state", "")),
                silenced_by=_ids(status, "silencedBy"),
                inhibited_by=_ids(status, "inhibitedBy"),
                summary=str((item.get("annotations") or {}).get("summary", "")),
            )
        )
    return alerts


def _ids(status: dict[str, Any], key: str) -> list[str]:
    """The silences or inhibiting alerts of `status`; ValueError when they are not a list."""
    ids = status.get(key)
    if ids is None:
        return []
    if not isinstance(ids, list):
        raise ValueError(f"{key} is a JSON {type(ids).__name__}, not a list")
    return ids


def silence_for(
    alert: Alert,
    *,
    now: dt.datetime,
    seconds: float = 2 * 3600,
    created_by: str = "on-call",
    comment: str = "acknowledged: <ticket or reason>",
    exact: bool = False,
) -> dict[str, Any]:
    """The body of `POST /api/v2/silences` that acknowledges `alert` for `seconds`: matching every
    label but the severity, or, `exact`, every label (that alert and no other)."""
    matchers = [
        {"name": k, "value": v, "isRegex": False, "isEqual": True}
        for k, v in sorted(alert.labels.items())
        if exact or k not in _NOT_MATCHED
    ]
    return {
        "matchers": matchers,
        "startsAt": _utc(now),
        "endsAt": _utc(now + dt.timedelta(seconds=seconds)),
        "createdBy": created_by,
        "comment": comment,
    }


def silences_muting(body: Any, labels: dict[str, str]) -> list[str]:
    """The ids of the active silences in a `GET /api/v2/silences` answer that mute an alert with
    `labels` (every matcher matches; a missing label is ""); ValueError on an unusable answer."""
    if not isinstance(body, list):
        raise ValueError(f"expected a JSON list of silences, got {type(body).__name__}")
    return [
        str(silence.get("id"))
        for silence in body
        if (silence.get("status") or {}).get("state") == "active"
        and all(_matches(m, labels) for m in silence.get("matchers") or [])
    ]


def _matches(matcher: dict[str, Any], labels: dict[str, str]) -> bool:
    value, written = labels.get(str(matcher.get("name")), ""), str(matcher.get("value", ""))
    try:
        found = re.fullmatch(written, value) is not None if matcher.get("isRegex") else value == written
    except re.error:
        return False
    return bool(found == matcher.get("isEqual", True))


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


ACKNOWLEDGE_NOTE = (
    "acknowledge with a silence (POST /api/v2/silences), not by POSTing the alert as the manual does (that fires it)"
)


def acknowledge_howto(url: str, alerts: list[Alert], now: dt.datetime) -> str:
    """Evidence: the silence that would acknowledge each alert, as a curl command."""
    lines = [
        "Acknowledging an alert means silencing it: POST /api/v2/silences with matchers, endsAt,",
        "createdBy and comment (amtool silence add does the same). POSTing the alert itself to",
        "/api/v2/alerts, as the manual's 'Acknowledge alerts' snippet does, CREATES a firing alert",
        "(and may notify again); it acknowledges nothing. Expire a silence with",
        "DELETE /api/v2/silence/<id>.",
        "",
    ]
    for alert in alerts:
        body = json.dumps(silence_for(alert, now=now))
        lines.append(f"# {alert.name}")
        lines.append(
            f"curl -sS -X POST {shlex.quote(url.rstrip('/') + '/api/v2/silences')}"
            f" -H 'Content-Type: application/json' -d {shlex.quote(body)}"
        )
    return "\n".join(lines)


STATUS_PATH = "/api/v2/status"


def status_problem(body: Any) -> str | None:
    """What is wrong with an answer of /api/v2/status (None: Alertmanager's, and ready).

    Cluster status `ready` (gossip settled) or `disabled` (a single Alertmanager) is ready;
    `settling` is not yet."""
    if not isinstance(body, dict) or not isinstance(body.get("versionInfo"), dict):
        return "not Alertmanager's answer (no versionInfo)"
    cluster = body.get("cluster")
    status = cluster.get("status") if isinstance(cluster, dict) else None
    if status not in ("ready", "disabled"):
        return f"cluster status {status or 'missing'}, not ready"
    return None
