"""What grafana.dashboard reads from Grafana's HTTP API, and the data sources a dashboard uses.

The calls, as Grafana's HTTP API reference documents them:

- `GET /api/health` (no authentication): `{"commit": ..., "database": "ok", "version": ...}`,
  HTTP 503 with `"database": "failing"` when Grafana cannot reach its own database;
- `GET /api/search?query=<title>&type=dash-db`: a list of hits (`uid`, `title`, `type`, `url`,
  `folderTitle`); the search matches parts of titles, the dashboard is the hit titled exactly so;
- `GET /api/dashboards/uid/<uid>`: `{"dashboard": {"panels": [...], "templating": ...}, "meta": ...}`;
- `GET /api/datasources`: the data sources (`uid`, `name`, `type`, `isDefault`);
- `GET /api/datasources/uid/<uid>/health` (Grafana 9+): `{"status": "OK", "message": ...}`, any
  other status (HTTP 400) is a failing data source; HTTP 501: its plugin has no health check.

A panel names its data source as `{"type": ..., "uid": ...}`, by name (older dashboards), through a
dashboard variable (`${DS_PROMETHEUS}`, `$datasource`), or not at all (the default data source,
when it queries anything); `-- Mixed --` panels name one per query; Grafana's built-in sources
(`-- Grafana --`, `-- Dashboard --`) query nothing outside it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from sergas.targets import short_reason

HEALTH_PATH = "/api/health"
MIXED = "-- Mixed --"
_BUILT_IN = {"-- Grafana --", "grafana", "-- Dashboard --", "dashboard"}
_VARIABLE = re.compile(r"^\$\{(\w+)(?::\w+)?\}$|^\$(\w+)$|^\[\[(\w+)\]\]$")


class GrafanaError(Exception):
    """Grafana's answer could not be used (refused token, not JSON, unexpected shape): one line."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


@dataclass(frozen=True)
class Health:
    database: str
    version: str
    commit: str


@dataclass(frozen=True)
class Datasource:
    uid: str
    name: str
    type: str
    is_default: bool = False

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"


def _json(response: httpx.Response, what: str) -> Any:
    """The JSON body; GrafanaError for a page (a login page, a proxy's) or broken JSON."""
    kind = response.headers.get("content-type", "no content type").split(";")[0].strip()
    if kind != "application/json":
        raise GrafanaError(f"{what} answered HTTP {response.status_code} with {kind}, not JSON: not Grafana's API")
    try:
        return json.loads(response.text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than json follows
        raise GrafanaError(f"{what} answered HTTP {response.status_code} with broken JSON: {exc}") from None


def _message(body: Any) -> str:
    return str(body.get("message", "")).strip()[:200] if isinstance(body, dict) else ""


class Grafana:
    """Grafana's API through `client` (its base URL and bearer token set); every answer is handed
    to `evidence(title, text)`."""

    def __init__(self, client: httpx.Client, evidence: Callable[[str, str], None]) -> None:
        self.client = client
        self.evidence = evidence

    def get(self, path: str, params: dict[str, str] | None = None, ok: tuple[int, ...] = (200,)) -> Answer:
        """GET `path`; its JSON when the status is one of `ok`, else GrafanaError with the reason."""
        what = f"GET {path}"
        try:
            response = self.client.get(path, params=params)
        except httpx.TransportError as exc:
            raise GrafanaError(f"no answer from {what}: {short_reason(exc)}") from None
        shown = f"{what}?{response.request.url.query.decode()}" if params else what
        self.evidence(f"{shown} -> {response.status_code}", response.text[:6000])
        if response.status_code in (401, 403):
            try:
                said = _message(json.loads(response.text))
            except (ValueError, RecursionError):
                said = ""
            raise GrafanaError(
                f"token refused: {what} answered HTTP {response.status_code}{f' ({said})' if said else ''}"
            )
        body = _json(response, what)
        if response.status_code not in ok:
            said = _message(body)
            raise GrafanaError(f"{what} answered HTTP {response.status_code}{f': {said}' if said else ''}")
        return Answer(response.status_code, body)

    def health(self) -> Health:
        answer = self.get(HEALTH_PATH, ok=(200, 503))
        problem = health_problem(answer.body)
        if problem is not None:
            raise GrafanaError(f"GET {HEALTH_PATH}: {problem}")
        body = answer.body
        return Health(str(body["database"]), str(body.get("version", "?")), str(body.get("commit", "?")))

    def dashboards_titled(self, title: str) -> tuple[list[dict[str, Any]], list[str]]:
        """(the dashboards titled exactly `title`, the titles the search found)."""
        body = self.get("/api/search", {"query": title, "type": "dash-db"}).body
        if not isinstance(body, list) or not all(isinstance(hit, dict) for hit in body):
            raise GrafanaError(f"GET /api/search: expected a list of hits, got {str(body)[:80]!r}")
        found = [hit for hit in body if hit.get("type", "dash-db") == "dash-db"]
        return [hit for hit in found if hit.get("title") == title], [str(hit.get("title")) for hit in found]

    def dashboard(self, uid: str) -> dict[str, Any]:
        body = self.get(f"/api/dashboards/uid/{uid}").body
        dashboard = body.get("dashboard") if isinstance(body, dict) else None
        if not isinstance(dashboard, dict):
            raise GrafanaError(f"GET /api/dashboards/uid/{uid}: no dashboard in the answer: {str(body)[:80]!r}")
        return dashboard

    def datasources(self) -> list[Datasource]:
        body = self.get("/api/datasources").body
        try:
            return [
                Datasource(str(d["uid"]), str(d["name"]), str(d.get("type", "?")), d.get("isDefault") is True)
                for d in body
            ]
        except (TypeError, KeyError) as exc:
            raise GrafanaError(f"GET /api/datasources: unexpected answer ({type(exc).__name__}: {exc})") from None

    def datasource_health(self, uid: str) -> tuple[bool | None, str]:
        """(OK?, Grafana's message); None: its plugin has no health check (HTTP 501)."""
        path = f"/api/datasources/uid/{uid}/health"
        answer = self.get(path, ok=(200, 400, 404, 500, 501, 502, 503))
        status = answer.body.get("status") if isinstance(answer.body, dict) else None
        message = _message(answer.body) or f"HTTP {answer.status}"
        if answer.status == 501:
            return None, message
        return answer.status == 200 and status == "OK", message


def health_problem(body: Any) -> str | None:
    """What is wrong with an answer of /api/health (None: it is Grafana's)."""
    if not isinstance(body, dict) or "database" not in body:
        return f"not Grafana's health answer (no database field): {str(body)[:80]!r}"
    return None


def connect(url: str, token: str, connect_timeout: float, timeout: float) -> httpx.Client:
    """A client of Grafana at `url`, once /api/health answers as Grafana's does (healthy or not:
    judging it is the check's). The token goes in the Authorization header only. No proxy from
    the environment: an internal endpoint."""
    client = httpx.Client(
        base_url=url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        trust_env=False,
    )
    try:
        response = client.get(HEALTH_PATH)
        try:
            problem = health_problem(json.loads(response.text))
        except (ValueError, RecursionError):
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            problem = f"answered HTTP {response.status_code} with {kind}, not JSON: not Grafana"
        if problem is not None:
            raise RuntimeError(f"{HEALTH_PATH} {problem}")
    except BaseException:
        client.close()
        raise
    return client


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside rows (collapsed rows hold theirs) included; rows themselves not."""
    stack = list(reversed(dashboard.get("panels") or []))
    while stack:
        panel = stack.pop()
        if not isinstance(panel, dict):
            continue
        if panel.get("type") == "row":
            stack.extend(reversed(panel.get("panels") or []))
        else:
            yield panel


def _references(panel: dict[str, Any]) -> list[Any]:
    """How the panel names the data sources it queries (None: the default)."""
    targets = [t for t in panel.get("targets") or [] if isinstance(t, dict)]
    chosen = panel.get("datasource")
    uid = chosen.get("uid") if isinstance(chosen, dict) else chosen
    if uid == MIXED:
        return [t.get("datasource") for t in targets]
    if chosen is None and not targets:
        return []  # a text panel, a news panel: it queries nothing
    return [chosen]


@dataclass
class Resolver:
    """Finds the data source a reference names, among Grafana's and through the dashboard's variables."""

    available: list[Datasource]
    variables: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, dashboard: dict[str, Any], available: list[Datasource]) -> Resolver:
        listed = (dashboard.get("templating") or {}).get("list") or []
        return cls(available, {v["name"]: v for v in listed if isinstance(v, dict) and v.get("type") == "datasource"})

    def default(self, kind: str | None = None) -> Datasource | None:
        defaults = [d for d in self.available if d.is_default and kind in (None, d.type)]
        of_kind = [d for d in self.available if d.type == kind]
        return next(iter(defaults or of_kind), None)

    def named(self, text: str) -> Datasource | None:
        """The data source whose uid, else name, is `text`."""
        return next((d for d in self.available if d.uid == text), None) or next(
            (d for d in self.available if d.name == text), None
        )

    def resolve(self, reference: Any) -> Datasource | str | None:
        """The data source, or why none: a string; None for a built-in one."""
        if reference is None:
            return self.default() or "uses the default data source, and Grafana has none"
        text = reference.get("uid") if isinstance(reference, dict) else reference
        kind = reference.get("type") if isinstance(reference, dict) else None
        if not isinstance(text, str) or not text:
            return self.default(kind) or f"uses the default {kind or ''} data source, and Grafana has none"
        if text in _BUILT_IN:
            return None
        variable = _VARIABLE.match(text)
        if variable is not None:
            name = next(g for g in variable.groups() if g)
            if name not in self.variables:
                return f"uses data source {text}, and the dashboard has no such variable"
            current = (self.variables[name].get("current") or {}).get("value")
            query = self.variables[name].get("query")
            if current in (None, "", "default", "$__default"):
                return (
                    self.default(query if isinstance(query, str) else None) or f"variable {text} names no data source"
                )
            return self.named(str(current)) or f"uses data source {text} = {current!r}, which does not exist"
        return self.named(text) or f"uses data source {text!r}, which does not exist"


def datasources_used(dashboard: dict[str, Any], available: list[Datasource]) -> tuple[list[Datasource], list[str]]:
    """The data sources the dashboard's panels query (each once, in panel order), and each panel's
    reference that names none (`panel "Logs" uses data source 'Elastic', which does not exist`)."""
    resolver = Resolver.of(dashboard, available)
    used: dict[str, Datasource] = {}
    problems: list[str] = []
    for panel in panels(dashboard):
        for reference in _references(panel):
            found = resolver.resolve(reference)
            if isinstance(found, Datasource):
                used.setdefault(found.uid, found)
            elif found is not None:
                problems.append(f'panel "{panel.get("title") or panel.get("id", "?")}" {found}')
    return list(used.values()), list(dict.fromkeys(problems))
