"""What the Kubernetes API says about the app's Deployment, read with lightkube.

`read_deployment` turns a Deployment, the pods of its selector and the HorizontalPodAutoscaler
(autoscaling/v2) that targets it into a `ServiceState`, judging each pod as kubectl shows it:
Running is the phase, ready is the pod's Ready condition, restarts the sum of its containers'
restartCount, and the reason a container's waiting (CrashLoopBackOff, ImagePullBackOff) or
terminated reason. `read_config_keys` lists the key *names* of ConfigMaps and Secrets; a Secret's
values are never decoded, logged or kept.

Every failure (no kubeconfig, 401, 403, 404, refused, timed out, an answer that is not the API's)
raises `KubeError` with a one-line reason; callers turn it into `unknown`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator

import httpx2
import msgspec
from lightkube import ApiError, Client, ConfigError, KubeConfig, operators
from lightkube.core.client import LabelSelector as Labels
from lightkube.core.selector import build_selector
from lightkube.models.autoscaling_v2 import HorizontalPodAutoscalerSpec
from lightkube.models.core_v1 import ContainerStatus
from lightkube.models.meta_v1 import LabelSelector
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler
from lightkube.resources.core_v1 import ConfigMap, Pod, Secret

from probes.service import Autoscaler, Instance, ServiceState
from sergas.targets import short_reason

# What an answer that is not the API's raises through lightkube (besides httpx2's HTTP errors):
# msgspec when it does not decode into the resource, KeyError/ValueError from lightkube's own
# handling of an error answer without a JSON content type or body, ConfigError when the token
# file of an in-cluster config is gone.
_API_FAILURES = (msgspec.MsgspecError, ConfigError, KeyError, ValueError)


class KubeError(Exception):
    """The API could not be read; the message is one line. `status` is the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def connect(kubeconfig: str | None, connect_timeout: float, timeout: float) -> Client:
    """A client of the cluster of `kubeconfig` (its current context), or of lightkube's
    default: the in-cluster service account (a CronJob), else $KUBECONFIG, else ~/.kube/config."""
    where = kubeconfig or "the default kubeconfig (in-cluster, $KUBECONFIG or ~/.kube/config)"
    try:
        config = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
        return Client(config, timeout=httpx2.Timeout(timeout, connect=connect_timeout), trust_env=False)
    except ConfigError as exc:  # no file, no such context, ...
        raise KubeError(f"cannot use {where}: {_line(exc)}") from None
    except OSError as exc:  # a certificate file named in it
        raise KubeError(
            f"cannot use {where}: {exc.strerror or _line(exc)}: {exc.filename or ''}".rstrip(": ")
        ) from None
    # The rest is a file that is no kubeconfig (YAML, its shape, a user missing): lightkube
    # raises whatever its parsing meets.
    except Exception as exc:
        raise KubeError(f"cannot use {where}: not a valid kubeconfig ({type(exc).__name__}: {_line(exc)})") from None


@contextlib.contextmanager
def _api(what: str) -> Iterator[None]:
    """Turn whatever a call of `what` ("get deployment sergas-app") raises into a KubeError."""
    try:
        yield
    except ApiError as exc:
        code, reason = exc.status.code, exc.status.reason or ""
        said = "token refused" if code == 401 else _line(exc.status.message)
        raise KubeError(f"{what}: {said} (HTTP {code} {reason})".replace(" )", ")"), code) from None
    except httpx2.HTTPStatusError as exc:
        code = exc.response.status_code
        kind = exc.response.headers.get("content-type", "no content type").split(";")[0]
        raise KubeError(f"{what}: HTTP {code} with {kind}: not the Kubernetes API's answer", code) from None
    except httpx2.TimeoutException:
        raise KubeError(f"{what}: no answer in time (timed out)") from None
    except httpx2.HTTPError as exc:
        raise KubeError(f"{what}: {short_reason(exc)}") from None
    except _API_FAILURES as exc:
        raise KubeError(f"{what}: not the Kubernetes API's answer ({_line(exc)})") from None


def _line(value: object) -> str:
    text = str(value).strip()
    return (text.splitlines()[0] if text else type(value).__name__)[:300]


def _epoch(moment: dt.datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def selector_of(selector: LabelSelector) -> Labels:
    """A Deployment's spec.selector as lightkube's `labels=` (matchLabels and matchExpressions)."""
    labels: Labels = {str(k): str(v) for k, v in (selector.matchLabels or {}).items()}
    for requirement in selector.matchExpressions or []:
        values = requirement.values or []
        operator = requirement.operator
        if operator == "In":
            labels[requirement.key] = operators.in_(values)
        elif operator == "NotIn":
            labels[requirement.key] = operators.not_in(values)
        elif operator in ("Exists", "DoesNotExist"):
            labels[requirement.key] = operators.exists() if operator == "Exists" else operators.not_exists()
        else:
            raise KubeError(f"unknown selector operator {operator!r} on {requirement.key}")
    return labels


def read_deployment(client: Client, namespace: str, name: str) -> ServiceState:
    """The Deployment `name` in `namespace` as a ServiceState: its replicas, one Instance per pod
    of its selector (`kubectl get pods -l ...`), and the HPA that scales it (None without one)."""
    with _api(f"get deployment {namespace}/{name}"):
        deployment = client.get(Deployment, name, namespace=namespace)
    spec, status = deployment.spec, deployment.status
    labels = selector_of(spec.selector)
    if not labels:
        raise KubeError(f"deployment {namespace}/{name} has an empty selector: its pods cannot be told apart")
    with _api(f"list pods of deployment {namespace}/{name}"):
        pods = sorted(client.list(Pod, namespace=namespace, labels=labels), key=_pod_name)
    with _api(f"list horizontalpodautoscalers in {namespace}"):
        autoscalers = list(client.list(HorizontalPodAutoscaler, namespace=namespace))
    detail = {"namespace": namespace, "selector": build_selector(labels)}
    for condition in (status.conditions if status else None) or []:
        detail[f"condition {condition.type}"] = (
            f"{condition.status} ({condition.reason or '-'}) {condition.message or ''}"
        )
    detail.update(_pod_details(pods))
    return ServiceState(
        runtime="kubernetes",
        name=name,
        instances=tuple(instance_of(pod) for pod in pods),
        desired=1 if spec.replicas is None else spec.replicas,  # the API's default
        # The API leaves out a count that is zero.
        ready_replicas=(status.readyReplicas or 0) if status else 0,
        available_replicas=(status.availableReplicas or 0) if status else 0,
        autoscaler=_autoscaler_of(autoscalers, name),
        detail=detail,
    )


def _pod_name(pod: Pod) -> str:
    return (pod.metadata.name or "") if pod.metadata else ""


def _containers(pod: Pod) -> list[ContainerStatus]:
    return list((pod.status.containerStatuses if pod.status else None) or [])


def instance_of(pod: Pod) -> Instance:
    """One pod, as `kubectl get pods` judges it (STATUS, READY, RESTARTS)."""
    status, containers = pod.status, _containers(pod)
    phase = (status.phase if status else None) or "Unknown"
    conditions = {c.type: c for c in (status.conditions if status else None) or []}
    ready_condition = conditions.get("Ready")
    ready = ready_condition is not None and ready_condition.status == "True"
    waiting = next((c.state.waiting.reason for c in containers if c.state and c.state.waiting), None)
    terminated = next((c.state.terminated.reason for c in containers if c.state and c.state.terminated), None)
    reason = waiting or terminated or (status.reason if status else None) or ""
    if not reason and not ready:
        unready = ready_condition or conditions.get("PodScheduled")
        reason = (unready.reason or "") if unready is not None else ""
    deleting = pod.metadata is not None and pod.metadata.deletionTimestamp is not None
    running_since = [c.state.running.startedAt for c in containers if c.state and c.state.running]
    started = max((t for t in running_since if t is not None), default=status.startTime if status else None)
    finished = [c.lastState.terminated.finishedAt for c in containers if c.lastState and c.lastState.terminated]
    return Instance(
        name=_pod_name(pod),
        running=phase == "Running",
        state="Terminating" if deleting else (waiting or terminated or (status.reason if status else None) or phase),
        ready=ready,
        restarts=sum(c.restartCount for c in containers) if containers else None,
        started_at=_epoch(started),
        last_restart_at=_epoch(max((t for t in finished if t is not None), default=None)),
        reason=reason,
    )


def _pod_details(pods: Iterable[Pod]) -> dict[str, str]:
    """Why a pod's containers wait or last ended, in the kubelet's words (evidence)."""
    detail = {}
    for pod in pods:
        lines = []
        for c in _containers(pod):
            if c.state and c.state.waiting and c.state.waiting.reason:
                lines.append(f"{c.name} waiting {c.state.waiting.reason}: {c.state.waiting.message or ''}".rstrip(": "))
            if c.lastState and c.lastState.terminated:
                ended = c.lastState.terminated
                lines.append(f"{c.name} last ended {ended.reason or '-'} (exit code {ended.exitCode})")
        if lines:
            detail[f"pod {_pod_name(pod)}"] = "; ".join(lines)
    return detail


def _autoscaler_of(autoscalers: Iterable[HorizontalPodAutoscaler], name: str) -> Autoscaler | None:
    """The HPA whose scaleTargetRef names Deployment `name` (as `kubectl autoscale` makes it)."""
    for hpa in autoscalers:
        spec: HorizontalPodAutoscalerSpec | None = hpa.spec
        if spec is None:
            continue
        target = spec.scaleTargetRef
        if target.kind != "Deployment" or target.name != name:
            continue
        cpu = next(
            (
                m.resource.target.averageUtilization
                for m in spec.metrics or []
                if m.type == "Resource" and m.resource is not None and m.resource.name == "cpu"
            ),
            None,
        )
        return Autoscaler(
            min_replicas=1 if spec.minReplicas is None else spec.minReplicas,  # the API's default
            max_replicas=spec.maxReplicas,
            cpu_percent=cpu,
            current_replicas=hpa.status.currentReplicas if hpa.status else None,
            desired_replicas=hpa.status.desiredReplicas if hpa.status else None,
        )
    return None


def count_in_log(client: Client, namespace: str, pod: str, text: str, since_s: int) -> int:
    """Lines of the pod's log (its only or first container) of the last `since_s` seconds that
    contain `text`: the log is streamed and counted, never kept."""
    with _api(f"read the log of pod {namespace}/{pod}"):
        return sum(1 for line in client.log(pod, namespace=namespace, since=max(since_s, 1)) if text in line)


def read_config_keys(
    client: Client, namespace: str, configmap_names: Iterable[str], secret_names: Iterable[str]
) -> dict[str, set[str]]:
    """The key names of each ConfigMap (`configmap/<name>`) and Secret (`secret/<name>`): data
    and binaryData keys. A Secret's values stay base64 in the answer: never decoded or kept."""
    keys: dict[str, set[str]] = {}
    for name in configmap_names:
        with _api(f"get configmap {namespace}/{name}"):
            configmap = client.get(ConfigMap, name, namespace=namespace)
        keys[f"configmap/{name}"] = set(configmap.data or {}) | set(configmap.binaryData or {})
    for name in secret_names:
        with _api(f"get secret {namespace}/{name}"):
            secret = client.get(Secret, name, namespace=namespace)
        keys[f"secret/{name}"] = set(secret.data or {})
    return keys
