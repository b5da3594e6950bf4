"""The built-in demo stack: real PostgreSQL, Redis and a reference Sergas app, started locally,
with injectable faults. See `Sandbox`.

`Sandbox` and `SandboxState` are imported on first use: a run that only attaches to a running
sandbox (sandbox/plugin.py) reads `sandbox.state` and never loads the servers' modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.stack import Sandbox
    from sandbox.state import SandboxState

__all__ = ["Sandbox", "SandboxState"]


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        from sandbox.stack import Sandbox

        return Sandbox
    if name == "SandboxState":
        from sandbox.state import SandboxState

        return SandboxState
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
