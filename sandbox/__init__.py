"""The built-in demo stack: real PostgreSQL, Redis and a reference Sergas app, started locally,
with injectable faults. See `Sandbox`."""

from __future__ import annotations

from sandbox.stack import Sandbox, SandboxState

__all__ = ["Sandbox", "SandboxState"]
