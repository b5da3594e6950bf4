"""silence_alert: acknowledge firing alerts the way Alertmanager means it, with a silence.

One silence per alert (`POST /api/v2/silences`), matching all of its labels exactly, for the
run's `--silence-duration`, created by `sergas-checks` with a comment naming the check and run.

Alertmanager has no locks. The lock here is a file lock in the machine's temporary folder,
named for the environment and action: it keeps the runs of one machine (and the xdist workers
of one run) from acting at once, not runs on different machines. What makes the action safe
across machines too, mostly, is the re-verification under that lock: right before creating a
silence it reads Alertmanager's active silences and alerts again, and skips an alert already
silenced (by anyone) or no longer active. Two runners on different machines acting in the same
instant could still both create one; the second silence is a harmless duplicate.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

import httpx
from filelock import FileLock, Timeout

from actions.base import Action, ActionError, Outcome, Risk
from probes.alertmanager import ACTIVE, Alert, parse_alerts, silence_for, silences_muting
from sergas.notify import SOURCE
from sergas.units import format_duration

LOCK_WAIT_S = 60.0


class SilenceAlert(Action):
    id = "silence_alert"
    description = "acknowledge each firing alert with a silence matching its labels (POST /api/v2/silences)"
    risk = Risk.DISRUPTIVE  # a silence hides the alert from everyone: applied only when named

    def __init__(self, *, url: str, alerts: list[Alert], seconds: float, comment: str, timeout: float = 10.0):
        self.url, self.alerts, self.seconds, self.comment, self.timeout = url, alerts, seconds, comment, timeout

    def _what(self, alert: Alert) -> str:
        matchers = ", ".join(f'{k}="{v}"' for k, v in sorted(alert.labels.items()))
        return f"{alert.name} for {format_duration(self.seconds)} (matchers {{{matchers}}})"

    def plan(self) -> list[str]:
        return [f"POST /api/v2/silences on {self.target}: silence {self._what(alert)}" for alert in self.alerts]

    def apply(self) -> Outcome:
        lock = FileLock(Path(tempfile.gettempdir()) / f"{self.lock_name.replace(':', '-')}.lock")
        outcome = Outcome()
        try:
            with lock.acquire(timeout=LOCK_WAIT_S), self._client() as client:
                for alert in self.alerts:
                    why = _already_done(client, alert)
                    if why:
                        outcome.skipped.append(f"{alert.name}: {why}")
                        continue
                    body = silence_for(
                        alert,
                        now=dt.datetime.now(dt.UTC),
                        seconds=self.seconds,
                        created_by=SOURCE,
                        comment=self.comment,
                        exact=True,
                    )
                    answer = _request(client, "POST", "/api/v2/silences", body)
                    silence_id = answer.get("silenceID", "?") if isinstance(answer, dict) else "?"
                    outcome.done.append(f"silence {silence_id}: {self._what(alert)}")
        except Timeout:
            raise ActionError(f"another run holds {lock.lock_file} (waited {LOCK_WAIT_S:.0f}s)") from None
        return outcome

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=self.timeout, trust_env=False)


def _already_done(client: httpx.Client, alert: Alert) -> str | None:
    """Why `alert` needs no silence now (already silenced, or resolved), read right before acting."""
    silences = silences_muting(_request(client, "GET", "/api/v2/silences"), alert.labels)
    if silences:
        return f"already silenced by {', '.join(silences)}"
    query = "&".join(f"{k}={v}" for k, v in ACTIVE.items())
    if not any(a.labels == alert.labels for a in parse_alerts(_request(client, "GET", f"/api/v2/alerts?{query}"))):
        return "no longer active"
    return None


def _request(client: httpx.Client, method: str, path: str, body: object = None) -> object:
    """The JSON answer of `method path`; ActionError with the reason when there is none."""
    try:
        response = client.request(method, path, json=body)
    except httpx.TransportError as exc:
        raise ActionError(f"no answer from {method} {path}: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise ActionError(f"{method} {path} answered HTTP {response.status_code}: {response.text[:160]}")
    try:
        return json.loads(response.text)
    except ValueError:
        raise ActionError(f"{method} {path}: not JSON: {response.text[:80]}") from None
