"""Free loopback ports for servers started by tests.

A port the kernel picks for ``bind(0)`` comes from the ephemeral range, the same range it
draws from for every outgoing connection and every unbound UDP send. Between the moment a
test learns such a port and the moment its server binds it, a client elsewhere in the run can
take it (CI saw uvicorn fail with EADDRINUSE that way). So the ports handed out here come from
below the ephemeral range, which the kernel never gives out by itself, and no port is handed
out twice in one test process.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000  # clear of the well-known and registered ports services here use
_handed_out: set[tuple[int, int]] = set()


def _ephemeral_floor() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def _free(kind: socket.SocketKind) -> int:
    for port in random.sample(range(_LOWEST, _ephemeral_floor()), 1_000):
        if (kind, port) in _handed_out:
            continue
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add((kind, port))
        return port
    raise RuntimeError(f"1,000 {kind.name} ports tried below {_ephemeral_floor()}, none free")


def free_port() -> int:
    """A TCP port nobody listens on now and no outgoing connection will take."""
    return _free(socket.SOCK_STREAM)


def free_udp_port() -> int:
    """A UDP port nobody is bound to now and no ephemeral bind will take (a node's ICE port)."""
    return _free(socket.SOCK_DGRAM)
