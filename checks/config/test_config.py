"""Configuration Management: the app's environment file on each app host, and its feature flags.

The .env is read on the host by key name only: its values never leave the host (not in the
evidence, not in a message). The flags are read from the app itself (`GET /api/v1/features`,
the manual's "Verify feature is enabled"), flag by flag against `[app] features`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from fixtures.config_env import env_file_on
from fixtures.http import App
from fixtures.measure import CheckRun, check
from fixtures.service import AppPlace
from probes.config_env import KeyState, judge
from probes.features import FeaturesUnreadable, compare, fetch_features, shown
from sergas.config import AppConfig, Environment
from sergas.status import unknown
from sergas.targets import short_reason

if TYPE_CHECKING:
    from lightkube import Client

pytestmark = [pytest.mark.daily, pytest.mark.config]


@check(
    "app.config_env",
    "The app's .env is a regular file of the app's user, closed to others (0640 at most), every required key set",
)
def test_config_env(app_place: AppPlace, check: CheckRun, environment: Environment) -> None:
    app = app_place.config
    if app_place.cluster is not None:
        _config_in_kubernetes(app_place.cluster, app, check)
        return
    assert app_place.host is not None
    if app.env_file is None:
        pytest.skip("no .env to check: set [app] env_file (and env_keys, user)")
    found = env_file_on(app_place.host, app.env_file, environment.command_timeout, app.env_keys)
    check.attach(f"{found.path} (key names only)", found.evidence())
    findings = judge(
        found.path,
        found.kind,
        found.owner,
        found.mode,
        found.keys,
        user=app.user,
        required=app.env_keys,
        reader=found.unreadable_by,
    )
    if found.keys is not None:
        check.record("unset_keys", sum(1 for name in app.env_keys if found.keys.get(name) is not KeyState.PRESENT))
    check.findings.extend(findings)


def _config_in_kubernetes(cluster: Client, app: AppConfig, check: CheckRun) -> None:
    """Kubernetes: the app's variables come from its ConfigMaps and Secrets; every required key
    must be in one of them. Key names only: a Secret's values are never decoded."""
    from probes.kubernetes import KubeError, read_config_keys

    if not (app.configmaps or app.secrets):
        pytest.skip("no ConfigMap or Secret to check: set [app] configmaps and secrets (and env_keys)")
    try:
        found = read_config_keys(cluster, app.namespace, app.configmaps, app.secrets)
    except KubeError as exc:
        raise unknown(str(exc)) from None
    check.attach("keys (names only)", "\n".join(f"{where}: {', '.join(sorted(keys))}" for where, keys in found.items()))
    present = set().union(*found.values())
    states = {name: KeyState.PRESENT if name in present else KeyState.MISSING for name in app.env_keys}
    check.record("unset_keys", sum(1 for state in states.values() if state is not KeyState.PRESENT))
    where = ", ".join(found)
    check.findings.extend(
        judge(
            where, KUBERNETES_SOURCE, None, None, states, user=None, required=app.env_keys, kinds=(KUBERNETES_SOURCE,)
        )
    )


KUBERNETES_SOURCE = "ConfigMap or Secret"


@check("app.feature_flags", "The app's feature flags (GET /api/v1/features) are those [app] features expects")
def test_feature_flags(app: App, check: CheckRun) -> None:
    expected = app.config.features
    if expected is None:
        pytest.skip("no expected flags: set [app] features (e.g. { new_feature = false })")
    url = app.config.url.rstrip("/")
    try:
        flags, body = fetch_features(app.client, app.config.admin_token)
    except httpx.TimeoutException as exc:
        raise unknown(f"no answer from {url}: {short_reason(exc)}") from None
    except httpx.TransportError as exc:
        raise unknown(f"cannot reach {url}: {short_reason(exc)}") from None
    except FeaturesUnreadable as exc:
        raise unknown(str(exc)) from None
    check.attach("GET /api/v1/features", body[:4000])
    found = compare(expected, flags)
    rows = [
        f"{name} = {shown(flags[name]) if name in flags else '(absent)'} (expected {shown(want)})"
        for name, want in expected.items()
    ]
    rows += [f"{name} = {shown(value)} (not in [app] features)" for name, value in found.extra.items()]
    check.attach("flags, expected and answered", "\n".join(rows))
    check.record("differing_flags", len(found.differing) + len(found.missing))
    for name, want, actual in found.differing:
        check.critical(f"flag {name} is {shown(actual)}, expected {shown(want)}")
    if found.missing:
        check.critical(f"flag(s) missing from the app's answer: {', '.join(found.missing)}")
    if not found.differing and not found.missing:
        more = f"; {len(found.extra)} more the file does not list" if found.extra else ""
        check.ok(f"{len(expected)} flag(s) as expected{more}")
