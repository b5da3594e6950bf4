"""A replay of the Kubernetes API for the app's Deployment: no cluster can run here.

`KubeReplay` is a local HTTPS server (a certificate from its own CA, or plain HTTP) that answers
the read paths lightkube uses (`GET /apis/apps/v1/namespaces/<ns>/deployments/<name>`,
`GET /api/v1/namespaces/<ns>/pods?labelSelector=...`, ...) with objects shaped as the Kubernetes
API reference documents them: apiVersion, kind, metadata (uid, resourceVersion,
creationTimestamp, labels, ownerReferences), spec and status; list calls answer `<Kind>List`
with `metadata.resourceVersion` and items without apiVersion/kind, as the API server does; errors
are `Status` objects. Every request needs the bearer token (`Authorization: Bearer ...`).

One scenario, the manual's: Deployment `sergas-app` (`app=sergas-app`, 3 replicas, one
ReplicaSet) in namespace `sergas`, its HorizontalPodAutoscaler (`kubectl autoscale --min=2
--max=10 --cpu-percent=70`), a worker Deployment's pod and HPA beside it (not the app's),
ConfigMap `sergas-config` and Secret `sergas-secrets`. Faults switch parts of it
(`replay.faults`): short_of_replicas (a pod unschedulable: 3 desired, 2 available), crash_loop
(a pod's container waiting in CrashLoopBackOff after 7 restarts), image_pull_backoff (a rollout
whose new pod cannot pull its image), no_autoscaler, at_max_replicas (the HPA scaled to its
maximum of 10). `forbidden` names resources (`"pods"`) the token may not read: 403.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.replay import Replay
from sandbox.tls import Authority

FAULTS = frozenset(
    {"short_of_replicas", "crash_loop", "image_pull_backoff", "no_autoscaler", "at_max_replicas", "config_not_logged"}
)
NAMESPACE = "sergas"
APP = "sergas-app"
WORKER = "sergas-worker"
IMAGE = "registry.example.com/sergas/app:1.4.2"
NEW_IMAGE = "registry.example.com/sergas/app:1.4.3"
CONFIG = {"LOG_LEVEL": "INFO", "DATABASE_POOL_SIZE": "20", "DATABASE_MAX_OVERFLOW": "30", "ZOHO_API_DOMAIN": "eu"}
SECRET = {
    "DATABASE_URL": "postgresql://sergas:replayed-db-password@db1:5432/sergas_prod",
    "REDIS_URL": "redis://cache1:6379/0",
    "ZOHO_CLIENT_SECRET": "replayed-zoho-client-secret",
}

# plural -> (the API path it is served under, kind)
RESOURCES = {
    "deployments": ("apis/apps/v1", "Deployment"),
    "replicasets": ("apis/apps/v1", "ReplicaSet"),
    "pods": ("api/v1", "Pod"),
    "horizontalpodautoscalers": ("apis/autoscaling/v2", "HorizontalPodAutoscaler"),
    "configmaps": ("api/v1", "ConfigMap"),
    "secrets": ("api/v1", "Secret"),
}
_LOG_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)/log$")
_PATH = re.compile(
    r"^/(?P<api>api/v1|apis/[^/]+/[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?$"
)


def _time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _suffix(seed: str, length: int) -> str:
    """A name suffix as the controllers make them (lowercase consonants and digits), stable per seed."""
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


@dataclass
class Scenario:
    """The objects of the namespace at `now`, with `faults` switched on."""

    faults: frozenset[str] = frozenset()
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0))
    _version: int = 481_200

    def _meta(self, plural: str, name: str, age: dt.timedelta, **extra: Any) -> dict[str, Any]:
        self._version += 7
        return {
            "name": name,
            "namespace": NAMESPACE,
            "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{plural}/{NAMESPACE}/{name}")),
            "resourceVersion": str(self._version),
            "generation": 1,
            "creationTimestamp": _time(self.now - age),
            **extra,
        }

    def _owner(self, kind: str, name: str, plural: str) -> list[dict[str, Any]]:
        api = RESOURCES[plural][0].removeprefix("apis/").removeprefix("api/")
        return [
            {
                "apiVersion": api,
                "kind": kind,
                "name": name,
                "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{plural}/{NAMESPACE}/{name}")),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]

    def objects(self) -> list[dict[str, Any]]:
        """Every object of the scenario, each with apiVersion and kind."""
        replicas = 10 if "at_max_replicas" in self.faults else 3
        old_rs, new_rs = f"{APP}-{_suffix('old', 10)}", f"{APP}-{_suffix('new', 10)}"
        pods = [self._pod(f"{old_rs}-{_suffix(f'{old_rs}{i}', 5)}", old_rs, IMAGE, "running") for i in range(replicas)]
        if "crash_loop" in self.faults:
            pods[0] = self._pod(pods[0]["metadata"]["name"], old_rs, IMAGE, "crash_loop")
        if "short_of_replicas" in self.faults:
            pods[-1] = self._pod(pods[-1]["metadata"]["name"], old_rs, IMAGE, "unschedulable")
        sets = [(old_rs, IMAGE, list(pods))]
        if "image_pull_backoff" in self.faults:
            new = self._pod(f"{new_rs}-{_suffix(new_rs, 5)}", new_rs, NEW_IMAGE, "image_pull_backoff")
            sets.append((new_rs, NEW_IMAGE, [new]))
            pods.append(new)
        worker_rs = f"{WORKER}-{_suffix('worker', 10)}"
        worker = self._pod(f"{worker_rs}-{_suffix(worker_rs, 5)}", worker_rs, IMAGE, "running", app=WORKER)
        objects = [self._deployment(replicas, sets), *(self._replicaset(*s) for s in sets), *pods, worker]
        objects.append(self._hpa(WORKER, 1, 3, 1))
        if "no_autoscaler" not in self.faults:
            objects.append(self._hpa(APP, 2, 10, replicas))
        objects += [self._configmap(), self._secret()]
        return objects

    def _deployment(self, replicas: int, sets: list[tuple[str, str, list[dict[str, Any]]]]) -> dict[str, Any]:
        pods = [p for _, _, rs_pods in sets for p in rs_pods]
        ready = sum(_is_ready(p) for p in pods)
        newest, image, updated = sets[-1]
        max_unavailable = replicas * 25 // 100  # the default rolling update's 25%, rounded down
        available = ready >= replicas - max_unavailable
        rolling = len(sets) > 1
        status: dict[str, Any] = {
            "observedGeneration": len(sets),
            "replicas": len(pods),
            "updatedReplicas": len(updated),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if available else "False",
                    "lastUpdateTime": _time(self.now - dt.timedelta(hours=2)),
                    "lastTransitionTime": _time(self.now - dt.timedelta(hours=2)),
                    "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                    "message": f"Deployment {'has' if available else 'does not have'} minimum availability.",
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "lastUpdateTime": _time(self.now - dt.timedelta(minutes=9)),
                    "lastTransitionTime": _time(self.now - dt.timedelta(days=3)),
                    "reason": "ReplicaSetUpdated" if rolling else "NewReplicaSetAvailable",
                    "message": f'ReplicaSet "{newest}" '
                    + ("is progressing." if rolling else "has successfully progressed."),
                },
            ],
        }
        if len(pods) - ready:
            status["unavailableReplicas"] = len(pods) - ready
        for key in ("readyReplicas", "availableReplicas"):  # the API leaves zero counts out
            if not status[key]:
                del status[key]
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self._meta(
                "deployments",
                APP,
                dt.timedelta(days=40),
                labels={"app": APP},
                annotations={"deployment.kubernetes.io/revision": str(len(sets))},
                generation=len(sets),
            ),
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": APP}},
                "template": self._template(image),
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
            },
            "status": status,
        }

    def _template(self, image: str, app: str = APP) -> dict[str, Any]:
        return {
            "metadata": {"labels": {"app": app}},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": image,
                        "ports": [{"containerPort": 8000, "protocol": "TCP"}],
                        "envFrom": [
                            {"configMapRef": {"name": "sergas-config"}},
                            {"secretRef": {"name": "sergas-secrets"}},
                        ],
                        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
                        "readinessProbe": {"httpGet": {"path": "/health", "port": 8000}, "periodSeconds": 10},
                    }
                ],
                "restartPolicy": "Always",
            },
        }

    def _replicaset(self, name: str, image: str, pods: list[dict[str, Any]]) -> dict[str, Any]:
        template_hash = name.rsplit("-", 1)[1]
        ready = sum(_is_ready(p) for p in pods)
        template = self._template(image)
        template["metadata"]["labels"]["pod-template-hash"] = template_hash
        status: dict[str, Any] = {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "observedGeneration": 1}
        if ready:
            status.update(readyReplicas=ready, availableReplicas=ready)
        return {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": self._meta(
                "replicasets",
                name,
                dt.timedelta(minutes=9) if image == NEW_IMAGE else dt.timedelta(days=3),
                labels={"app": APP, "pod-template-hash": template_hash},
                ownerReferences=self._owner("Deployment", APP, "deployments"),
            ),
            "spec": {
                "replicas": len(pods),
                "selector": {"matchLabels": {"app": APP, "pod-template-hash": template_hash}},
                "template": template,
            },
            "status": status,
        }

    def _pod(self, name: str, replicaset: str, image: str, state: str, app: str = APP) -> dict[str, Any]:
        """A pod of `replicaset` in `state`: running, crash_loop, unschedulable or image_pull_backoff."""
        started = self.now - dt.timedelta(days=3)
        ready = state == "running"
        conditions = [
            ("PodReadyToStartContainers", state != "unschedulable", None, None),
            ("Initialized", state != "unschedulable", None, None),
            ("Ready", ready, "ContainersNotReady", "containers with unready status: [app]"),
            ("ContainersReady", ready, "ContainersNotReady", "containers with unready status: [app]"),
            ("PodScheduled", state != "unschedulable", "Unschedulable", _UNSCHEDULABLE),
        ]
        if state == "unschedulable":  # only the scheduling condition exists yet
            conditions = conditions[-1:]
        container: dict[str, Any] = {
            "name": "app",
            "image": image,
            "imageID": "" if state == "image_pull_backoff" else f"{image.split(':')[0]}@sha256:{_suffix(image, 32)}",
            "ready": ready,
            "restartCount": 0,
            "started": state in ("running", "crash_loop"),
            "state": {"running": {"startedAt": _time(started)}},
        }
        if state != "image_pull_backoff":
            container["containerID"] = f"containerd://{hashlib.sha256(name.encode()).hexdigest()}"
        if state == "crash_loop":
            finished = self.now - dt.timedelta(minutes=2)
            container.update(restartCount=7, started=False)
            container["state"] = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off 5m0s restarting failed container=app pod={name}_{NAMESPACE}("
                    + str(uuid.uuid5(uuid.NAMESPACE_URL, f"pods/{NAMESPACE}/{name}"))
                    + ")",
                }
            }
            container["lastState"] = {
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "startedAt": _time(finished - dt.timedelta(seconds=4)),
                    "finishedAt": _time(finished),
                    "containerID": container["containerID"],
                }
            }
        if state == "image_pull_backoff":
            started = self.now - dt.timedelta(minutes=9)
            container["state"] = {
                "waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}
            }
        status: dict[str, Any] = {
            "phase": "Running" if state in ("running", "crash_loop") else "Pending",
            "conditions": [
                {
                    "type": kind,
                    "status": "True" if ok else "False",
                    "lastProbeTime": None,
                    "lastTransitionTime": _time(started),
                    **({} if ok else {"reason": reason, "message": message}),
                }
                for kind, ok, reason, message in conditions
            ],
            "qosClass": "Burstable",
        }
        if state != "unschedulable":
            status.update(
                hostIP="10.0.3.12",
                podIP=f"10.244.{len(name) % 7}.{sum(name.encode()) % 250 + 2}",
                startTime=_time(started),
                containerStatuses=[container],
            )
        template_hash = replicaset.rsplit("-", 1)[1]
        template = self._template(image, app)
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": self._meta(
                "pods",
                name,
                self.now - started,
                generateName=f"{replicaset}-",
                labels={"app": app, "pod-template-hash": template_hash},
                ownerReferences=self._owner("ReplicaSet", replicaset, "replicasets"),
            ),
            "spec": {
                **template["spec"],
                "serviceAccountName": "default",
                **({"nodeName": "node-2"} if state != "unschedulable" else {}),
            },
            "status": status,
        }

    def _hpa(self, target: str, low: int, high: int, current: int) -> dict[str, Any]:
        at_max = current >= high
        cpu = 93 if at_max else 34
        limited = (
            ("True", "TooManyReplicas", "the desired replica count is more than the maximum replica count")
            if at_max
            else ("False", "DesiredWithinRange", "the desired count is within the acceptable range")
        )
        conditions = [
            ("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size"),
            (
                "ScalingActive",
                "True",
                "ValidMetricFound",
                "the HPA was able to successfully calculate a replica count from cpu resource utilization"
                " (percentage of request)",
            ),
            ("ScalingLimited", *limited),
        ]
        return {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": self._meta("horizontalpodautoscalers", target, dt.timedelta(days=30)),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                "minReplicas": low,
                "maxReplicas": high,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                    }
                ],
            },
            "status": {
                "currentReplicas": current,
                "desiredReplicas": current,
                "currentMetrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "current": {"averageUtilization": cpu, "averageValue": f"{cpu * 5 // 2}m"},
                        },
                    }
                ],
                "conditions": [
                    {
                        "type": kind,
                        "status": status,
                        "lastTransitionTime": _time(self.now - dt.timedelta(hours=5)),
                        "reason": reason,
                        "message": message,
                    }
                    for kind, status, reason, message in conditions
                ],
            },
        }

    def _configmap(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": self._meta("configmaps", "sergas-config", dt.timedelta(days=40)),
            "data": CONFIG,
        }

    def _secret(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": self._meta("secrets", "sergas-secrets", dt.timedelta(days=40)),
            "type": "Opaque",
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in SECRET.items()},
        }


_UNSCHEDULABLE = (
    "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available:"
    " 3 No preemption victims found for incoming pod."
)


def _is_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


_TERM = re.compile(
    r"\s*(?P<key>!?[A-Za-z0-9_./-]+)\s*(?:(?P<op>==|!=|=|\s+in\s+|\s+notin\s+)\s*(?P<value>\([^)]*\)|[^,]*))?\s*"
)


def selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """Whether `labels` match a labelSelector (`a=b,c!=d,e in (f,g),h notin (i),j,!k`)."""
    for term in re.split(r",(?![^(]*\))", selector):
        match = _TERM.fullmatch(term)
        if match is None:
            raise ValueError(f"unable to parse requirement: {term!r}")
        key, op, value = match["key"], (match["op"] or "").strip(), (match["value"] or "").strip()
        values = {v.strip() for v in value.strip("()").split(",")} if op in ("in", "notin") else {value}
        if not op:
            ok = (key[1:] not in labels) if key.startswith("!") else (key in labels)
        elif op in ("=", "==", "in"):
            ok = labels.get(key) in values
        else:  # != and notin match a missing label too
            ok = labels.get(key) not in values
        if not ok:
            return False
    return True


def status_object(code: int, reason: str, message: str, details: dict[str, str] | None = None) -> dict[str, Any]:
    """A `Status` of a failed call, as the API server answers it."""
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message}
    return {**status, "reason": reason, **({"details": details} if details else {}), "code": code}


class KubeReplay(Replay):
    """The replay server on 127.0.0.1 (`url`), with its `token`, `ca_file` (HTTPS) and switches."""

    thread_name = "kube-replay"

    def __init__(self, folder: Path, *, tls: bool = True) -> None:
        super().__init__()
        self.folder = folder
        self.forbidden: set[str] = set()
        self.requests: list[str] = []  # "GET <path>?<query>" of each request, for tests
        self._tls = tls
        self.ca_file: Path | None = None

    @property
    def scheme(self) -> str:
        return "https" if self._tls else "http"

    def _secure(self, server: ThreadingHTTPServer) -> None:
        if not self._tls:
            return
        authority = Authority(self.folder, stem="kube-ca", common_name="Sergas replay kubernetes CA")
        cert, key = self.folder / "kube-server.pem", self.folder / "kube-server.key"
        cert_pem, key_pem = authority.issue()
        cert.write_bytes(cert_pem)
        key.write_bytes(key_pem)
        key.chmod(0o600)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self.ca_file = authority.cert_file

    def respond(self, method: str, target: str, authorization: str | None) -> tuple[int, str, bytes]:
        code, body = self.answer(method, target, authorization)
        if isinstance(body, str):  # a pod's log
            return code, "text/plain", body.encode()
        return code, "application/json", json.dumps(body).encode()

    @contextmanager
    def fault(self, *names: str) -> Iterator[None]:
        """Switch `names` on for the block."""
        unknown = set(names) - FAULTS
        assert not unknown, f"no such fault: {unknown} (known: {sorted(FAULTS)})"
        before = set(self.faults)
        self.faults.update(names)
        try:
            yield
        finally:
            self.faults = before

    def kubeconfig(self, path: Path, token: str | None = None, *, insecure: bool = False) -> Path:
        """A kubeconfig for this replay (its token unless `token` says otherwise)."""
        ca = None if insecure or not self._tls else self.ca_file
        return write_kubeconfig(path, self.url, self.token if token is None else token, ca, insecure=insecure)

    def answer(self, method: str, target: str, authorization: str | None) -> tuple[int, dict[str, Any] | str]:
        """(HTTP status, JSON body, or the text of a pod's log) for one request."""
        self.requests.append(f"{method} {target}")
        if authorization != f"Bearer {self.token}":
            return 401, status_object(401, "Unauthorized", "Unauthorized")
        url = urlsplit(target)
        log = _LOG_PATH.fullmatch(url.path)
        if log is not None and method == "GET":
            return self._pod_log(log["ns"], log["name"])
        match = _PATH.fullmatch(url.path)
        if match is None or match["plural"] not in RESOURCES or RESOURCES[match["plural"]][0] != match["api"]:
            return 404, status_object(404, "NotFound", "the server could not find the requested resource")
        plural, namespace, name = match["plural"], match["ns"], match["name"]
        if method != "GET":
            return 405, status_object(405, "MethodNotAllowed", f"the replay serves reads only, not {method}")
        api, kind = RESOURCES[plural]
        group = api.split("/")[1] if api.startswith("apis/") else ""
        if plural in self.forbidden:
            verb = "get" if name else "list"
            return 403, status_object(
                403,
                "Forbidden",
                f"{plural}{'.' + group if group else ''}{f' {json.dumps(name)}' if name else ''} is forbidden: User"
                f' "system:serviceaccount:{namespace}:sergas-checks" cannot {verb} resource "{plural}" in API group'
                f' "{group}" in the namespace "{namespace}"',
                {"kind": plural, "group": group, **({"name": name} if name else {})},
            )
        scenario = Scenario(frozenset(self.faults))
        found = [o for o in scenario.objects() if o["kind"] == kind and o["metadata"]["namespace"] == namespace]
        if name is not None:
            for obj in found:
                if obj["metadata"]["name"] == name:
                    return 200, obj
            what = f"{plural}.{group}" if group else plural
            return 404, status_object(
                404, "NotFound", f'{what} "{name}" not found', {"name": name, "group": group, "kind": plural}
            )
        selector = parse_qs(url.query).get("labelSelector", [""])[0]
        try:
            if selector:
                found = [o for o in found if selector_matches(selector, o["metadata"].get("labels", {}))]
        except ValueError as exc:
            return 400, status_object(400, "BadRequest", f"unable to parse requirement: {exc}")
        items = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} for o in found]
        version = api.removeprefix("apis/").removeprefix("api/")
        return 200, {
            "kind": f"{kind}List",
            "apiVersion": version,
            "metadata": {"resourceVersion": "481377"},
            "items": items,
        }

    def _pod_log(self, namespace: str, name: str) -> tuple[int, dict[str, Any] | str]:
        """GET .../pods/<name>/log: the app's start lines (text/plain, as the API answers), the
        "Configuration loaded" line left out under the `config_not_logged` fault."""
        scenario = Scenario(frozenset(self.faults))
        pods = [o for o in scenario.objects() if o["kind"] == "Pod" and o["metadata"]["namespace"] == namespace]
        pod = next((p for p in pods if p["metadata"]["name"] == name), None)
        if pod is None:
            return 404, status_object(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})
        started = pod["status"].get("startTime", "")
        lines = [f"{started} INFO sergas.api listening on http://0.0.0.0:8000"]
        if "config_not_logged" not in self.faults:
            lines.insert(0, f"{started} INFO sergas.config Configuration loaded name={name} version=1.4.2")
        return 200, "".join(line + "\n" for line in lines)


def write_kubeconfig(path: Path, server: str, token: str, ca_file: Path | None, *, insecure: bool = False) -> Path:
    """A kubeconfig (JSON is YAML) with one cluster, one token user and a current context; 0600."""
    cluster: dict[str, Any] = {"server": server}
    if ca_file is not None:
        cluster["certificate-authority"] = str(ca_file)
    if insecure:
        cluster["insecure-skip-tls-verify"] = True
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "replay", "cluster": cluster}],
        "users": [{"name": "sergas-checks", "user": {"token": token}}],
        "contexts": [
            {"name": "replay", "context": {"cluster": "replay", "user": "sergas-checks", "namespace": NAMESPACE}}
        ],
        "current-context": "replay",
    }
    path.touch(mode=0o600)
    path.write_text(json.dumps(config, indent=2))
    return path
