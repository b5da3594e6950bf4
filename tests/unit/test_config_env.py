"""The .env reader (the host command, run here by sh and the system's awk) held against
python-dotenv itself, the judging of an env file, the feature flag comparison and the pool
arithmetic; all in-process but the one `sh` per .env read."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from dotenv import dotenv_values
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from probes.config_env import REGULAR_FILE, EnvFile, KeyState, judge, parse_answer, read_command, too_open
from probes.features import FeaturesUnreadable, compare, fetch_features, same
from probes.pool import POOL_SIZE, capacity, pool_of
from sergas.status import Status

KEYS = ("A", "B", "x", "export", "Ax")
NUMBERS = ("A", "B")


def read(path: Path, keys: tuple[str, ...] = KEYS, numbers: tuple[str, ...] = NUMBERS) -> EnvFile:
    """What the host command says about `path`, run here."""
    done = subprocess.run(["sh", "-c", read_command(str(path), keys, numbers)], capture_output=True, text=True)
    assert done.returncode == 0 and not done.stderr, done.stderr
    return parse_answer(done.stdout, str(path))


def dotenv_says(path: Path, keys: tuple[str, ...] = KEYS) -> dict[str, KeyState]:
    """What python-dotenv (the app's reader) makes of `path`, as key states."""
    values = dotenv_values(path, interpolate=False)
    return {k: KeyState.MISSING if k not in values else KeyState.PRESENT if values[k] else KeyState.EMPTY for k in keys}


@pytest.mark.parametrize(
    ("text", "states"),
    [
        ("A=1\nB=\n", {"A": "present", "B": "empty"}),
        ("export A=\"x y\" # comment\nB=''\n", {"A": "present", "B": "empty"}),
        ("A= # only a comment\nB=#not-a-comment\n", {"A": "empty", "B": "present"}),
        ("# A=1\n  B = 2  \n", {"A": "missing", "B": "present"}),
        ("A='spans\nlines'\nB=after\n", {"A": "present", "B": "present"}),
        ('A="unclosed\nB=next line\n', {"A": "missing", "B": "present"}),  # python-dotenv skips the line
        ('A="closed"junk\nB\n', {"A": "missing", "B": "empty"}),  # junk after the quote: skipped; bare B: no value
        ("A=1\r\nA=\r\n", {"A": "empty"}),  # the last assignment wins
        ("\ufeffA=1\n'B'=2", {"A": "present", "B": "present"}),  # BOM, quoted key, no final newline
        ("A='it\\'s'\nB=\"\\\"\"\n", {"A": "present", "B": "present"}),
    ],
)
def test_reader_reads_as_python_dotenv(tmp_path: Path, text: str, states: dict[str, str]) -> None:
    path = tmp_path / ".env"
    path.write_text(text, newline="")
    found = read(path)
    assert found.keys == dotenv_says(path)
    assert {k: found.keys[k].value for k in states} == states


TOKENS = ["A", "B", "x", "1", "=", " ", "\t", "#", "'", '"', "\\", "\n", "\r", "export ", "A=", "B="]


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=30).map("".join))
@example("A='x\\\nB=1'\nB=2\n")
def test_reader_agrees_with_python_dotenv_on_any_text(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("env") / ".env"
    path.write_text(text, newline="")
    found = read(path)
    assert found.keys == dotenv_says(path)
    values = dotenv_values(path, interpolate=False)
    assert found.numbers == {
        k: int(v) if v.isdigit() else None for k in NUMBERS if (v := values.get(k)) and k in values
    }


def test_only_whole_numbers_of_the_numbers_asked_leave_the_host(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("DATABASE_POOL_SIZE=30 # tuned\nDATABASE_MAX_OVERFLOW=s3cr3t\nSECRET_KEY=42\n")
    command = read_command(str(path), ["SECRET_KEY"], ["DATABASE_POOL_SIZE", "DATABASE_MAX_OVERFLOW"])
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    assert "s3cr3t" not in out and "42" not in out
    found = parse_answer(out, str(path))
    assert found.numbers == {"DATABASE_POOL_SIZE": 30, "DATABASE_MAX_OVERFLOW": None}
    assert found.keys == {"SECRET_KEY": KeyState.PRESENT}


def test_command_quotes_the_path_and_refuses_odd_names(tmp_path: Path) -> None:
    folder = tmp_path / "it's $HOME; `x`"
    folder.mkdir()
    (folder / ".env").write_text("A=1\n")
    found = read(folder / ".env")
    assert found.kind == REGULAR_FILE and found.keys is not None and found.keys["A"] is KeyState.PRESENT
    with pytest.raises(ValueError, match="not a variable name"):
        read_command("/x/.env", ["A; rm -rf /"])


def test_absent_directory_and_empty_file(tmp_path: Path) -> None:
    assert read(tmp_path / "none") == EnvFile(str(tmp_path / "none"))
    directory = read(tmp_path)
    assert directory.kind == "directory" and directory.keys is None
    (tmp_path / "empty").write_text("")
    empty = read(tmp_path / "empty")
    assert empty.kind == REGULAR_FILE and empty.keys == dict.fromkeys(KEYS, KeyState.MISSING)


def test_parse_answer() -> None:
    unreadable = parse_answer("stat sergas 640 regular file\nunreadable deploy\n", "/app/.env")
    assert unreadable == EnvFile("/app/.env", REGULAR_FILE, "sergas", 0o640, None, {}, "deploy")
    assert "not readable by deploy" in unreadable.evidence()
    with pytest.raises(ValueError, match="unexpected answer"):
        parse_answer("stat root 600 regular file\nSECRET=1\n", "/app/.env")
    with pytest.raises(ValueError, match="no stat answer"):
        parse_answer("", "/app/.env")


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        (0o600, None),
        (0o640, None),
        (0o644, "others can read"),
        (0o660, "group can write"),
        (0o777, "owner can execute; group can write and execute; others can read and write and execute"),
    ],
)
def test_too_open(mode: int, said: str | None) -> None:
    assert too_open(mode) == said


def findings(**given: Any) -> list[tuple[Status, str]]:
    found: dict[str, Any] = {
        "kind": REGULAR_FILE,
        "owner": "sergas",
        "mode": 0o600,
        "keys": {"A": KeyState.PRESENT, "B": KeyState.PRESENT},
    } | given
    return judge(
        ".env", found["kind"], found["owner"], found["mode"], found["keys"], user="sergas", required=["A", "B"]
    )


def test_judge() -> None:
    assert findings() == [(Status.OK, ".env: 2 required key(s) set, owner sergas, mode 0600")]
    assert findings(kind=None) == [(Status.CRITICAL, ".env does not exist")]
    assert findings(kind="directory") == [(Status.CRITICAL, ".env is a directory, not a regular file")]
    assert findings(owner="root", mode=0o604, keys={"A": KeyState.EMPTY, "B": KeyState.MISSING}) == [
        (Status.CRITICAL, ".env is owned by root, not sergas"),
        (Status.CRITICAL, ".env mode 0604 is more open than 0640: others can read"),
        (Status.CRITICAL, ".env lacks B"),
        (Status.CRITICAL, ".env leaves A empty"),
    ]
    assert findings(keys=None) == [(Status.UNKNOWN, ".env not readable: required keys not verified")]


def test_judge_serves_a_kubernetes_secret() -> None:
    """No owner, no mode: neither judged; the kind is the source's own word."""
    secret = {"A": KeyState.PRESENT}
    ok = judge("secret/sergas-env", "Secret", None, None, secret, user="sergas", required=["A"], kinds=("Secret",))
    assert ok == [(Status.OK, "secret/sergas-env: 1 required key(s) set")]


def test_compare_flags() -> None:
    found = compare({"a": False, "b": True, "c": 1, "d": "x"}, {"a": False, "b": 1, "c": 1.0, "e": True})
    assert found.differing == [("b", True, 1)]  # 1 is not true, though Python says True == 1
    assert found.missing == ["d"] and found.extra == {"e": True}
    assert same(1, 1.0) and not same(False, 0) and not same("true", True)


def client(status: int, body: bytes, content_type: str = "application/json") -> tuple[httpx.Client, list[str]]:
    """A client of an app answering `status` and `body`, and the Authorization headers it got."""
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization", ""))
        return httpx.Response(status, content=body, headers={"content-type": content_type})

    return httpx.Client(transport=httpx.MockTransport(answer), base_url="http://app"), seen


def test_fetch_features() -> None:
    app, seen = client(200, b'{"new_feature": false}')
    assert fetch_features(app, "tok") == ({"new_feature": False}, '{"new_feature": false}')
    assert seen == ["Bearer tok"]
    for status, body, kind, said in [
        (401, b"{}", "application/json", "answered HTTP 401: the admin token was refused"),
        (200, b"<html>", "text/html", "answered HTTP 200 with text/html, not JSON"),
        (200, b"[1]", "application/json", "answered JSON list, not an object of flags"),
        (503, b"{}", "application/json", "answered HTTP 503"),
    ]:
        with pytest.raises(FeaturesUnreadable, match=said):
            fetch_features(client(status, body, kind)[0], "tok")
    anonymous, seen = client(403, b"{}")
    with pytest.raises(FeaturesUnreadable, match="HTTP 403: no \\[app\\] admin_token to send"):
        fetch_features(anonymous, None)
    assert seen == [""]


def test_pool_figures_and_capacity() -> None:
    from_file = pool_of({POOL_SIZE: None}, {POOL_SIZE: 30})
    assert from_file.describe() == "pool 30 (.env) + overflow 10 (SQLAlchemy default)"
    assert pool_of({}, None).describe() == "pool 5 (default, no .env read) + overflow 10 (default, no .env read)"
    configured = pool_of({POOL_SIZE: 8}, {POOL_SIZE: 30})
    assert configured.most == 18 and configured.size.source == "[app] pool_size"
    total, lines = capacity({"app1": from_file, "app2": configured}, instances=2, workers=4)
    assert total == 2 * 4 * 40 + 2 * 4 * 18
    assert (
        lines[1]
        == "app2: 2 instance(s) x 4 worker(s) x pool 8 ([app] pool_size) + overflow 10 (SQLAlchemy default) = 144"
    )
