"""Free TCP ports on the loopback interface, below the kernel's ephemeral range."""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10000


def _ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing is bound to right now.

    Not a port the kernel picks (bind to port 0): those come from the ephemeral range, which
    every outgoing connection also draws from, so in the seconds before a server binds (initdb
    runs first) or between a restart's stop and start, a client socket of the traffic driver or
    a scrape could take it and the server fail with "address in use". Below that range only
    another listener can take a port, and this one is free of those when returned.
    Servers started on it use SO_REUSEADDR, so a restart is not blocked by TIME_WAIT.
    """
    high = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(LOWEST, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free TCP port on 127.0.0.1 between {LOWEST} and {high}")
