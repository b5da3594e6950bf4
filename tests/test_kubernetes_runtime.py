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


def kubernetes_env(
    kubeconfig: Path, autoscale: str = "{ min = 2, max = 10, cpu_percent = 70 }", extra: str = ""
) -> str:
    app = (
        "[app]\n"
        f"{extra}"
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


CONFIG_KEYS = 'configmaps = ["sergas-config"]\nsecrets = ["sergas-secrets"]\n'


@pytest.mark.parametrize(
    ("keys", "status", "message"),
    [
        ('["LOG_LEVEL", "DATABASE_URL", "ZOHO_CLIENT_SECRET"]', "ok", None),
        ('["LOG_LEVEL", "SECRET_KEY"]', "critical", "SECRET_KEY"),
    ],
)
def test_config_keys_from_configmaps_and_secrets(
    run_checks: RunChecks, replay: KubeReplay, tmp_path: Path, keys: str, status: str, message: str | None
) -> None:
    """app.config_env under Kubernetes: every env_keys name is a key of the ConfigMaps or Secrets
    named; the Secret's values (base64 in the API's answer) never reach any output."""
    kubeconfig = replay.kubeconfig(tmp_path / "kubeconfig")
    env = kubernetes_env(kubeconfig, extra=f"{CONFIG_KEYS}env_keys = {keys}\n")
    result = run_checks("config/test_config.py", env=env, args=("-k", "config_env"))
    assert result.status("app.config_env") == status, result.message("app.config_env")
    assert result.message("app.config_env").startswith(f"{TARGET}: ")
    if message is not None:
        assert message in result.message("app.config_env")
    archived = "".join(p.read_text(errors="replace") for p in result.archive.rglob("*") if p.is_file())
    for value in ("replayed-db-password", "replayed-zoho-client-secret"):
        assert value not in result.output and value not in archived


@pytest.mark.parametrize(("fault", "status"), [(None, "ok"), ("config_not_logged", "warning")])
def test_configuration_loaded_in_each_pod_log(
    run_checks: RunChecks, replay: KubeReplay, tmp_path: Path, fault: str | None, status: str
) -> None:
    """app.config_loaded reads each running pod's log since its start (pods/<name>/log, sinceSeconds)."""
    env = kubernetes_env(replay.kubeconfig(tmp_path / "kubeconfig"))
    with replay.fault(*([fault] if fault else [])):
        result = run_checks("config/test_config_loaded.py", env=env)
    assert result.status("app.config_loaded") == status, result.message("app.config_loaded")
    message = result.message("app.config_loaded")
    if fault:
        assert re.search(r"no 'Configuration loaded' in the log of pod sergas-app-\S+ since sergas-app-", message)
    else:
        assert message.startswith(f"{TARGET}: sergas-app-") and "logged its configuration after its start" in message
    assert any("/log?" in r for r in replay.requests)
