"""probes.runtimes: the host-bound runtimes' answers read into one ServiceState (the shapes of
procps' ps, systemd 252's `systemctl show`, and Docker 20.10's `docker inspect`)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from probes.runtimes import (
    Answer,
    Proc,
    RuntimeAnswerError,
    parse_compose,
    parse_process,
    parse_systemd,
    worker_counts,
    workers_of,
)

NOW = 1_765_000_000


def test_a_prefork_master_is_one_instance_and_its_workers_are_its_children() -> None:
    out = (
        f"# now\n{NOW}\n# matched\n"
        " 100     1  3600 /venv/bin/gunicorn app:main -w 2\n"
        " 101   100  3599 /venv/bin/gunicorn app:main -w 2\n"
        " 102   100  3599 /venv/bin/gunicorn app:main -w 2\n"
        "# processes\n 100 1 3600 gunicorn\n 101 100 3599 gunicorn\n 102 100 3599 gunicorn\n"
    )
    state = parse_process(out, "gunicorn app:main")
    assert [(i.name, i.pid, i.started_at) for i in state.instances] == [("pid 100", 100, NOW - 3600)]
    assert worker_counts(out, state) == {"pid 100": 2}


def test_no_matching_process_is_no_instance() -> None:
    assert parse_process(f"# now\n{NOW}\n# matched\n", "sergas").instances == ()


def test_systemd_active_unit() -> None:
    out = (
        f"# now\n{NOW}\n# unit\nLoadState=loaded\nActiveState=active\nSubState=running\nNRestarts=2\nMainPID=100\n"
        "# rc\n0\n# processes\n 100 1 60 uvicorn\n 101 100 59 python3\n"
    )
    state = parse_systemd(out, "sergas-app")
    (unit,) = state.instances
    assert (unit.running, unit.state, unit.restarts, unit.started_at) == (True, "active (running)", 2, NOW - 60)
    assert worker_counts(out, state) == {"sergas-app": 1}


def test_systemd_that_cannot_tell_raises_with_its_words() -> None:
    out = f"# now\n{NOW}\n# unit\nSystem has not been booted with systemd as init system (PID 1).\n# rc\n1\n"
    with pytest.raises(RuntimeAnswerError, match="systemctl cannot tell: System has not been booted"):
        parse_systemd(out, "sergas-app")


def test_systemd_unit_not_found_has_no_instance() -> None:
    out = "# unit\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nNRestarts=0\nMainPID=0\n# rc\n0\n"
    assert parse_systemd(out, "sergas-app").instances == ()


def test_workers_below_an_init() -> None:
    table = [
        Proc(10, 0, 5, "docker-init"),
        Proc(11, 10, 5, "python"),
        Proc(12, 11, 5, "python"),
        Proc(13, 11, 5, "python"),
    ]
    assert [p.pid for p in workers_of(table, 10)] == [12, 13]


def _container(name: str, status: str, health: str | None, restarts: int = 0, **state: object) -> dict[str, object]:
    body: dict[str, object] = {
        "Status": status,
        "Running": status == "running",
        "Restarting": status == "restarting",
        "Pid": 4242 if status == "running" else 0,
        "ExitCode": state.get("ExitCode", 0),
        "Error": "",
        "StartedAt": "2026-12-06T05:00:00.123456789Z",
        "FinishedAt": "0001-01-01T00:00:00Z",
    }
    if health is not None:
        body["Health"] = {"Status": health, "FailingStreak": 2, "Log": [{"ExitCode": 1, "Output": "unhealthy file\n"}]}
    return {"Name": f"/{name}", "RestartCount": restarts, "State": body}


def test_compose_containers_in_dockers_words() -> None:
    inspect = [
        _container("sergas_app_1", "running", "healthy"),
        _container("sergas_app_2", "running", "unhealthy"),
        _container("sergas_app_3", "exited", None, ExitCode=137),
        _container("sergas_app_4", "restarting", None, restarts=5),
    ]
    state = parse_compose(f"# now\n{NOW}\n# inspect\n{json.dumps(inspect)}\n", "app", 2)
    assert state.desired == 2
    one, two, three, four = state.instances
    assert (one.running, one.ready, one.state) == (True, True, "running (healthy)")
    assert one.started_at == dt.datetime(2026, 12, 6, 5, tzinfo=dt.UTC).timestamp()
    assert (two.ready, two.reason) == (False, "unhealthy file")
    assert (three.running, three.state, three.reason) == (False, "exited", "exit code 137")
    assert (four.running, four.restarts) == (False, 5)


@pytest.mark.parametrize("garbage", ["", "<html>", '{"not": "a list"}', "Cannot connect to the Docker daemon"])
def test_compose_garbage_is_an_error_not_an_empty_service(garbage: str) -> None:
    with pytest.raises(RuntimeAnswerError):
        parse_compose(f"# now\n{NOW}\n# inspect\n{garbage}\n", "app", 2)


def test_sections_keep_lines_that_look_like_comments() -> None:
    answer = Answer.parse("# now\n5\n# inspect\n# not a section: two words\n")
    assert answer.now == 5 and answer.get("inspect") == "# not a section: two words"


def test_a_container_restarted_moments_ago_is_not_taken_for_healthy() -> None:
    """Docker shows a looping container `running` (ExitCode 0, health not yet probed) for a moment
    at each attempt: restarted within the window, it is not ready, with the reason."""
    started = int(dt.datetime(2026, 12, 6, 5, tzinfo=dt.UTC).timestamp())
    looping = _container("sergas_app_1", "running", None, restarts=3)
    settled = _container("sergas_app_2", "running", None, restarts=1)
    for now, entry in ((started + 2, looping), (started + 300, settled)):
        (instance,) = parse_compose(f"# now\n{now}\n# inspect\n{json.dumps([entry])}\n", "app", 1).instances
        if entry is looping:
            assert (instance.ready, instance.reason) == (False, "restarted 3 times, the last 2s ago")
        else:
            assert (instance.ready, instance.reason) == (None, "")
