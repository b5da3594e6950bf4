"""runtime = "kubernetes": app.service_running and app.replicas read through the API.

No cluster can run here (no kube-apiserver package): these tests REPLAY the Kubernetes API
(sandbox/kube_replay.py serves Deployment, ReplicaSet, Pod, HorizontalPodAutoscaler, ConfigMap
and Secret objects shaped as the API reference documents them, over HTTPS with a bearer token),
healthy and with a Deployment short of replicas, a CrashLoopBackOff pod, an ImagePullBackOff
rollout, no autoscaler, and the autoscaler at its maximum."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.kube_replay import APP, NAMESPACE, KubeReplay
from tests.conftest import DEMO_ENV, Run, RunChecks

PATHS = ("daily/test_app.py", "scaling/test_scaling.py")
ARGS = ("-k", "service_running or replicas")
TARGET = f"{NAMESPACE}/{APP}"


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeReplay]:
    with KubeReplay(tmp_path_factory.mktemp("kube")) as server:
        yield server


def kubernetes_env(kubeconfig: Path, autoscale: str = "{ min = 2, max = 10, cpu_percent = 70 }") -> str:
    app = (
        "[app]\n"
        'url = "${SANDBOX_APP_URL}"\n'
        'runtime = "kubernetes"\n'
        f'service = "{APP}"\n'
        f'namespace = "{NAMESPACE}"\n'
        f'kubeconfig = "{kubeconfig}"\n'
        f"autoscale = {autoscale}\n"
    )
    return re.sub(r"(?ms)^\[app\]\n.*?(?=^\[)", lambda _: app + "\n", DEMO_ENV, count=1)


def run(run_checks: RunChecks, replay: KubeReplay, tmp_path: Path, token: str | None = None) -> Run:
    kubeconfig = replay.kubeconfig(tmp_path / "kubeconfig", token)
    return run_checks(*PATHS, env=kubernetes_env(kubeconfig), args=ARGS)


def test_healthy_deployment(run_checks: RunChecks, replay: KubeReplay, tmp_path: Path) -> None:
    result = run(run_checks, replay, tmp_path)
    assert result.status("app.service_running") == "ok", result.output
    assert result.message("app.service_running").startswith(
        f"{TARGET}: 3/3 kubernetes instance(s) of {APP} running and ready"
    )
    assert result.status("app.replicas") == "ok"
    assert result.message("app.replicas") == f"{TARGET}: 3 of 3 replicas ready"


@pytest.mark.parametrize(
    ("fault", "check_id", "status", "message"),
    [
        ("short_of_replicas", "app.replicas", "critical", r"2 of 3 replicas ready: .*"),
        ("crash_loop", "app.service_running", "critical", r"sergas-app-\S+ CrashLoopBackOff, \d+ restarts"),
        ("image_pull_backoff", "app.service_running", "critical", r"sergas-app-\S+ ImagePullBackOff, 0 restarts"),
        ("no_autoscaler", "app.replicas", "critical", r"no HorizontalPodAutoscaler targets deployment sergas-app .*"),
        (
            "at_max_replicas",
            "app.replicas",
            "warning",
            r"running at the autoscaler's maximum \(10 replicas\): no headroom",
        ),
    ],
)
def test_faulty_deployment(
    run_checks: RunChecks, replay: KubeReplay, tmp_path: Path, fault: str, check_id: str, status: str, message: str
) -> None:
    with replay.fault(fault):
        result = run(run_checks, replay, tmp_path)
    assert result.status(check_id) == status, result.message(check_id)
    assert re.fullmatch(f"{re.escape(TARGET)}: {message}", result.message(check_id)), result.message(check_id)


def test_refused_token_is_unknown_with_the_reason(run_checks: RunChecks, replay: KubeReplay, tmp_path: Path) -> None:
    result = run(run_checks, replay, tmp_path, token="not-the-token")
    assert result.status("app.service_running") == "unknown"
    assert result.message("app.service_running").startswith(f"{TARGET}: ")
    assert "401" in result.message("app.service_running") or "Unauthorized" in result.message("app.service_running")
    assert "not-the-token" not in result.output
