"""The whole app in a real terminal: tmux with a private server socket, keys in, screen out."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from harness.components import require


def _clean_env() -> dict[str, str]:
    """``os.environ`` passed explicitly. Something in the pytest process sets COLUMNS=80 and LINES=24
    in the C-level environment (not in os.environ); inherited by tmux, they made Textual draw at
    80x24 in a 120x40 pane (shutil.get_terminal_size prefers them to the tty)."""
    env = dict(os.environ)
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    return env


def _exited_code(pid: int) -> int | None:
    """Exit code of a process that has exited but not been reaped (a zombie), else None."""
    if not pid:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    if fields[0] != "Z":
        return None
    wait_status = int(fields[-1])
    return wait_status >> 8 if wait_status & 0x7F == 0 else 128 + (wait_status & 0x7F)


class TmuxSession:
    pane_pid = 0

    def __init__(self, socket: Path, width: int = 120, height: int = 40) -> None:
        require("tmux", shutil.which("tmux") is not None, "apt-get install tmux (scripts/setup does it)")
        self.socket = socket
        self.width, self.height = width, height

    def _tmux(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-S", str(self.socket), *args], capture_output=True, text=True, check=False, env=_clean_env()
        )
        return out.stdout

    def start(self, command: list[str], env: dict[str, str]) -> None:
        env_args = [part for key, value in env.items() for part in ("-e", f"{key}={value}")]
        subprocess.run(
            ["tmux", "-S", str(self.socket), "-f", "/dev/null", "new-session", "-d", "-x", str(self.width), "-y", str(self.height), *env_args, *command],
            check=True,
            env=_clean_env(),  # the tmux server's environment is every pane's
        )
        self._tmux("set-option", "-g", "remain-on-exit", "on")
        self.pane_pid = int(self._tmux("display", "-p", "#{pane_pid}").strip() or 0)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p")

    def keys(self, *keys: str) -> None:
        for key in keys:
            self._tmux("send-keys", key)
            # An Escape and the next key read together are alt+key; under load the app's input
            # thread can take longer than 0.15 s to read the Escape alone, so give it more room.
            time.sleep(0.5 if key == "Escape" else 0.15)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{text!r} did not appear within {timeout:.0f}s; the screen was:\n{screen}")

    def wait_gone(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        screen = self.screen()
        while time.monotonic() < deadline:
            screen = self.screen()
            if text not in screen:
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{text!r} was still on screen after {timeout:.0f}s:\n{screen}")

    def exit_status(self, timeout: float = 20.0) -> int | None:
        """The program's exit code once it has exited (None if it is still running after ``timeout``).

        tmux fills ``#{pane_dead_status}`` when it reaps the process; here it sometimes never does
        (the process stays a zombie), so the code is then read from /proc/PID/stat, whose last
        field is the wait status of an exited process."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead, _, status = self._tmux("display", "-p", "#{pane_dead} #{pane_dead_status}").strip().partition(" ")
            if dead == "1" and status:
                return int(status)
            code = _exited_code(self.pane_pid)
            if code is not None:
                return code
            time.sleep(0.05)
        print(f"the program had not exited after {timeout:.0f}s; the screen was:\n{self.screen()}")
        return None

    def kill(self) -> None:
        self._tmux("kill-server")
