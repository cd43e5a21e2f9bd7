"""Watchdog run beside the test process: kills registered ComfyUI process groups when it dies.

The test process writes ``+PID START`` / ``-PID`` lines to this process's stdin (START: the
process's start time from ``/proc/PID/stat``). When stdin reaches EOF (the test process exited,
however: normally, SIGTERM, SIGKILL, a crash) every PID still registered gets SIGTERM for its whole
process group, then SIGKILL after a grace period, but only while that PID is still the process
that was registered: PIDs wrap around here (``pid_max`` 32768) and a suite starts thousands of
processes, so a PID whose process ended unnoticed can belong to anything by then (another test's
server, the user's tmux). It runs in its own session, so a Ctrl-C in the terminal does not kill
it before it has done its job. Standard library only.
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


def start_time(pid: int) -> str | None:
    """When the process PID started (clock ticks since boot): with the PID, it names one process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[19]
    except (OSError, IndexError):
        return None


def same_process(pid: int, started: str | None) -> bool:
    """PID is alive and is still the process that started at ``started``."""
    return started is not None and alive(pid) and start_time(pid) == started


def signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    registered: dict[int, str | None] = {}
    for line in sys.stdin:
        line = line.strip()
        sign, (pid_text, _, started) = line[:1], line[1:].partition(" ")
        if sign not in ("+", "-") or not pid_text.isdigit():
            continue
        if sign == "+":
            registered[int(pid_text)] = started or None
        else:
            registered.pop(int(pid_text), None)
    pids = {p: s for p, s in registered.items() if same_process(p, s)}
    for pid in pids:
        signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5.0
    while pids and time.monotonic() < deadline:
        pids = {p: s for p, s in pids.items() if same_process(p, s)}
        time.sleep(0.05)
    for pid, started in pids.items():
        if same_process(pid, started):
            signal_group(pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
