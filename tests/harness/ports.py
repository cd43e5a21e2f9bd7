"""Loopback ports for the servers tests start (and for "nothing listens here" URLs).

``bind(("127.0.0.1", 0))`` hands out a port from the ephemeral range, which is also where every
outgoing connection takes its source port from: a port picked that way and bound by ComfyUI a
second later can meanwhile be a client connection's source port (the server then exits with
EADDRINUSE), and the other pytest-xdist worker picks from the same range. Here each worker takes
ports from its own slice of the range below the ephemeral one, each port once per process.
"""

from __future__ import annotations

import os
import random
import socket
import threading
from pathlib import Path

_LOCK = threading.Lock()
_GIVEN: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _pool() -> tuple[int, int]:
    """This worker's slice of the ports outside the ephemeral range."""
    low, high = _ephemeral_range()
    start, end = (10_000, low) if low - 10_000 >= 4_000 else (high + 1, 65_536)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1), 1)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    span = (end - start) // count
    return start + index * span, start + (index + 1) * span


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(count: int = 1) -> int:
    """A port nothing listens on now and that this process has not handed out before (the first
    of ``count`` consecutive ones)."""
    start, end = _pool()
    with _LOCK:
        for _ in range(5_000):
            port = random.randrange(start, end - count)
            span = range(port, port + count)
            if not any(p in _GIVEN for p in span) and all(_bindable(p) for p in span):
                _GIVEN.update(span)
                return port
    raise RuntimeError(f"no {count} free consecutive loopback port(s) in {start}-{end}")
