"""The app's feature flags (`GET /api/v1/features`, a JSON object of flag: value) against the
flags the environment file expects (`[app] features`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

FEATURES_PATH = "/api/v1/features"


class FeaturesUnreadable(Exception):
    """The app's answer says nothing about its flags (refused, not JSON, not an object): one line."""


def fetch_features(client: httpx.Client, admin_token: str | None) -> tuple[dict[str, Any], str]:
    """The app's flags and the body they were read from. The admin token, when the environment
    has one, goes in the Authorization header (Bearer). Transport errors propagate
    (httpx.TransportError); an answer that holds no flags raises FeaturesUnreadable."""
    headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
    response = client.get(FEATURES_PATH, headers=headers)
    if response.status_code in (401, 403):
        token = "the admin token was refused" if admin_token else "no [app] admin_token to send"
        raise FeaturesUnreadable(f"{FEATURES_PATH} answered HTTP {response.status_code}: {token}")
    if response.status_code != 200:
        raise FeaturesUnreadable(f"{FEATURES_PATH} answered HTTP {response.status_code}")
    try:
        body = json.loads(response.text)
    except (ValueError, RecursionError):
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        raise FeaturesUnreadable(f"{FEATURES_PATH} answered HTTP 200 with {kind}, not JSON") from None
    if not isinstance(body, dict):
        raise FeaturesUnreadable(f"{FEATURES_PATH} answered JSON {type(body).__name__}, not an object of flags")
    return body, response.text


@dataclass(frozen=True)
class FlagComparison:
    """The app's flags held against the expected ones."""

    differing: list[tuple[str, Any, Any]]  # (flag, expected, the app's)
    missing: list[str]  # expected, absent from the app's answer
    extra: dict[str, Any]  # the app's, not expected (evidence only)


def compare(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> FlagComparison:
    """Flag by flag; a value matches only one of the same JSON type (`true` is not `1`)."""
    differing = [
        (name, want, actual[name]) for name, want in expected.items() if name in actual and not same(want, actual[name])
    ]
    missing = [name for name in expected if name not in actual]
    extra = {name: value for name, value in actual.items() if name not in expected}
    return FlagComparison(differing, missing, extra)


def same(expected: Any, actual: Any) -> bool:
    """Equal as JSON values: `true` is not `1` (Python's True == 1), `1` is `1.0`."""
    return isinstance(expected, bool) == isinstance(actual, bool) and bool(expected == actual)


def shown(value: Any) -> str:
    """A flag value as JSON writes it: `false`, `"beta"`, `3`."""
    return json.dumps(value)
