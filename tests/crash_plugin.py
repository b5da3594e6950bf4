"""Test-only plugin: kill the xdist worker running the check named by SERGAS_TEST_CRASH."""

from __future__ import annotations

import os

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    victim = os.environ.get("SERGAS_TEST_CRASH")
    if victim and item.name == victim:
        os._exit(3)
