"""Running ``comfytui`` commands and the daemon as real subprocesses, as a user would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

COMFYTUI = Path(sys.executable).with_name("comfytui")


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMFY_", "COMFYTUI_"))}
    env["COMFYTUI_HOME"] = str(home)
    env["COMFY_RECONNECT_MAX_DELAY_S"] = "0.5"  # the daemon comes back quickly after a server restart
    return env


def cli(*args: str | Path, home: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMFYTUI), *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env_for(home), stdin=subprocess.DEVNULL, cwd=home,
    )


def cli_json(*args: str | Path, home: Path, timeout: float = 90) -> Any:
    proc = cli(*args, "--json", home=home, timeout=timeout)
    assert proc.returncode == 0, f"comfytui {' '.join(map(str, args))} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout)


class Daemon:
    def __init__(self, url: str, home: Path) -> None:
        self.url, self.home = url, home
        self.log = home / f"daemon-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20) -> Daemon:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(COMFYTUI), "daemon", "--url", self.url], env=env_for(self.home), stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, cwd=self.home, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = cli_json("queue", "ls", "--url", self.url, home=self.home)
            if state["dispatcher"] and state["dispatcher"]["pid"] == self.proc.pid:
                return self
            assert self.proc.poll() is None, f"the daemon exited: {self.log.read_text()}"
            time.sleep(0.2)
        raise AssertionError(f"the daemon did not take the lock: {self.log.read_text()}")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
