"""grafana.dashboard against a replay of Grafana's HTTP API (sandbox/grafana_replay.py; no Grafana
runs here), run as a user runs the suite: ok when healthy, critical when Grafana's database
fails, the dashboard is missing or a data source fails its health check, unknown when the token
is refused, the answer is a login page or broken JSON, or nothing listens; the token never leaves
the Authorization header. Then, in-process, how panels' data source references resolve."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from probes.grafana import Datasource, datasources_used
from sandbox import liars
from sandbox.grafana_replay import LOKI_FAILURE, GrafanaReplay
from tests.conftest import RunChecks, environment_text

CHECK = "grafana.dashboard"
PATH = "metrics/test_grafana.py"
TOKEN_VAR = "SERGAS_GRAFANA_TOKEN"


def grafana_env(url: str, extra: str = "") -> str:
    """An environment of Grafana alone (the check needs nothing else), its token from the environment."""
    base = 'name = "grafana-replay"\n'
    return environment_text(f'[grafana]\nurl = "{url}"\ntoken = "${{{TOKEN_VAR}}}"\n{extra}', base=base)


@pytest.fixture(scope="module")
def replay() -> Iterator[GrafanaReplay]:
    with GrafanaReplay() as server:
        yield server


@pytest.fixture
def grafana(replay: GrafanaReplay, monkeypatch: pytest.MonkeyPatch) -> Iterator[GrafanaReplay]:
    """The replay, healthy, its token exported for the run."""
    monkeypatch.setenv(TOKEN_VAR, replay.token)
    replay.requests.clear()
    yield replay
    replay.faults.clear()


def target(replay: GrafanaReplay) -> str:
    return replay.url.removeprefix("http://")


def test_healthy_dashboard_is_ok(suite: RunChecks, grafana: GrafanaReplay) -> None:
    run = suite(PATH, env=grafana_env(grafana.url), args=("-m", "daily"))
    assert run.result.ret == pytest.ExitCode.OK, run.output
    (record,) = run.checks(CHECK)
    assert (record["status"], record["target"]) == ("ok", target(grafana))
    assert record["message"] == (
        f'{target(grafana)}: dashboard "Sergas Overview" (/d/sergas-overview/sergas-overview, 8 panels):'
        " 2 data source(s) healthy: Prometheus (prometheus), Loki (loki); Grafana 10.4.2, database ok"
    )
    assert {m["name"]: m["value"] for m in record["measurements"]} == {
        "panels": 8,
        "datasources": 2,
        "datasources_failing": 0,
    }
    titles = [e["title"] for e in record["evidence"]]
    assert "GET /api/search?query=Sergas+Overview&type=dash-db -> 200" in titles, titles
    # The token went in the Authorization header of every API call, and nowhere else.
    api_calls = [(path, auth) for path, auth in grafana.requests if not path.startswith("/api/health")]
    assert len(api_calls) == 5 and all(auth == f"Bearer {grafana.token}" for _, auth in api_calls), api_calls
    assert not any(grafana.token in path for path, _ in grafana.requests)
    written = [run.output, *(p.read_text() for p in run.archive.iterdir() if p.is_file())]
    assert not any(grafana.token in text for text in written)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("database_failing", "Grafana 10.4.2: its database is failing: no dashboard can be read"),
        ("dashboard_missing", "dashboard \"Sergas Overview\" not found; the search found 'Sergas Overview (old)'"),
        (
            "datasource_failing",
            f'dashboard "Sergas Overview": 1 of 2 data source(s) failing: Loki (loki): {LOKI_FAILURE}',
        ),
    ],
)
def test_faults_are_critical(suite: RunChecks, grafana: GrafanaReplay, fault: str, message: str) -> None:
    grafana.faults.add(fault)
    run = suite(PATH, env=grafana_env(grafana.url))
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED, run.output
    assert (run.status(CHECK), run.message(CHECK)) == ("critical", f"{target(grafana)}: {message}")


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("token_refused", r"token refused: GET /api/search answered HTTP 401 \(Invalid API key\)"),
        ("login_page", r"GET /api/search answered HTTP 200 with text/html, not JSON: not Grafana's API"),
        ("garbage", r"GET /api/search answered HTTP 200 with broken JSON: .+"),
    ],
)
def test_unusable_answers_are_unknown(suite: RunChecks, grafana: GrafanaReplay, fault: str, message: str) -> None:
    grafana.faults.add(fault)
    run = suite(PATH, env=grafana_env(grafana.url))
    assert run.status(CHECK) == "unknown", run.output
    assert re.fullmatch(f"{re.escape(target(grafana))}: {message}", run.message(CHECK)), run.message(CHECK)


def test_unreachable_is_unknown(suite: RunChecks, grafana: GrafanaReplay) -> None:
    with liars.refused() as port:
        run = suite(PATH, env=grafana_env(f"http://127.0.0.1:{port}"))
    assert run.status(CHECK) == "unknown"
    assert run.message(CHECK) == f"cannot connect to grafana http://127.0.0.1:{port}: connection refused"


def test_not_configured_is_skipped(suite: RunChecks) -> None:
    run = suite(PATH, env=environment_text("", base='name = "no-grafana"\n'))
    assert run.status(CHECK) == "skipped"
    assert "Grafana is not part of environment no-grafana (no [grafana] section)" in run.message(CHECK)


def test_token_written_in_the_file_is_refused(suite: RunChecks) -> None:
    run = suite(PATH, env='name = "x"\n[grafana]\nurl = "http://grafana:3000"\ntoken = "glsa_abc123"\n')
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "grafana.token: write a ${VAR} reference, not the credential itself" in run.output
    assert "glsa_abc123" not in run.output


# In-process: what a dashboard's panels resolve to.

PROMETHEUS = Datasource("prom-uid", "Prometheus", "prometheus", is_default=True)
LOKI = Datasource("loki-uid", "Loki", "loki")


def board(*panels: dict[str, Any], variables: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    return {"panels": list(panels), "templating": {"list": list(variables)}}


def panel(title: str, datasource: Any = None, targets: int = 1) -> dict[str, Any]:
    shown = {"type": "timeseries", "title": title, "targets": [{"refId": "A"}] * targets}
    return shown | ({"datasource": datasource} if datasource is not None else {})


@pytest.mark.parametrize(
    ("dashboard", "used", "problems"),
    [
        (board(panel("by uid", {"type": "loki", "uid": "loki-uid"})), [LOKI], []),
        (board(panel("by name", "Loki")), [LOKI], []),
        (board(panel("default")), [PROMETHEUS], []),
        (board(panel("text", targets=0)), [], []),
        (board(panel("built-in", {"type": "datasource", "uid": "grafana"})), [], []),
        (
            board(
                panel("variable", {"uid": "${ds}"}),
                variables=({"type": "datasource", "name": "ds", "query": "loki", "current": {"value": "Loki"}},),
            ),
            [LOKI],
            [],
        ),
        (
            board(
                panel("default of the variable's type", "$ds"),
                variables=({"type": "datasource", "name": "ds", "query": "loki", "current": {}},),
            ),
            [LOKI],
            [],
        ),
        (
            board(panel("imported unmapped", {"uid": "${DS_PROMETHEUS}"})),
            [],
            ['panel "imported unmapped" uses data source ${DS_PROMETHEUS}, and the dashboard has no such variable'],
        ),
        (board(panel("gone", "Elastic")), [], ["panel \"gone\" uses data source 'Elastic', which does not exist"]),
        (
            board({"type": "row", "title": "r", "panels": [panel("in a row", "Loki"), panel("also", "Prometheus")]}),
            [LOKI, PROMETHEUS],
            [],
        ),
    ],
)
def test_datasource_references(dashboard: dict[str, Any], used: list[Datasource], problems: list[str]) -> None:
    assert datasources_used(dashboard, [PROMETHEUS, LOKI]) == (used, problems)


def test_mixed_panels_name_one_per_query() -> None:
    mixed = panel("mixed", {"type": "datasource", "uid": "-- Mixed --"}, targets=0)
    mixed["targets"] = [{"refId": "A", "datasource": {"uid": "loki-uid"}}, {"refId": "B"}]
    assert datasources_used(board(mixed), [PROMETHEUS, LOKI]) == ([LOKI, PROMETHEUS], [])
    assert datasources_used(board(panel("default")), [LOKI]) == (
        [],
        ['panel "default" uses the default data source, and Grafana has none'],
    )


def test_replay_rejects_a_missing_token(replay: GrafanaReplay) -> None:
    answer = httpx.get(f"{replay.url}/api/search", params={"query": "Sergas"}, trust_env=False)
    assert answer.status_code == 401 and answer.json()["message"] == "Invalid API key"
    assert httpx.get(f"{replay.url}/api/health", trust_env=False).json()["database"] == "ok"
