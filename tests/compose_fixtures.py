"""Fixtures for tests that need the compose variant of the sandbox app on a private Docker
engine (sandbox/docker.py, sandbox/compose.py). Both are module-scoped: started by the first
test of a module that asks, stopped after its last; skipped with the reason where no engine can
run (not root, Docker not installed)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from sandbox import Sandbox
from sandbox.compose import ComposeApp
from sandbox.docker import DockerEngine, build_image


@pytest.fixture(scope="module")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    """A started private `DockerEngine` holding the app's image (`sergas-sandbox-app:local`)."""
    reason = DockerEngine.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    engine = DockerEngine(tmp_path_factory.mktemp("docker"))
    try:
        engine.start()
        build_image(engine)
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="module")
def compose_app(sandbox: Sandbox, docker_engine: DockerEngine) -> Iterator[ComposeApp]:
    """The sandbox's app as compose project `sergas`, service `app`, 2 healthy replicas on
    `docker_engine`, reaching the sandbox's PostgreSQL and Redis. Its SANDBOX_DOCKER_HOST,
    SANDBOX_COMPOSE_PROJECT_DIR and SANDBOX_COMPOSE_APP_URL are exported while it runs."""
    app = ComposeApp.for_sandbox(sandbox.require_state(), docker_engine)
    saved = {key: os.environ.get(key) for key in app.env_vars()}
    try:
        app.up()
        os.environ.update(app.env_vars())
        yield app
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        app.down()
