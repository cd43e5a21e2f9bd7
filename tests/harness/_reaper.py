"""Watchdog run beside the test process: kills registered ComfyUI process groups when it dies.

The test process writes ``+PID`` / ``-PID`` lines to this process's stdin. When stdin reaches EOF
(the test process exited, however: normally, SIGTERM, SIGKILL, a crash) every PID still registered
gets SIGTERM for its whole process group, then SIGKILL after a grace period. It runs in its own
session, so a Ctrl-C in the terminal does not kill it before it has done its job.
Standard library only.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
    except OSError:
        return True


def signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pids: set[int] = set()
    for line in sys.stdin:
        line = line.strip()
        if len(line) > 1 and line[1:].isdigit():
            (pids.add if line[0] == "+" else pids.discard)(int(line[1:]))
    pids = {p for p in pids if alive(p)}
    for pid in pids:
        signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5.0
    while pids and time.monotonic() < deadline:
        pids = {p for p in pids if alive(p)}
        time.sleep(0.05)
    for pid in pids:
        signal_group(pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
