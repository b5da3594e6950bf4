"""The environment a benchmark runs the suite in: the sandbox SERGAS_SANDBOX_STATE names when one
runs, else one started for the benchmark (stopped with its ExitStack); bytecode written and
kept warm, as an installed environment has it."""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

from sandbox import Sandbox, SandboxState

STATE_VAR = "SERGAS_SANDBOX_STATE"


def sandbox_env(stack: ExitStack) -> dict[str, str]:
    existing = os.environ.get(STATE_VAR)
    if existing:
        state = SandboxState.from_json(Path(existing).read_text())
    else:
        box = Sandbox()
        stack.callback(box.stop)
        state = box.start()
    env = {**os.environ, **state.env_vars(), STATE_VAR: str(state.state_file)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env
