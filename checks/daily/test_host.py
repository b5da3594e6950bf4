"""Morning health check, steps 5 and 8: disk space and memory on every host."""

from __future__ import annotations

import pytest
from testinfra.host import Host

from fixtures.hosts import run_bounded
from fixtures.measure import CheckRun, check
from probes.host import DF_COMMAND, parse_df, parse_meminfo
from sergas.config import Environment
from sergas.status import Limit, unknown
from sergas.units import Unit, format_quantity

pytestmark = [pytest.mark.daily, pytest.mark.host, pytest.mark.hosts("*")]


@pytest.mark.gate
@check(
    "host.disk_space",
    "Disk space and inodes on every real filesystem",
    blocks=Limit(80, 90, Unit.PERCENT),
    inodes=Limit(80, 90, Unit.PERCENT),
)
def test_disk_space(host: Host, check: CheckRun, environment: Environment) -> None:
    rc, out, err = run_bounded(host, DF_COMMAND, environment.command_timeout)
    mounts = parse_df(out)
    check.attach("df", out or err)
    if not mounts:
        raise unknown(f"df listed no filesystems (exit {rc}: {err.strip()[:120]})")
    for mount in mounts:
        check.measure(
            "blocks",
            mount.used_pct,
            label=f"{mount.target} used",
            labels={"mount": mount.target},
            detail=f"{format_quantity(mount.used, Unit.BYTES)} of "
            f"{format_quantity(mount.used + mount.avail, Unit.BYTES)}",
        )
        if mount.inodes_pct is not None:
            check.measure(
                "inodes",
                mount.inodes_pct,
                label=f"{mount.target} inodes used",
                labels={"mount": mount.target},
                detail=f"{mount.inodes_used}/{mount.inodes_total}",
            )


@check(
    "host.memory",
    "Memory pressure: MemAvailable, not free; swap in use",
    available=Limit(10, 5, Unit.PERCENT, below=True),
    swap=Limit(50, 80, Unit.PERCENT),
)
def test_memory(host: Host, check: CheckRun, environment: Environment) -> None:
    _rc, text, _err = run_bounded(host, "cat /proc/meminfo", environment.command_timeout)
    check.attach("/proc/meminfo", text)
    try:
        memory = parse_meminfo(text)
    except (ValueError, KeyError) as exc:
        raise unknown(f"cannot read /proc/meminfo: {exc}") from None
    check.measure(
        "available",
        memory.available_pct,
        label="memory available",
        detail=f"{format_quantity(memory.available_kib * 1024, Unit.BYTES)} of "
        f"{format_quantity(memory.total_kib * 1024, Unit.BYTES)}",
    )
    if memory.swap_used_pct is not None:
        check.measure("swap", memory.swap_used_pct, label="swap used")
