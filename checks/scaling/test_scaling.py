"""Scaling: replicas against the desired count and the autoscaler's promise; workers per instance."""

from __future__ import annotations

import pytest

from fixtures.measure import CheckRun, check
from fixtures.service import Service
from probes.service import Autoscaler, ServiceState
from sergas.config import Autoscale
from sergas.record import LabelValue
from sergas.status import unknown

pytestmark = [pytest.mark.daily, pytest.mark.app]

HOST_BOUND_SINGLE = {"process", "systemd"}


@pytest.mark.gate
@check("app.replicas", "Ready replicas equal the desired count; the autoscaler as promised, with headroom")
def test_replicas(service: Service, check: CheckRun) -> None:
    state = service.state
    if state.runtime in HOST_BOUND_SINGLE:
        pytest.skip(f"runtime {state.runtime} runs one instance per host: no replica count to hold")
    if state.desired is None:
        raise unknown("no desired replica count: set [app] replicas (docker-compose has no scale of record)")
    ready = _ready(state)
    check.record("desired", state.desired)
    check.record("ready", ready)
    if ready < state.desired:
        check.critical(f"{ready} of {state.desired} replicas ready{_not_ready(state)}")
    else:
        extra = f" ({ready - state.desired} more than desired)" if ready > state.desired else ""
        check.ok(f"{ready} of {state.desired} replicas ready{extra}")
    _judge_autoscaler(state, service.config.autoscale, check)


def _ready(state: ServiceState) -> int:
    """Ready replicas as the runtime's controller counts them (Kubernetes: availableReplicas),
    else the instances running and not failing a health or readiness check."""
    if state.available_replicas is not None:
        return state.available_replicas
    return sum(1 for i in state.instances if i.running and i.ready is not False)


def _not_ready(state: ServiceState) -> str:
    names = [f"{i.name} {i.reason or i.state}" for i in state.instances if not i.running or i.ready is False]
    return f": {', '.join(names[:3])}" if names else ""


def _judge_autoscaler(state: ServiceState, promised: Autoscale | None, check: CheckRun) -> None:
    found = state.autoscaler
    if promised is None:
        return
    if state.runtime != "kubernetes":
        check.warning(f"[app] autoscale is set, but {state.runtime} has no autoscaler")
        return
    if found is None:
        check.critical(f"no HorizontalPodAutoscaler targets deployment {state.name} ([app] autoscale promises one)")
        return
    check.record("max_replicas", found.max_replicas)
    differs = _differences(found, promised)
    if differs:
        check.warning(f"autoscaler {', '.join(differs)}")
    current = found.current_replicas if found.current_replicas is not None else state.desired
    if current is not None and current >= found.max_replicas:
        check.warning(f"running at the autoscaler's maximum ({found.max_replicas} replicas): no headroom")


def _differences(found: Autoscaler, promised: Autoscale) -> list[str]:
    pairs = [
        ("min", found.min_replicas, promised.min),
        ("max", found.max_replicas, promised.max),
        ("cpu_percent", found.cpu_percent, promised.cpu_percent),
    ]
    return [f"{name} {have} (expected {want})" for name, have, want in pairs if want is not None and have != want]


@check("app.workers", "Worker processes of each instance equal [app] workers")
def test_workers(service: Service, check: CheckRun) -> None:
    expected = service.config.workers
    counts = service.workers()
    if not counts:
        raise unknown("no running instance to count workers of")
    for name, count in sorted(counts.items()):
        # One worker means the main process serves itself (uvicorn without --workers) or has
        # one worker child (gunicorn -w 1): both are one worker.
        workers = max(count, 1) if expected == 1 else count
        # a pid is no identity: a bare process's instance gets no label (one per host)
        stable: dict[str, LabelValue] | None = None if name.startswith("pid ") else {"instance": name}
        check.record("workers", workers, labels=stable)
        if workers < expected:
            check.critical(f"{name}: {workers} of {expected} worker processes")
        elif workers > expected:
            check.warning(f"{name}: {workers} worker processes, {expected} expected")
        else:
            check.ok(f"{name}: {workers} worker process{'es' if workers != 1 else ''}")
