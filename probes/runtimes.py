"""The host-bound runtimes (a bare process, systemd, Docker Compose): the one shell command that
asks each about the app's service on a host, and the parser of its answer into a `ServiceState`.

Each command prints sections headed `# name` so one round trip tells the runtime's state, the
host's clock (`# now`: start times are computed on the host, never against the runner's clock)
and the process table of the service (`# processes`: pid, ppid, elapsed seconds and the process
name only, never the arguments of processes that are not the service's: arguments may hold
secrets). Kubernetes is read through its API instead (probes/kubernetes.py).
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
from dataclasses import dataclass, replace

from probes.host import pgrep_pattern
from probes.service import Instance, ServiceState

CLOCK = 'echo "# now"; date +%s'


class RuntimeAnswerError(ValueError):
    """The runtime's answer cannot be read (the message says what it said instead)."""


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    elapsed_s: int
    name: str


@dataclass(frozen=True)
class Answer:
    """A runtime command's output, split into its `# name` sections."""

    sections: dict[str, str]

    @classmethod
    def parse(cls, output: str) -> Answer:
        sections: dict[str, list[str]] = {"": []}
        current = ""
        for line in output.splitlines():
            if line.startswith("# ") and line[2:].strip().isidentifier():
                current = line[2:].strip()
                sections.setdefault(current, [])
            else:
                sections[current].append(line)
        return cls({name: "\n".join(lines) for name, lines in sections.items()})

    def get(self, name: str) -> str:
        return self.sections.get(name, "")

    @property
    def now(self) -> float | None:
        text = self.get("now").strip()
        return float(text) if text.isdigit() else None

    @property
    def processes(self) -> list[Proc]:
        """`ps -o pid=,ppid=,etimes=,comm=` lines."""
        found = []
        for line in self.get("processes").splitlines():
            fields = line.split(None, 3)
            if len(fields) == 4 and all(f.isdigit() for f in fields[:3]):
                found.append(Proc(int(fields[0]), int(fields[1]), int(fields[2]), fields[3]))
        return found


# A main process that only starts the app (the container's init, a shell that did not exec).
LAUNCHERS = frozenset({"docker-init", "tini", "dumb-init", "sh", "bash"})


def workers_of(processes: list[Proc], main_pid: int) -> list[Proc]:
    """The worker processes of a service's main process: its children, or, when the main
    process is a launcher (docker-init, tini, a shell) with one child, that child's."""
    me = next((p for p in processes if p.pid == main_pid), None)
    children = [p for p in processes if p.ppid == main_pid]
    if me is not None and me.name in LAUNCHERS and len(children) == 1:
        return workers_of(processes, children[0].pid)
    return children


def _started_at(now: float | None, elapsed: int | None) -> float | None:
    return now - elapsed if now is not None and elapsed is not None else None


# The process table, names only (arguments may hold secrets): where the workers are found.
PROCESSES = 'echo "# processes"; ps -e -o pid=,ppid=,etimes=,comm='


# --- a bare process (runtime = "process"), matched like pgrep -f ---


def process_command(service: str) -> str:
    pattern = shlex.quote(pgrep_pattern(service))
    return (
        f"{CLOCK}; pids=$(pgrep -d, -f -- {pattern}); "
        f'echo "# matched"; [ -z "$pids" ] || ps -o pid=,ppid=,etimes=,args= -p "$pids"; '
        f"{PROCESSES}"
    )


def parse_process(output: str, service: str) -> ServiceState:
    """Instances are the matched processes whose parent is not matched too (a prefork master's
    workers share its command line)."""
    answer = Answer.parse(output)
    matched: dict[int, tuple[int, int]] = {}
    for line in answer.get("matched").splitlines():
        fields = line.split(None, 3)
        if len(fields) >= 3 and all(f.isdigit() for f in fields[:3]):
            matched[int(fields[0])] = (int(fields[1]), int(fields[2]))
    instances = tuple(
        Instance(
            name=f"pid {pid}",
            running=True,
            state="running",
            pid=pid,
            started_at=_started_at(answer.now, elapsed),
        )
        for pid, (ppid, elapsed) in sorted(matched.items())
        if ppid not in matched
    )
    return ServiceState("process", service, instances)


# --- systemd ---

SYSTEMD_PROPERTIES = "LoadState,ActiveState,SubState,NRestarts,MainPID"


def systemd_command(unit: str) -> str:
    return (
        f"{CLOCK}; echo '# unit'; "
        f"out=$(systemctl show --no-pager -p {SYSTEMD_PROPERTIES} {shlex.quote(unit)} 2>&1); rc=$?; "
        'printf "%s\\n" "$out"; echo "# rc"; echo $rc; '
        f"{PROCESSES}; exit 0"
    )


def parse_systemd(output: str, unit: str) -> ServiceState:
    """`systemctl show`'s properties; raises RuntimeAnswerError when systemctl cannot tell."""
    answer = Answer.parse(output)
    props = dict(line.split("=", 1) for line in answer.get("unit").splitlines() if "=" in line)
    rc = answer.get("rc").strip()
    if rc != "0" or "ActiveState" not in props:
        said = [line for line in answer.get("unit").splitlines() if line.strip()]
        first = said[0] if said else f"exit {rc or '?'}"
        raise RuntimeAnswerError(f"systemctl cannot tell: {first}")
    if props.get("LoadState") == "not-found":
        return ServiceState("systemd", unit, (), detail={"LoadState": "not-found"})
    main_pid = props.get("MainPID", "0")
    pid = int(main_pid) if main_pid.isdigit() and main_pid != "0" else None
    main = next((p for p in answer.processes if p.pid == pid), None)
    active = props["ActiveState"]
    instance = Instance(
        name=unit,
        running=active in {"active", "reloading"},
        state=f"{active} ({props.get('SubState', '?')})",
        restarts=int(props["NRestarts"]) if props.get("NRestarts", "").isdigit() else None,
        pid=pid,
        started_at=_started_at(answer.now, main.elapsed_s if main else None),
    )
    return ServiceState("systemd", unit, (instance,), detail={"LoadState": props.get("LoadState", "?")})


# --- Docker Compose (the docker CLI on the app host) ---

COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"


def compose_command(project: str, service: str, docker_host: str | None) -> str:
    """`docker inspect` of the service's containers, running or not, and their processes."""
    env = f"DOCKER_HOST={shlex.quote(docker_host)} " if docker_host else ""
    filters = (
        f"--filter label={shlex.quote(f'{COMPOSE_PROJECT_LABEL}={project}')} "
        f"--filter label={shlex.quote(f'{COMPOSE_SERVICE_LABEL}={service}')}"
    )
    return (
        f"{CLOCK}; ids=$({env}docker ps -aq {filters}) || exit 3; echo '# inspect'; "
        f'[ -z "$ids" ] && echo "[]" || {env}docker inspect $ids || exit 3; '
        f"{PROCESSES}"
    )


def _docker_time(text: str | None) -> float | None:
    """Docker's RFC 3339 timestamps have nanoseconds (`2026-12-06T05:00:00.123456789Z`); the
    zero time means never."""
    if not text or text.startswith("0001-"):
        return None
    head, _, rest = text.partition(".")
    zone = rest.lstrip("0123456789") if rest else text[19:]
    stamp = dt.datetime.fromisoformat(head[:19] + (zone.replace("Z", "+00:00") or "+00:00"))
    return stamp.timestamp()


def _container(entry: dict[str, object]) -> Instance:
    state = entry.get("State") if isinstance(entry.get("State"), dict) else {}
    assert isinstance(state, dict)
    status = str(state.get("Status", "?"))
    health_raw = state.get("Health")
    health = health_raw if isinstance(health_raw, dict) else None
    health_status = str(health.get("Status")) if health else None
    reason = ""
    if health and health_status != "healthy":
        log = health.get("Log") or []
        if isinstance(log, list) and log and isinstance(log[-1], dict):
            reason = " ".join(str(log[-1].get("Output", "")).split())[:120]
    if status == "exited":
        reason = f"exit code {state.get('ExitCode', '?')}" + (f": {state['Error']}" if state.get("Error") else "")
    words = status if health_status is None else f"{status} ({health_status})"
    restarts = entry.get("RestartCount")
    pid = state.get("Pid")
    return Instance(
        name=str(entry.get("Name", "?")).lstrip("/"),
        running=bool(state.get("Running")) and not state.get("Restarting"),
        state=words,
        ready=None if health_status is None else health_status == "healthy",
        restarts=restarts if isinstance(restarts, int) else None,
        started_at=_docker_time(str(state.get("StartedAt") or "")),
        pid=pid if isinstance(pid, int) and pid > 0 else None,
        reason=reason,
    )


def parse_compose(output: str, service: str, desired: int | None) -> ServiceState:
    answer = Answer.parse(output)
    text = answer.get("inspect").strip()
    try:
        entries = json.loads(text)
    except json.JSONDecodeError:
        said = [line for line in (answer.get("") + "\n" + text).splitlines() if line.strip() and "now" not in line]
        raise RuntimeAnswerError(f"docker cannot tell: {said[-1][:160] if said else 'no answer'}") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise RuntimeAnswerError("docker inspect answered something other than a list of containers")
    instances = tuple(sorted((_just_restarted(_container(e), answer.now) for e in entries), key=lambda i: i.name))
    return ServiceState("docker-compose", service, instances, desired=desired)


# A container docker restarted this recently is taken for one in a restart loop: between its
# attempts docker shows it `restarting`, but for a moment at each it is `running` (ExitCode 0,
# its health not yet probed), which must not read as healthy.
RESTART_LOOP_WINDOW_S = 30


def _just_restarted(instance: Instance, now: float | None) -> Instance:
    if not (instance.running and instance.restarts and instance.started_at and now is not None):
        return instance
    age = now - instance.started_at
    if age >= RESTART_LOOP_WINDOW_S:
        return instance
    reason = f"restarted {instance.restarts} times, the last {max(age, 0):.0f}s ago"
    return replace(instance, ready=False, reason=reason)


def worker_counts(output: str, state: ServiceState) -> dict[str, int]:
    """Worker processes per running instance, from the `# processes` section of the same answer."""
    processes = Answer.parse(output).processes
    return {i.name: len(workers_of(processes, i.pid)) for i in state.instances if i.running and i.pid is not None}
