"""sergas.targets: one client per target, and one connect timeout per unreachable target per run."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from sergas.status import CheckOutcome, Status
from sergas.targets import Target, Targets, address_label, short_reason


@pytest.fixture
def refused_port() -> int:
    """A port on 127.0.0.1 nothing listens on: bound, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class Client:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Connector:
    """A connect function that counts its calls; `fail` is what it raises instead."""

    def __init__(self, fail: Callable[[], object] | None = None) -> None:
        self.calls = 0
        self.fail = fail
        self.made: list[Client] = []

    def __call__(self) -> Client:
        self.calls += 1
        if self.fail is not None:
            self.fail()
        self.made.append(Client())
        return self.made[-1]


def target(
    connect: Callable[[], Client], key: str = "postgresql://sergas@db1:5432/sergas", **kw: object
) -> Target[Client]:
    return Target("postgres", key, "db1:5432/sergas", connect, **kw)  # type: ignore[arg-type]


def socket_connect(port: int) -> Callable[[], object]:
    def connect() -> object:
        return socket.create_connection(("127.0.0.1", port), timeout=2)

    return connect


def outcome_of(targets: Targets, tgt: Target[Client]) -> CheckOutcome:
    with pytest.raises(CheckOutcome) as raised:
        targets.client(tgt)
    return raised.value


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "process-only"])
def test_unreachable_target_fails_once(tmp_path: Path, refused_port: int, shared: bool) -> None:
    key = f"postgresql://sergas@127.0.0.1:{refused_port}/sergas"
    connector = Connector(socket_connect(refused_port))
    targets = Targets(tmp_path if shared else None)
    first = outcome_of(targets, target(connector, key))
    assert (first.status, first.message) == (Status.UNKNOWN, f"cannot connect to {key}: connection refused")
    second = outcome_of(targets, target(connector, key))
    assert (second.status, second.message) == (first.status, first.message)
    assert connector.calls == 1
    assert len(list(tmp_path.glob("unreachable-*.json"))) == (1 if shared else 0)


def test_other_processes_know_the_failure(tmp_path: Path, refused_port: int) -> None:
    key = f"redis://127.0.0.1:{refused_port}/0"
    first = outcome_of(Targets(tmp_path), target(Connector(socket_connect(refused_port)), key))
    connector = Connector()
    other = outcome_of(Targets(tmp_path), target(connector, key))
    assert other.message == first.message == f"cannot connect to {key}: connection refused"
    assert connector.calls == 0
    # A target with another key is not affected.
    assert isinstance(Targets(tmp_path).client(target(Connector(), "redis://127.0.0.1:1/0")), Client)


def test_client_is_connected_once_and_reused(tmp_path: Path) -> None:
    connector = Connector()
    targets = Targets(tmp_path)
    client = targets.client(target(connector))
    assert targets.client(target(connector)) is client
    assert connector.calls == 1


def test_dead_client_is_replaced() -> None:
    connector = Connector()
    targets = Targets(None)
    dead = targets.client(target(connector, alive=lambda c: False))
    fresh = targets.client(target(connector, alive=lambda c: False))
    assert fresh is not dead and connector.calls == 2
    assert targets.client(target(connector, alive=lambda c: True)) is fresh
    assert connector.calls == 2


def test_close_closes_every_client_and_forgets_them() -> None:
    def broken_close() -> None:
        raise OSError("already closed")

    connector = Connector()
    targets = Targets(None)
    first = targets.client(target(connector, "a"))
    second = targets.client(target(connector, "b"))
    second.close = broken_close  # type: ignore[method-assign]
    targets.close()
    assert first.closed
    assert targets.client(target(connector, "a")) is not first


class PsycopgError(Exception):
    """Shaped like psycopg.OperationalError: a long message, no OSError cause."""


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (
            PsycopgError(
                'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused\n'
                "\tIs the server running on that host and accepting TCP/IP connections?"
            ),
            "connection refused",
        ),
        (PsycopgError('connection to server at "db1" failed: timeout expired'), "timeout expired"),
        (
            PsycopgError(
                'connection failed: connection to server at "db1" (10.0.0.1), port 5432 failed: '
                'FATAL:  password authentication failed for user "sergas"'
            ),
            'FATAL:  password authentication failed for user "sergas"',
        ),
        (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
        (socket.gaierror(-2, "Name or service not known"), "name or service not known"),
        (ValueError("[Errno 113] No route to host"), "no route to host"),
        (ValueError("Timeout expired. Try again later."), "timeout expired"),
        (ValueError("SSL handshake failed"), "SSL handshake failed"),
        (TimeoutError(), "TimeoutError"),  # no message: the class name, not "timeoutError"
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)
def test_short_reason(exc: BaseException, reason: str) -> None:
    assert short_reason(exc) == reason


def test_short_reason_finds_the_wrapped_os_error() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as cause:
            raise RuntimeError("redis said something long") from cause
    except RuntimeError as wrapped:
        assert short_reason(wrapped) == "connection refused"


@pytest.mark.parametrize(
    ("url", "port", "label"),
    [
        ("postgresql://sergas:pw@db1/sergas", 5432, "db1:5432"),
        ("redis://127.0.0.1:6380/0", 6379, "127.0.0.1:6380"),
        ("redis://[::1]:6380/0", 6379, "[::1]:6380"),
        ("http://app1", 80, "app1:80"),
        ("", 9090, "localhost:9090"),
    ],
)
def test_address_label(url: str, port: int, label: str) -> None:
    assert address_label(url, port) == label
