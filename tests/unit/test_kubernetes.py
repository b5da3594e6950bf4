"""probes.kubernetes against a replay of the Kubernetes API (sandbox/kube_replay.py): no cluster
can run here, so a local HTTPS server answers lightkube's read paths with the objects the API
reference documents (Deployment, ReplicaSet, Pod, HorizontalPodAutoscaler v2, ConfigMap, Secret),
from one healthy scenario with its faults switched on per test. In-process and fast."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lightkube import Client

from probes.kubernetes import KubeError, connect, read_config_keys, read_deployment
from probes.service import STUCK_REASONS, Autoscaler
from sandbox import liars
from sandbox.kube_replay import APP, NAMESPACE, SECRET, KubeReplay, write_kubeconfig


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeReplay]:
    with KubeReplay(tmp_path_factory.mktemp("kube")) as server:
        yield server


@pytest.fixture(autouse=True)
def healthy(replay: KubeReplay) -> Iterator[None]:
    """Each test starts from the healthy scenario and leaves it so."""
    yield
    replay.faults.clear()
    replay.forbidden.clear()


@pytest.fixture
def client(replay: KubeReplay, tmp_path: Path) -> Iterator[Client]:
    """A client through a kubeconfig naming the replay's CA (TLS verified) and its token."""
    client = connect(str(replay.kubeconfig(tmp_path / "kubeconfig")), 2, 5)
    yield client
    client.close()


def test_healthy_deployment(client: Client, replay: KubeReplay) -> None:
    state = read_deployment(client, NAMESPACE, APP)
    assert (state.runtime, state.name) == ("kubernetes", APP)
    assert (state.desired, state.ready_replicas, state.available_replicas) == (3, 3, 3)
    assert len(state.instances) == 3, "the worker's pod is not the app's: the selector leaves it out"
    assert all(i.name.startswith(f"{APP}-") for i in state.instances)
    assert all(
        (i.running, i.ready, i.restarts, i.state, i.reason) == (True, True, 0, "Running", "") for i in state.instances
    )
    assert all(i.started_at is not None and i.last_restart_at is None for i in state.instances)
    assert state.autoscaler == Autoscaler(2, 10, 70, current_replicas=3, desired_replicas=3)
    assert state.detail["selector"] == f"app={APP}"
    assert state.detail["condition Available"].startswith("True (MinimumReplicasAvailable)")
    # The pods were listed through the Deployment's selector, in its namespace.
    assert f"GET /api/v1/namespaces/{NAMESPACE}/pods?labelSelector=app%3D{APP}" in replay.requests


def test_short_of_replicas(client: Client, replay: KubeReplay) -> None:
    with replay.fault("short_of_replicas"):
        state = read_deployment(client, NAMESPACE, APP)
    assert (state.desired, state.ready_replicas, state.available_replicas) == (3, 2, 2)
    (pending,) = [i for i in state.instances if not i.running]
    assert (pending.state, pending.ready, pending.reason, pending.restarts) == ("Pending", False, "Unschedulable", None)
    assert state.detail["condition Available"].startswith("False (MinimumReplicasUnavailable)")


def test_crash_loop(client: Client, replay: KubeReplay) -> None:
    with replay.fault("crash_loop"):
        state = read_deployment(client, NAMESPACE, APP)
    (crashing,) = [i for i in state.instances if not i.ready]
    assert crashing.running, "a pod in CrashLoopBackOff is in phase Running, as kubectl shows it"
    assert (crashing.state, crashing.reason, crashing.restarts) == ("CrashLoopBackOff", "CrashLoopBackOff", 7)
    assert crashing.reason in STUCK_REASONS
    assert crashing.last_restart_at is not None and crashing.started_at is not None
    assert crashing.last_restart_at > crashing.started_at
    assert state.detail[f"pod {crashing.name}"].startswith("app waiting CrashLoopBackOff: back-off 5m0s")
    assert state.detail[f"pod {crashing.name}"].endswith("app last ended Error (exit code 1)")
    assert (state.ready_replicas, state.available_replicas) == (2, 2)


def test_image_pull_backoff(client: Client, replay: KubeReplay) -> None:
    with replay.fault("image_pull_backoff"):
        state = read_deployment(client, NAMESPACE, APP)
    assert (state.desired, state.ready_replicas, len(state.instances)) == (3, 3, 4), "a rollout: old pods stay"
    (stuck,) = [i for i in state.instances if not i.ready]
    assert (stuck.running, stuck.state, stuck.reason) == (False, "ImagePullBackOff", "ImagePullBackOff")
    assert 'Back-off pulling image "registry.example.com/sergas/app:1.4.3"' in state.detail[f"pod {stuck.name}"]


def test_no_autoscaler(client: Client, replay: KubeReplay) -> None:
    with replay.fault("no_autoscaler"):
        state = read_deployment(client, NAMESPACE, APP)
    assert state.autoscaler is None, "the worker's HPA does not target the app's Deployment"


def test_at_max_replicas(client: Client, replay: KubeReplay) -> None:
    with replay.fault("at_max_replicas"):
        state = read_deployment(client, NAMESPACE, APP)
    assert state.autoscaler == Autoscaler(2, 10, 70, current_replicas=10, desired_replicas=10)
    assert (state.desired, state.ready_replicas, len(state.instances)) == (10, 10, 10)


def test_config_keys_never_hold_secret_values(client: Client) -> None:
    keys = read_config_keys(client, NAMESPACE, ["sergas-config"], ["sergas-secrets"])
    assert keys == {
        "configmap/sergas-config": {"LOG_LEVEL", "DATABASE_POOL_SIZE", "DATABASE_MAX_OVERFLOW", "ZOHO_API_DOMAIN"},
        "secret/sergas-secrets": set(SECRET),
    }
    assert not any(value in repr(keys) for value in SECRET.values())


@pytest.mark.parametrize(
    ("call", "status", "message"),
    [
        (
            lambda c: read_deployment(c, NAMESPACE, "sergas-api"),
            404,
            f'get deployment {NAMESPACE}/sergas-api: deployments.apps "sergas-api" not found (HTTP 404 NotFound)',
        ),
        (
            lambda c: read_deployment(c, "default", APP),
            404,
            f'get deployment default/{APP}: deployments.apps "{APP}" not found (HTTP 404 NotFound)',
        ),
        (
            lambda c: read_config_keys(c, NAMESPACE, [], ["sergas-tls"]),
            404,
            f'get secret {NAMESPACE}/sergas-tls: secrets "sergas-tls" not found (HTTP 404 NotFound)',
        ),
    ],
)
def test_missing_objects(client: Client, call: Callable[[Client], object], status: int, message: str) -> None:
    with pytest.raises(KubeError) as caught:
        call(client)
    assert (caught.value.status, str(caught.value)) == (status, message)


def test_forbidden(client: Client, replay: KubeReplay) -> None:
    replay.forbidden.add("horizontalpodautoscalers")
    with pytest.raises(KubeError) as caught:
        read_deployment(client, NAMESPACE, APP)
    assert caught.value.status == 403
    assert str(caught.value) == (
        f"list horizontalpodautoscalers in {NAMESPACE}: horizontalpodautoscalers.autoscaling is forbidden: User"
        f' "system:serviceaccount:{NAMESPACE}:sergas-checks" cannot list resource "horizontalpodautoscalers"'
        f' in API group "autoscaling" in the namespace "{NAMESPACE}" (HTTP 403 Forbidden)'
    )


def test_token_refused(replay: KubeReplay, tmp_path: Path) -> None:
    client = connect(str(replay.kubeconfig(tmp_path / "kubeconfig", token="revoked")), 2, 5)
    with pytest.raises(KubeError) as caught:
        read_deployment(client, NAMESPACE, APP)
    assert (caught.value.status, str(caught.value)) == (
        401,
        f"get deployment {NAMESPACE}/{APP}: token refused (HTTP 401 Unauthorized)",
    )


def test_untrusted_and_insecure_tls(replay: KubeReplay, tmp_path: Path) -> None:
    untrusted = write_kubeconfig(tmp_path / "untrusted", replay.url, replay.token, None)
    with pytest.raises(KubeError, match=r"certificate verify failed"):
        read_deployment(connect(str(untrusted), 2, 5), NAMESPACE, APP)
    insecure = replay.kubeconfig(tmp_path / "insecure", insecure=True)
    assert read_deployment(connect(str(insecure), 2, 5), NAMESPACE, APP).desired == 3


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("refused", r"connection refused"),
        ("hung", r"no answer in time \(timed out\)"),
        ("garbage", r"not the Kubernetes API's answer \(.+\)"),
        ("liar", r"not the Kubernetes API's answer \(JSON is malformed: .+\)"),
    ],
)
def test_unreachable_or_not_the_api(tmp_path: Path, kind: str, expected: str) -> None:
    server = liars.refused() if kind == "refused" else liars.serving(kind)
    with server as port:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}", "token", None)
        with pytest.raises(KubeError, match=rf"^get deployment {NAMESPACE}/{APP}: {expected}$"):
            read_deployment(connect(str(kubeconfig), 1, 1), NAMESPACE, APP)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, r"Configuration file .*/kubeconfig not found"),
        ("{", r"not a valid kubeconfig \(ParserError: .+\)"),
        ('{"clusters": [], "contexts": [], "current-context": "prod"}', r"Context 'prod' not found"),
    ],
)
def test_unusable_kubeconfig(tmp_path: Path, text: str | None, expected: str) -> None:
    path = tmp_path / "kubeconfig"
    if text is not None:
        path.write_text(text)
    with pytest.raises(KubeError, match=rf"^cannot use {path}: {expected}$"):
        connect(str(path), 1, 1)
