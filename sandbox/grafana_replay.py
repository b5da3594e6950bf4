"""A replay of Grafana's HTTP API for grafana.dashboard: no Grafana runs here.

`GrafanaReplay` is a local HTTP server answering the calls the check makes with bodies shaped as
Grafana's HTTP API reference documents them: `/api/health`, `/api/search`,
`/api/dashboards/uid/<uid>`, `/api/datasources`, `/api/datasources/uid/<uid>/health`. Every path
but /api/health wants the bearer token (`Authorization: Bearer <token>`) and answers a wrong or
missing one HTTP 401 `{"message": "Invalid API key", ...}`, as Grafana does.

The "Sergas Overview" dashboard has the manual's panels, naming their data sources each way
dashboards do: a `{"type", "uid"}` object, the `${DS_PROMETHEUS}` variable of an imported
dashboard, a name (older dashboards), none (the default data source), `-- Mixed --` with one
per query, a text panel and a collapsed row holding panels. Data sources: Prometheus (the
default) and Loki. Faults (`replay.faults`): database_failing (/api/health: HTTP 503, database
"failing"), dashboard_missing (only "Sergas Overview (old)" is found), datasource_failing (Loki's
health check fails), token_refused (every token is refused), login_page (API paths answer HTTP
200 with Grafana's login page, as behind an authenticating proxy), garbage (the search answers
broken JSON).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.replay import Replay

FAULTS = frozenset(
    {"database_failing", "dashboard_missing", "datasource_failing", "token_refused", "login_page", "garbage"}
)
TITLE = "Sergas Overview"
UID = "sergas-overview"
VERSION = "10.4.2"
PROMETHEUS = {"uid": "P1809F7CD0C75ACF3", "name": "Prometheus", "type": "prometheus", "typeName": "Prometheus"}
LOKI = {"uid": "P8E80F9AEF21F6940", "name": "Loki", "type": "loki", "typeName": "Loki"}
HEALTHY = {"prometheus": "Successfully queried the Prometheus API.", "loki": "Data source successfully connected."}
LOKI_FAILURE = "Unable to connect with Loki. Please check the server logs for more details."
LOGIN_PAGE = (
    b'<!DOCTYPE html><html lang="en-US"><head><meta charset="utf-8"><title>Grafana</title>'
    b'<base href="/" /></head><body class="theme-dark app-grafana"><div id="reactRoot"></div></body></html>'
)


def _datasource(spec: dict[str, str], id_: int, url: str, default: bool) -> dict[str, Any]:
    """A data source as GET /api/datasources lists it."""
    return {
        "id": id_,
        "uid": spec["uid"],
        "orgId": 1,
        "name": spec["name"],
        "type": spec["type"],
        "typeName": spec["typeName"],
        "typeLogoUrl": f"public/app/plugins/datasource/{spec['type']}/img/{spec['type']}_icon.svg",
        "access": "proxy",
        "url": url,
        "user": "",
        "database": "",
        "basicAuth": False,
        "isDefault": default,
        "jsonData": {"httpMethod": "POST"} if spec["type"] == "prometheus" else {},
        "readOnly": True,
    }


DATASOURCES = [
    _datasource(PROMETHEUS, 1, "http://prometheus:9090", True),
    _datasource(LOKI, 2, "http://loki:3100", False),
]


def _panel(id_: int, title: str, kind: str, datasource: Any, *exprs: str, y: int = 0) -> dict[str, Any]:
    panel: dict[str, Any] = {
        "id": id_,
        "type": kind,
        "title": title,
        "gridPos": {"h": 8, "w": 12, "x": 12 * (id_ % 2), "y": y},
        "targets": [{"refId": chr(ord("A") + i), "expr": expr} for i, expr in enumerate(exprs)],
    }
    if datasource is not None:
        panel["datasource"] = datasource
    return panel


def dashboard() -> dict[str, Any]:
    """GET /api/dashboards/uid/sergas-overview: the dashboard model and its meta."""
    prometheus = {"type": "prometheus", "uid": PROMETHEUS["uid"]}
    job = 'job="sergas-app"'
    mixed = _panel(6, "Zoho API call success rate", "timeseries", {"type": "datasource", "uid": "-- Mixed --"})
    mixed["targets"] = [
        {"refId": "A", "datasource": prometheus, "expr": f"sum(rate(sergas_zoho_api_calls_total{{{job}}}[5m]))"},
        {"refId": "B", "datasource": {"type": "loki", "uid": LOKI["uid"]}, "expr": '{app="sergas"} |= "zoho"'},
    ]
    logs_row = {
        "id": 20,
        "type": "row",
        "title": "Logs",
        "collapsed": True,
        "gridPos": {"h": 1, "w": 24, "x": 0, "y": 40},
        "panels": [_panel(21, "Application errors", "logs", "Loki", '{app="sergas"} |= "ERROR"', y=41)],
    }
    panels = [
        _panel(
            1,
            "Request rate",
            "timeseries",
            {"type": "prometheus", "uid": "${DS_PROMETHEUS}"},
            f"sum(rate(sergas_http_requests_total{{{job}}}[5m]))",
        ),
        _panel(
            2,
            "Error rate",
            "stat",
            prometheus,
            f'sum(rate(sergas_http_requests_total{{{job},status=~"5.."}}[5m]))'
            f" / sum(rate(sergas_http_requests_total{{{job}}}[5m]))",
        ),
        _panel(3, "Agent session success rate", "gauge", None, f"sum(rate(sergas_agent_sessions_total{{{job}}}[5m]))"),
        _panel(
            4,
            "Database connection pool usage",
            "timeseries",
            prometheus,
            f"sergas_db_pool_connections_in_use{{{job}}} / sergas_db_pool_size{{{job}}}",
            y=8,
        ),
        _panel(
            5,
            "Memory and CPU usage",
            "timeseries",
            prometheus,
            f"process_resident_memory_bytes{{{job}}}",
            f"rate(process_cpu_seconds_total{{{job}}}[5m])",
            y=8,
        ),
        mixed,
        {
            "id": 7,
            "type": "text",
            "title": "Runbook",
            "gridPos": {"h": 4, "w": 24, "x": 0, "y": 24},
            "options": {"mode": "markdown", "content": "See the operations manual, Metric Review."},
        },
        logs_row,
    ]
    variable = {
        "type": "datasource",
        "name": "DS_PROMETHEUS",
        "label": "Prometheus",
        "query": "prometheus",
        "current": {"selected": False, "text": "Prometheus", "value": PROMETHEUS["uid"]},
        "hide": 2,
        "options": [],
        "refresh": 1,
    }
    return {
        "dashboard": {
            "id": 12,
            "uid": UID,
            "title": TITLE,
            "tags": ["sergas"],
            "timezone": "browser",
            "editable": True,
            "schemaVersion": 39,
            "version": 7,
            "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"},
            "panels": panels,
            "templating": {"list": [variable]},
            "annotations": {
                "list": [
                    {
                        "builtIn": 1,
                        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                        "enable": True,
                        "name": "Annotations & Alerts",
                        "type": "dashboard",
                    }
                ]
            },
        },
        "meta": {
            "type": "db",
            "canSave": False,
            "canEdit": False,
            "canAdmin": False,
            "canStar": True,
            "canDelete": False,
            "slug": UID,
            "url": f"/d/{UID}/{UID}",
            "expires": "0001-01-01T00:00:00Z",
            "created": "2026-09-14T08:12:40Z",
            "updated": "2026-11-28T16:03:11Z",
            "updatedBy": "admin",
            "createdBy": "admin",
            "version": 7,
            "hasAcl": False,
            "isFolder": False,
            "folderId": 3,
            "folderUid": "a1b2c3d4",
            "folderTitle": "Sergas",
            "folderUrl": "/dashboards/f/a1b2c3d4/sergas",
            "provisioned": False,
        },
    }


def _hit(id_: int, uid: str, title: str) -> dict[str, Any]:
    """A dashboard as GET /api/search lists it."""
    slug = title.lower().replace(" ", "-").replace("(", "").replace(")", "")
    return {
        "id": id_,
        "uid": uid,
        "orgId": 1,
        "title": title,
        "uri": f"db/{slug}",
        "url": f"/d/{uid}/{slug}",
        "slug": "",
        "type": "dash-db",
        "tags": ["sergas"],
        "isStarred": False,
        "folderId": 3,
        "folderUid": "a1b2c3d4",
        "folderTitle": "Sergas",
        "folderUrl": "/dashboards/f/a1b2c3d4/sergas",
        "sortMeta": 0,
    }


class GrafanaReplay(Replay):
    """The replay on 127.0.0.1 (`url`), with its `token` and `faults`."""

    thread_name = "grafana-replay"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str | None]] = []  # (path and query, Authorization header) of each

    def respond(self, method: str, target: str, authorization: str | None) -> tuple[int, str, bytes]:
        if method != "GET":
            return 405, "application/json", json.dumps({"message": "Method Not Allowed"}).encode()
        code, kind, data = self.answer(target, authorization)
        return code, f"{kind}; charset=UTF-8" if kind == "text/html" else kind, data

    def answer(self, target: str, authorization: str | None) -> tuple[int, str, bytes]:
        """(HTTP status, content type, body) of GET `target`."""
        self.requests.append((target, authorization))
        url = urlsplit(target)
        path, query = url.path.rstrip("/") or "/", parse_qs(url.query)
        if path == "/api/health":
            failing = "database_failing" in self.faults
            body = {"commit": "d1c1aa6", "database": "failing" if failing else "ok", "version": VERSION}
            return (503 if failing else 200), "application/json", json.dumps(body).encode()
        if "login_page" in self.faults:
            return 200, "text/html", LOGIN_PAGE
        if "token_refused" in self.faults or authorization != f"Bearer {self.token}":
            refused = {
                "extra": None,
                "message": "Invalid API key",
                "messageId": "api-keys.invalid",
                "statusCode": 401,
                "traceID": "",
            }
            return 401, "application/json", json.dumps(refused).encode()
        code, body = self._api(path, query)
        if "garbage" in self.faults and path == "/api/search":
            return 200, "application/json", json.dumps(body).encode()[:37]
        return code, "application/json", json.dumps(body).encode()

    def _api(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if path == "/api/search":
            hits = [_hit(11, "sergas-overview-old", f"{TITLE} (old)")]
            if "dashboard_missing" not in self.faults:
                hits.insert(0, _hit(12, UID, TITLE))
            words = query.get("query", [""])[0].lower()
            return 200, [h for h in hits if words in h["title"].lower()]
        if path == f"/api/dashboards/uid/{UID}" and "dashboard_missing" not in self.faults:
            return 200, dashboard()
        if path == "/api/datasources":
            return 200, DATASOURCES
        for source in DATASOURCES:
            if path == f"/api/datasources/uid/{source['uid']}/health":
                if source["uid"] == LOKI["uid"] and "datasource_failing" in self.faults:
                    return 400, {"status": "ERROR", "message": LOKI_FAILURE}
                return 200, {"status": "OK", "message": HEALTHY[source["type"]]}
        if path.startswith("/api/dashboards/uid/"):
            return 404, {"message": "Dashboard not found", "status": "not-found"}
        return 404, {"message": "Not found"}
