"""What a runtime says about the app's service, in one shape whichever runs it.

systemd, a bare process, Docker Compose and Kubernetes each describe the service in their own
words; each runtime's reader (probes.runtimes for the host-bound ones, probes.kubernetes for the
API) turns them into a `ServiceState`: what the runtime wants (`desired` instances, an
`Autoscaler`) and the `Instance`s it has, each with the runtime's own verdict. Checks judge the
state (`judge_instances`), never the runtime's raw output.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Instance:
    """One running (or not) copy of the service: a unit's main process, a container, a pod."""

    name: str  # a unit, "pid 123", a container or a pod name: stable enough to read in a report
    running: bool
    state: str  # in the runtime's own words: "active (running)", "exited (1)", "CrashLoopBackOff"
    ready: bool | None = None  # healthcheck / readiness; None where the runtime has none
    restarts: int | None = None  # as the runtime counts them (NRestarts, RestartCount, restartCount)
    started_at: float | None = None  # epoch seconds of the current start
    pid: int | None = None  # the main process, where the runtime tells it (host-bound runtimes)
    last_restart_at: float | None = None  # when it last restarted (Kubernetes lastState), if known
    # Why it is not running or not ready, in the runtime's words (a waiting reason, a health log line).
    reason: str = ""


@dataclass(frozen=True)
class Autoscaler:
    """A HorizontalPodAutoscaler (or its equivalent) over the service."""

    min_replicas: int
    max_replicas: int
    cpu_percent: int | None  # target average CPU utilization, when it scales on CPU
    current_replicas: int | None = None
    desired_replicas: int | None = None


@dataclass(frozen=True)
class ServiceState:
    """The service as one runtime sees it."""

    runtime: str  # "systemd", "process", "docker-compose", "kubernetes"
    name: str  # unit, process pattern, compose service, Deployment
    instances: tuple[Instance, ...]
    desired: int | None = None  # instances the runtime is asked for, where it is asked for a number
    ready_replicas: int | None = None  # as the runtime's controller counts them (Deployment status)
    available_replicas: int | None = None
    autoscaler: Autoscaler | None = None
    detail: dict[str, str] = field(default_factory=dict)  # runtime facts worth a line in the evidence


# Kubernetes waiting reasons that mean the pod will not come up by itself (kubectl shows them in
# STATUS): judged critical whatever the replica count says.
STUCK_REASONS = frozenset(
    {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "InvalidImageName"}
)
